"""``array_of_maps`` and ``hash_of_maps``: maps whose values are other maps.

``spec.inner`` is the template every inner map must match (type, key and
value sizes, flags, and max_entries unless the template has
BPF_F_INNER_MAP), as bpf_map_meta_equal checks. The spec says value_size 4
(an fd, as in the kernel) and stays 4; each value's 8-byte slot
(``value_stride``) holds the inner map's descriptor address as a u64. A program's lookup returns that address itself
(not a pointer to the slot), so the result can go straight into r1 of the
next map helper, as in the kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.array import FdArrayMap
from ebpflite.helpers.maps.base import Map, by_address, decode
from ebpflite.helpers.maps.hashmap import HashMap


class InnerMaps:
    """What both map-in-map types share: the template check and the value conversion."""

    def _setup_inner(self: Any) -> None:
        self._require(self.value_size == 4, f"value_size must be 4 (an inner map fd), not {self.value_size}")
        inner = getattr(self.spec, "inner", None)
        self._require(inner is not None, "a map-in-map needs an inner map template (spec.inner)")
        self._require(str(getattr(inner, "type", "")) not in ("array_of_maps", "hash_of_maps"),
                      "an inner map cannot itself hold maps")
        self.inner_spec = inner
        self._refs: dict[bytes, Map] = {}

    def _resolve(self: Any, value: Any) -> Map:
        if isinstance(value, Map):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            found = by_address(value)
            if found is not None:
                return found
        raise self._error(f"values of a {self.type} map are live maps, not {value!r}")

    def value_bytes(self: Any, value: Any) -> bytes:
        """The stored form of an inner map: its descriptor address as 8 bytes."""
        return self._resolve(value).address.to_bytes(8, "little")

    def _write_value(self: Any, entry: Any, value: bytes, fresh: bool) -> None:
        entry[:8] = np.frombuffer(value, np.uint8)

    def _compatible(self: Any, m: Map) -> bool:
        t = self.inner_spec
        same = (m.type == str(t.type) and m.key_size == int(t.key_size) and m.value_size == int(t.value_size)
                and m.flags == int(t.flags or 0))
        if not int(t.flags or 0) & L.BPF_F_INNER_MAP:
            same = same and m.max_entries == int(t.max_entries)
        return same

    def _update_inner(self: Any, base: type, key: Any, value: Any, flags: int) -> int:
        inner = self._resolve(value)
        if not self._compatible(inner):
            return -L.EINVAL
        key = self.key_bytes(key)
        rc = base.update(self, key, inner, flags)
        if rc == 0:
            self._refs[key] = inner
        return rc

    def _delete_inner(self: Any, base: type, key: Any) -> int:
        key = self.key_bytes(key)
        rc = base.delete(self, key)
        if rc == 0:
            self._refs.pop(key, None)
        return rc

    def lookup_address(self: Any, key: bytes) -> int:
        entry = self._entry(self.key_bytes(key))
        return 0 if entry is None else int.from_bytes(entry[:8].tobytes(), "little")

    def get_map(self: Any, key: Any) -> Map | None:
        """The inner map stored under ``key`` (None when absent)."""
        addr = self.lookup_address(key)
        return by_address(addr) if addr else None

    def __getitem__(self: Any, key: Any) -> Any:
        inner = self.get_map(key)
        if inner is None:
            raise KeyError(key)
        return inner

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        rc = self.update(key, value, L.BPF_ANY)
        if rc < 0:
            raise self._error(f"cannot store {value!r}: it does not match the inner map template", -rc)

    def items(self: Any) -> list[tuple[Any, Any]]:
        return [(decode(k, self.key_dtype), self.get_map(k)) for k in self._raw_keys()]

    def raw_items(self: Any) -> list[tuple[bytes, list[bytes]]]:
        """As bpftool shows map-in-map values: the inner map's id."""
        out = []
        for k in self._raw_keys():
            inner = self.get_map(k)
            out.append((k, [(inner.map_id if inner else 0).to_bytes(4, "little")]))
        return out

    def load_initial(self: Any, initial: Any) -> None:
        """``{key: map}``: live maps, specs (created here) or map *names*, which wait for
        :meth:`resolve_maps` (the loader names the maps a ``.values`` initialiser lists)."""
        self.pending: dict[Any, str] = {}
        if isinstance(initial, dict):
            for key, value in initial.items():
                if isinstance(value, str):
                    self.pending[key] = value
                    continue
                if not isinstance(value, Map) and hasattr(value, "type"):
                    from ebpflite.helpers.maps import create
                    value = create(value, cpus=self.possible_cpus)
                self[key] = value
            return
        Map.load_initial(self, initial)

    def resolve_maps(self: Any, maps: Any) -> None:
        """Store the live maps named by ``spec.initial`` (``maps``: name -> live map)."""
        for key, name in list(getattr(self, "pending", {}).items()):
            if name not in maps:
                raise self._error(f"slot {key} names map {name!r}, which the object lacks", L.ENOENT)
            self[key] = maps[name]
            del self.pending[key]


class ArrayOfMaps(InnerMaps, FdArrayMap):
    def validate(self) -> None:
        super().validate()
        self._setup_inner()

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        return self._update_inner(FdArrayMap, key, value, flags)

    def delete(self, key: Any) -> int:
        return self._delete_inner(FdArrayMap, key)

    def exposed_regions(self) -> tuple[str, ...]:
        return ()


class HashOfMaps(InnerMaps, HashMap):
    TYPE_FLAGS = L.BPF_F_NO_PREALLOC

    def validate(self) -> None:
        super().validate()
        self._setup_inner()

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        return self._update_inner(HashMap, key, value, flags)

    def delete(self, key: Any) -> int:
        return self._delete_inner(HashMap, key)

    def exposed_regions(self) -> tuple[str, ...]:
        return ()
