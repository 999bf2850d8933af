"""``bloom_filter``: push values in, ask whether a value may have been pushed.

As in the kernel's bloom_filter.c: ``nr_hash_funcs`` is the low 4 bits of
``map_extra`` (5 when zero); the bit array has
``roundup_pow_of_two(max_entries * nr_hash_funcs * 7 / 5)`` bits (at least
64). Bit ``i`` of a value is ``fnv1a(value, seed + i) & (nr_bits - 1)``
(the kernel uses jhash; FNV-1a keeps one hash function across all maps).
The bits live in ``aux`` as little-endian u64 words.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map


class BloomFilterMap(Map):
    HAS_KEYS = False
    TYPE_FLAGS = L.BPF_F_ZERO_SEED

    def validate(self) -> None:
        self._require(self.key_size == 0, f"key_size must be 0, not {self.key_size}")
        self._require(self.value_size > 0, "value_size must be at least 1")
        self._require(self.max_entries > 0, "max_entries must be at least 1")
        self._require(self.map_extra & ~0xF == 0,
                      f"map_extra 0x{self.map_extra:x} is invalid: only the low 4 bits (nr_hash_funcs) may be set")
        self.nr_hash_funcs = self.map_extra & 0xF or 5
        bits = self.max_entries * self.nr_hash_funcs // 5 * 7
        self.nr_bits = 64 if bits <= 64 else min(L.next_pow2(bits), 1 << 31)

    def region_sizes(self) -> dict[str, int]:
        return {"aux": self.nr_bits // 8}

    def descriptor_fields(self) -> dict[str, int]:
        return {"capacity": self.nr_bits, "slot_size": self.nr_hash_funcs, "aux": self.storage.address("aux")}

    def setup(self) -> None:
        self._bits = self.views["aux"]

    def exposed_regions(self) -> tuple[str, ...]:
        return ()

    def _positions(self, value: bytes) -> list[int]:
        return [L.fnv1a(value, (L.FNV_OFFSET + i) & 0xFFFFFFFF) & (self.nr_bits - 1)
                for i in range(self.nr_hash_funcs)]

    def push(self, value: Any, flags: int = 0) -> int:
        """Add ``value`` (bpf_map_push_elem); flags must be BPF_ANY."""
        value = self.value_bytes(value)
        if flags != L.BPF_ANY:
            return -L.EINVAL
        for bit in self._positions(value):
            self._bits[bit >> 3] |= 1 << (bit & 7)
        return 0

    def peek(self, value: Any) -> int:
        """0 when ``value`` may be in the filter, -ENOENT when it certainly is not."""
        value = self.value_bytes(value)
        ok = all(self._bits[b >> 3] & (1 << (b & 7)) for b in self._positions(value))
        return 0 if ok else -L.ENOENT

    def pop(self) -> int:
        return -L.EOPNOTSUPP

    def __contains__(self, value: Any) -> bool:
        return self.peek(value) == 0

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        if key not in (None, b""):
            raise self._error("bloom filters have no keys (pass None)")
        return self.push(value, flags)

    def delete(self, key: Any = None) -> int:
        return -L.EOPNOTSUPP

    def lookup_and_delete(self, key: Any = None) -> bytes | None:
        return None

    def get_next_key(self, key: Any = None) -> bytes | None:
        raise self._error("bloom filters cannot be iterated", L.EOPNOTSUPP)

    def __getitem__(self, key: Any) -> Any:
        raise self._error("bloom filters have no keys: use push() and `value in m`")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._error("bloom filters have no keys: use push()")

    def __iter__(self) -> Iterator[Any]:
        raise self._error("bloom filters cannot be iterated", L.EOPNOTSUPP)

    def __len__(self) -> int:
        """Bits set (a bloom filter does not know how many values it holds)."""
        return int(sum(bin(b).count("1") for b in self._bits.tobytes()))

    def dump(self) -> str:
        return f"bloom filter: {self.nr_bits} bits, {len(self)} set, {self.nr_hash_funcs} hash functions\n"

    def dump_json(self) -> str:
        import json
        return json.dumps({"nr_bits": self.nr_bits, "bits_set": len(self), "nr_hash_funcs": self.nr_hash_funcs})
