"""``lpm_trie``: longest-prefix match on keys ``{u32 prefixlen; u8 data[key_size - 4]}``.

Storage is a flat table rather than the kernel's trie, so native code can
search it with one loop: slot ``i`` (``slot_size = 8 + round8(key_size)``)
holds ``u32 vidx+1`` (0 = empty; always ``i + 1`` here), ``u32 prefixlen`` and
the key's data bytes; its value is entry ``i`` of ``values``. A lookup
returns the value of the used slot with the largest ``prefixlen`` not above
the lookup key's whose first ``prefixlen`` bits (most significant bit of
each byte first, as the kernel compares) equal the key's.

In Python an index ``{(prefixlen, masked data): slot}`` makes lookups a few
dict probes; it is rebuilt from the table when a pinned map is reopened.
Kernel rules kept: BPF_F_NO_PREALLOC is required, a prefixlen above the data
bits is -EINVAL, a full trie is -ENOSPC, deleting an absent prefix -ENOENT.
Deviation: iteration order is slot order, not the kernel's trie order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map

LPM_DATA_SIZE_MAX = 256


def mask_data(data: bytes, prefixlen: int) -> bytes:
    """``data`` with every bit after the first ``prefixlen`` cleared."""
    full, rest = divmod(prefixlen, 8)
    out = bytearray(data[:full])
    if rest:
        out.append(data[full] & (0xFF << (8 - rest)) & 0xFF)
    return bytes(out.ljust(len(data), b"\0"))


class LpmTrieMap(Map):
    TYPE_FLAGS = L.BPF_F_NO_PREALLOC

    def validate(self) -> None:
        self._require(self.flags & L.BPF_F_NO_PREALLOC,
                      "map_flags must include BPF_F_NO_PREALLOC (the kernel requires it for lpm_trie)")
        self._require(5 <= self.key_size <= 4 + LPM_DATA_SIZE_MAX,
                      f"key_size must be 5..{4 + LPM_DATA_SIZE_MAX} (u32 prefixlen + data), not {self.key_size}")
        self._require(self.value_size > 0, "value_size must be at least 1")
        self._require(self.max_entries > 0, "max_entries must be at least 1")
        self.max_prefixlen = 8 * (self.key_size - 4)

    def region_sizes(self) -> dict[str, int]:
        self.slot_size = 8 + L.round8(self.key_size - 4)
        return {"values": self.max_entries * L.round8(self.value_size),
                "slots": self.max_entries * self.slot_size,
                "freelist": 4 * self.max_entries, "meta": 64}

    def descriptor_fields(self) -> dict[str, int]:
        return {"capacity": self.max_entries, "slot_size": self.slot_size}

    def setup(self) -> None:
        self._slots = self.views["slots"].reshape(self.max_entries, self.slot_size)
        self._hdr = self.views["slots"].view("<u4").reshape(self.max_entries, self.slot_size // 4)
        self._values = self.views["values"].reshape(self.max_entries, self.entry_stride)
        self._values_addr = self.storage.address("values")
        self._free = self.views["freelist"].view("<u4")
        self._meta = self.views["meta"].view("<u8")
        self._dlen = self.key_size - 4
        self._index: dict[tuple[int, bytes], int] = {}
        for i in np.flatnonzero(self._hdr[:, 0]):
            plen = int(self._hdr[i, 1])
            self._index[(plen, mask_data(self._slots[i, 8:8 + self._dlen].tobytes(), plen))] = int(i)
        self._prefixes = sorted({p for p, _ in self._index}, reverse=True)

    def init_storage(self) -> None:
        self._free[:] = np.arange(self.max_entries, dtype="<u4")[::-1]
        self._meta[L.META_FREE_TOP] = self.max_entries

    # -- matching -----------------------------------------------------------------------
    def _split(self, key: bytes) -> tuple[int, bytes]:
        return int.from_bytes(key[:4], "little"), key[4:]

    def _match(self, key: bytes) -> int:
        """Slot of the longest stored prefix matching ``key``, or -1."""
        plen, data = self._split(key)
        for p in self._prefixes:
            if p <= plen:
                slot = self._index.get((p, mask_data(data, p)))
                if slot is not None:
                    return slot
        return -1

    def _exact(self, key: bytes) -> tuple[tuple[int, bytes], int]:
        plen, data = self._split(key)
        k = (plen, mask_data(data, min(plen, self.max_prefixlen)))
        return k, self._index.get(k, -1)

    def _reindex(self) -> None:
        self._prefixes = sorted({p for p, _ in self._index}, reverse=True)

    # -- kernel operations --------------------------------------------------------------
    def lookup_address(self, key: bytes) -> int:
        slot = self._match(self.key_bytes(key))
        return 0 if slot < 0 else self._values_addr + slot * self.entry_stride

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        key, value = self.key_bytes(key), self.value_bytes(value)
        if flags > L.BPF_EXIST:
            return -L.EINVAL
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return -L.EINVAL
        k, slot = self._exact(key)
        if slot >= 0:
            if flags == L.BPF_NOEXIST:
                return -L.EEXIST
            self._write_value(self._values[slot], value, fresh=False)
            return 0
        if flags == L.BPF_EXIST:
            return -L.ENOENT
        top = int(self._meta[L.META_FREE_TOP])
        if not top:
            return -L.ENOSPC
        slot = int(self._free[top - 1])
        self._meta[L.META_FREE_TOP] = top - 1
        self._write_value(self._values[slot], value, fresh=True)
        self._slots[slot, 8:8 + self._dlen] = np.frombuffer(data, np.uint8)
        self._hdr[slot, 1] = plen
        self._hdr[slot, 0] = slot + 1
        self._meta[L.META_COUNT] += 1
        self._index[k] = slot
        self._reindex()
        return 0

    def delete(self, key: Any) -> int:
        k, slot = self._exact(self.key_bytes(key))
        if slot < 0:
            return -L.ENOENT
        del self._index[k]
        self._reindex()
        self._slots[slot] = 0
        self._values[slot] = 0
        self._meta[L.META_COUNT] -= 1
        self._free[int(self._meta[L.META_FREE_TOP])] = slot
        self._meta[L.META_FREE_TOP] += 1
        return 0

    def _entry(self, key: bytes) -> np.ndarray | None:
        slot = self._match(key)
        return None if slot < 0 else self._values[slot]

    def _raw_keys(self) -> Iterator[bytes]:
        for i in np.flatnonzero(self._hdr[:, 0]):
            yield int(self._hdr[i, 1]).to_bytes(4, "little") + self._slots[i, 8:8 + self._dlen].tobytes()

    def __len__(self) -> int:
        return int(self._meta[L.META_COUNT])

    def exposed_regions(self) -> tuple[str, ...]:
        return ("values",)
