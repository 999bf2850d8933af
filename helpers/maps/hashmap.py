"""Hash maps: ``hash``, ``percpu_hash``, ``lru_hash``, ``lru_percpu_hash`` (and bases for others).

The table is open addressing with linear probing, so native code can probe
it without calling back into Python (docs/maps.md):

* ``slots``: ``capacity`` slots (a power of two, at least twice
  ``max_entries``, so the load stays at or below 1/2 and every probe ends at
  an empty slot). Slot = ``u32 hash`` (FNV-1a of the key bytes), ``u32 vidx+1``
  (0 = empty), then the key bytes padded to 8.
* ``values``: ``max_entries`` entries of ``entry_stride`` bytes; a slot
  points at its entry by index, so a value never moves while it is in the
  map (pointers a program holds stay valid, as in the kernel).
* ``freelist``: a stack of free value indexes (``meta[META_FREE_TOP]`` long).
* ``aux`` (LRU only): a u64 stamp per value index, the ``meta[META_CLOCK]``
  value at its last update or program lookup; eviction takes the smallest.

Deletion shifts the following probe run back (no tombstones), so a lookup
stops at the first empty slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map


class HashMap(Map):
    TYPE_FLAGS = L.BPF_F_NO_PREALLOC | L.BPF_F_ZERO_SEED | L.BPF_F_INNER_MAP
    LRU = False

    def validate(self) -> None:
        self._require(self.key_size > 0, "key_size must be at least 1")
        self._require(self.value_size > 0, "value_size must be at least 1")
        self._require(self.max_entries > 0, "max_entries must be at least 1")
        if self.key_size > 512:
            raise self._error(f"key_size {self.key_size} exceeds 512 (the stack size)", L.E2BIG)
        if self.PERCPU and self.value_size > 32768:
            raise self._error(f"per-CPU value_size {self.value_size} exceeds 32768", L.E2BIG)

    def region_sizes(self) -> dict[str, int]:
        self.capacity = L.next_pow2(max(8, 2 * self.max_entries))
        self.slot_size = 8 + L.round8(self.key_size)
        sizes = {"values": self.max_entries * L.round8(self.value_size) * self.cpus,
                 "slots": self.capacity * self.slot_size,
                 "freelist": 4 * self.max_entries,
                 "meta": 64}
        if self.LRU:
            sizes["aux"] = 8 * self.max_entries
        return sizes

    def descriptor_fields(self) -> dict[str, int]:
        return {"capacity": self.capacity, "slot_size": self.slot_size, "aux": self.storage.address("aux")}

    def setup(self) -> None:
        self._mask = self.capacity - 1
        self._slots = self.views["slots"].reshape(self.capacity, self.slot_size)
        self._hdr = self.views["slots"].view("<u4").reshape(self.capacity, self.slot_size // 4)
        self._values = self.views["values"].reshape(self.max_entries, self.entry_stride)
        self._values_addr = self.storage.address("values")
        self._slots_addr = self.storage.address("slots")
        self._free = self.views["freelist"].view("<u4")
        self._meta = self.views["meta"].view("<u8")
        self._stamps = self.views["aux"].view("<u8") if self.LRU else None

    def init_storage(self) -> None:
        self._free[:] = np.arange(self.max_entries, dtype="<u4")[::-1]
        self._meta[L.META_FREE_TOP] = self.max_entries

    def exposed_regions(self) -> tuple[str, ...]:
        return ("values", "slots")

    # -- the table ------------------------------------------------------------------
    def _find(self, key: bytes) -> tuple[int, int]:
        """(slot index or -1, hash) of ``key``."""
        h = L.fnv1a(key)
        i = h & self._mask
        hdr, ks = self._hdr, self.key_size
        while hdr[i, 1]:
            if hdr[i, 0] == h and self._slots[i, 8:8 + ks].tobytes() == key:
                return i, h
            i = (i + 1) & self._mask
        return -1, h

    def _insert(self, key: bytes, h: int, vidx: int) -> None:
        i = h & self._mask
        while self._hdr[i, 1]:
            i = (i + 1) & self._mask
        self._slots[i, 8:8 + self.key_size] = np.frombuffer(key, np.uint8)
        self._hdr[i, 0] = h
        self._hdr[i, 1] = vidx + 1
        self._meta[L.META_COUNT] += 1

    def _remove_slot(self, i: int) -> int:
        """Empty slot ``i`` (backward-shift deletion); returns the freed value index."""
        vidx = int(self._hdr[i, 1]) - 1
        mask, hdr = self._mask, self._hdr
        self._slots[i] = 0
        j = i
        while True:
            j = (j + 1) & mask
            if not hdr[j, 1]:
                break
            home = int(hdr[j, 0]) & mask
            # leave slot j alone if its home lies cyclically in (i, j]
            if (i < home <= j) if i <= j else (home > i or home <= j):
                continue
            self._slots[i] = self._slots[j]
            self._slots[j] = 0
            i = j
        self._meta[L.META_COUNT] -= 1
        self._free[int(self._meta[L.META_FREE_TOP])] = vidx
        self._meta[L.META_FREE_TOP] += 1
        return vidx

    def _alloc(self) -> int | None:
        top = int(self._meta[L.META_FREE_TOP])
        if top:
            self._meta[L.META_FREE_TOP] = top - 1
            return int(self._free[top - 1])
        if not self.LRU:
            return None
        return self._evict()

    def _evict(self) -> int:
        """Remove the least recently used entry and return its (now free) value index."""
        victim = int(np.argmin(self._stamps))
        slot = int(np.flatnonzero(self._hdr[:, 1] == victim + 1)[0])
        self._remove_slot(slot)
        top = int(self._meta[L.META_FREE_TOP])
        self._meta[L.META_FREE_TOP] = top - 1
        return int(self._free[top - 1])

    def _touch(self, vidx: int) -> None:
        if self._stamps is not None and not self.readonly:
            self._meta[L.META_CLOCK] += 1
            self._stamps[vidx] = self._meta[L.META_CLOCK]

    # -- kernel operations --------------------------------------------------------------
    def lookup_address(self, key: bytes) -> int:
        i, _ = self._find(self.key_bytes(key))
        if i < 0:
            return 0
        vidx = int(self._hdr[i, 1]) - 1
        self._touch(vidx)
        return self._values_addr + vidx * self.entry_stride + self._cpu() * self.value_stride

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        key, value = self.key_bytes(key), self.value_bytes(value)
        mode = flags & ~L.BPF_F_LOCK
        if mode > L.BPF_EXIST:
            return -L.EINVAL
        rc = self.check_value(value)
        if rc:
            return rc
        i, h = self._find(key)
        if i >= 0:
            if mode == L.BPF_NOEXIST:
                return -L.EEXIST
            vidx = int(self._hdr[i, 1]) - 1
            self._write_value(self._values[vidx], value, fresh=False)
            self._touch(vidx)
            return 0
        if mode == L.BPF_EXIST:
            return -L.ENOENT
        vidx = self._alloc()
        if vidx is None:
            return -L.E2BIG
        self._write_value(self._values[vidx], value, fresh=True)
        self._insert(key, h, vidx)
        self._touch(vidx)
        return 0

    def check_value(self, value: bytes) -> int:
        """0, or -errno for a value this map type refuses (devmap_hash checks ifindexes)."""
        return 0

    def delete(self, key: Any) -> int:
        i, _ = self._find(self.key_bytes(key))
        if i < 0:
            return -L.ENOENT
        vidx = self._remove_slot(i)
        self._values[vidx] = 0
        return 0

    def _entry(self, key: bytes) -> np.ndarray | None:
        i, _ = self._find(key)
        return None if i < 0 else self._values[int(self._hdr[i, 1]) - 1]

    def _occupied(self) -> np.ndarray:
        return np.flatnonzero(self._hdr[:, 1])

    def _raw_keys(self) -> Iterator[bytes]:
        for i in self._occupied():
            yield self._slots[i, 8:8 + self.key_size].tobytes()

    def __len__(self) -> int:
        return int(self._meta[L.META_COUNT])

    def iter_addresses(self) -> Iterator[tuple[int, int]]:
        """(key address, value address for the current CPU) of every entry (for_each_map_elem)."""
        cpu_off = self._cpu() * self.value_stride
        for i in self._occupied():
            vidx = int(self._hdr[i, 1]) - 1
            yield (self._slots_addr + int(i) * self.slot_size + 8,
                   self._values_addr + vidx * self.entry_stride + cpu_off)


class PercpuHashMap(HashMap):
    PERCPU = True


class LruHashMap(HashMap):
    LRU = True
    TYPE_FLAGS = L.BPF_F_NO_COMMON_LRU | L.BPF_F_ZERO_SEED | L.BPF_F_INNER_MAP


class LruPercpuHashMap(LruHashMap):
    PERCPU = True
