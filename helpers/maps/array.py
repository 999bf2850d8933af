"""Array maps: ``array``, ``percpu_array``, and the slot arrays other types build on.

Entry ``i`` lives at ``values + i * entry_stride``; a per-CPU entry holds one
8-byte-aligned copy per CPU. Every index below ``max_entries`` always exists
(zero-filled), so ``delete`` fails with -EINVAL and BPF_NOEXIST with -EEXIST,
as in the kernel. ``slots`` holds the u32 keys 0..max_entries-1 so helpers
such as for_each_map_elem can hand programs a key pointer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map


class ArrayMap(Map):
    TYPE_FLAGS = L.BPF_F_MMAPABLE | L.BPF_F_INNER_MAP | L.BPF_F_PRESERVE_ELEMS

    def validate(self) -> None:
        self._require(self.key_size == 4, f"key_size must be 4, not {self.key_size}")
        self._require(self.value_size > 0, "value_size must be at least 1")
        self._require(self.max_entries > 0, "max_entries must be at least 1")

    def region_sizes(self) -> dict[str, int]:
        return {"values": self.max_entries * L.round8(self.value_size) * self.cpus,
                "slots": 4 * self.max_entries}

    def setup(self) -> None:
        self._values = self.views["values"].reshape(self.max_entries, self.entry_stride)
        self._values_addr = self.storage.address("values")
        self._keys = self.views["slots"].view("<u4")

    def init_storage(self) -> None:
        if self.storage.path is None or self.storage.created:
            self._keys[:] = np.arange(self.max_entries, dtype="<u4")

    def exposed_regions(self) -> tuple[str, ...]:
        return ("values", "slots")

    # -- kernel operations ------------------------------------------------------
    def _index(self, key: bytes) -> int:
        return int.from_bytes(key, "little")

    def lookup_address(self, key: bytes) -> int:
        i = self._index(self.key_bytes(key))
        if i >= self.max_entries:
            return 0
        return self._values_addr + i * self.entry_stride + self._cpu() * self.value_stride

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        key, value = self.key_bytes(key), self.value_bytes(value)
        mode = flags & ~L.BPF_F_LOCK
        if mode > L.BPF_EXIST:
            return -L.EINVAL
        i = self._index(key)
        if i >= self.max_entries:
            return -L.E2BIG
        if mode == L.BPF_NOEXIST:
            return -L.EEXIST
        self._write_value(self._values[i], value, fresh=False)
        return 0

    def delete(self, key: Any) -> int:
        self.key_bytes(key)
        return -L.EINVAL

    def _entry(self, key: bytes) -> np.ndarray | None:
        i = self._index(key)
        return self._values[i] if i < self.max_entries else None

    def _raw_keys(self) -> Iterator[bytes]:
        for i in range(self.max_entries):
            yield i.to_bytes(4, "little")

    def __len__(self) -> int:
        return self.max_entries

    def get_next_key(self, key: Any = None) -> bytes | None:
        if key is None:
            return (0).to_bytes(4, "little")
        i = self._index(self.key_bytes(key))
        if i >= self.max_entries:
            return (0).to_bytes(4, "little")
        if i + 1 >= self.max_entries:
            return None
        return (i + 1).to_bytes(4, "little")

    def value_address(self, offset: int = 0) -> int:
        if self.PERCPU:
            raise self._error("per-CPU arrays have no direct value address")
        if not 0 <= offset < self.value_size:
            raise self._error(f"value offset {offset} is outside the {self.value_size}-byte value")
        return self._values_addr + offset

    def iter_addresses(self) -> Iterator[tuple[int, int]]:
        """(key address, value address for the current CPU) of every entry (for_each_map_elem)."""
        keys = int(self._keys.ctypes.data)
        cpu_off = self._cpu() * self.value_stride
        for i in range(self.max_entries):
            yield keys + 4 * i, self._values_addr + i * self.entry_stride + cpu_off

    def load_initial(self, initial: Any) -> None:
        """Global data (.data/.rodata/.bss): ``initial`` bytes are the value of key 0."""
        if isinstance(initial, (bytes, bytearray, memoryview)):
            data = bytes(initial)
            if len(data) > self.value_size:
                raise self._error(f"initial data of {len(data)} bytes exceeds value_size {self.value_size}")
            self._values[0, :len(data)] = np.frombuffer(data, np.uint8)
            return
        super().load_initial(initial)


class PercpuArrayMap(ArrayMap):
    PERCPU = True
    TYPE_FLAGS = L.BPF_F_INNER_MAP


class SlotArrayMap(ArrayMap):
    """An array whose slots may be empty (devmap, cpumap, xskmap, ...).

    ``aux`` holds one presence byte per index; an empty slot's lookup returns
    NULL. Subclasses check values (:meth:`check_value`, returning 0 or -errno)
    and pick their update/delete errors (``NOEXIST_ALWAYS_EEXIST``).
    """

    TYPE_FLAGS = 0
    #: devmap and cpumap answer BPF_NOEXIST with -EEXIST whatever the slot holds
    NOEXIST_ALWAYS_EEXIST = True

    def region_sizes(self) -> dict[str, int]:
        sizes = super().region_sizes()
        sizes["aux"] = self.max_entries
        return sizes

    def setup(self) -> None:
        super().setup()
        self._present = self.views["aux"]

    def descriptor_fields(self) -> dict[str, int]:
        return {"aux": self.storage.address("aux")}

    def check_value(self, key: int, value: bytes) -> int:
        return 0

    def lookup_address(self, key: bytes) -> int:
        i = self._index(self.key_bytes(key))
        if i >= self.max_entries or not self._present[i]:
            return 0
        return self._values_addr + i * self.entry_stride

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        key, value = self.key_bytes(key), self.value_bytes(value)
        if flags > L.BPF_EXIST:
            return -L.EINVAL
        i = self._index(key)
        if i >= self.max_entries:
            return -L.E2BIG
        present = bool(self._present[i])
        if flags == L.BPF_NOEXIST and (present or self.NOEXIST_ALWAYS_EEXIST):
            return -L.EEXIST
        if flags == L.BPF_EXIST and not present:
            return -L.ENOENT
        rc = self.check_value(i, value)
        if rc:
            return rc
        self._write_value(self._values[i], value, fresh=True)
        self._present[i] = 1
        return 0

    def delete(self, key: Any) -> int:
        i = self._index(self.key_bytes(key))
        if i >= self.max_entries:
            return -L.EINVAL
        self._present[i] = 0
        self._values[i] = 0
        return 0

    def _entry(self, key: bytes) -> np.ndarray | None:
        i = self._index(key)
        return self._values[i] if i < self.max_entries and self._present[i] else None

    def _raw_keys(self) -> Iterator[bytes]:
        for i in np.flatnonzero(self._present):
            yield int(i).to_bytes(4, "little")

    def __len__(self) -> int:
        return int(np.count_nonzero(self._present))

    def get_next_key(self, key: Any = None) -> bytes | None:
        return Map.get_next_key(self, key)

    def regions(self) -> list:
        regions = super().regions()
        for r in regions:
            r.writable = False  # programs may read these values, never write them
        return regions


class FdArrayMap(SlotArrayMap):
    """Arrays whose values name kernel objects (prog_array, array_of_maps).

    The kernel's fd arrays accept only BPF_ANY (-EINVAL otherwise), answer an
    index past the end with -E2BIG on update and delete, and deleting an
    empty slot with -ENOENT.
    """

    TYPE_FLAGS = 0

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        key, value = self.key_bytes(key), self.value_bytes(value)
        if flags != L.BPF_ANY:
            return -L.EINVAL
        i = self._index(key)
        if i >= self.max_entries:
            return -L.E2BIG
        self._write_value(self._values[i], value, fresh=True)
        self._present[i] = 1
        return 0

    def delete(self, key: Any) -> int:
        i = self._index(self.key_bytes(key))
        if i >= self.max_entries:
            return -L.E2BIG
        if not self._present[i]:
            return -L.ENOENT
        self._present[i] = 0
        self._values[i] = 0
        return 0
