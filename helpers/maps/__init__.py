"""Live eBPF maps: every kernel map type the issue lists, in numpy storage native code can use.

``create(spec, cpus=4, pin_dir=None)`` turns a map specification (anything
with the fields of ``loader.MapSpec``; :class:`MapSpec` here for hand-built
maps) into a live map. The type table :data:`TYPES` gives each type's class
and its Linux and ebpf-for-windows numbers. ``by_address(r1)`` finds the map
a helper was given. Per-CPU maps show programs the copy of
:func:`current_cpu` (set with :func:`set_current_cpu`; the runtime sets it
per run). docs/maps.md describes the storage layout for the JIT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ebpflite.helpers.maps import layout
from ebpflite.helpers.maps.array import ArrayMap, PercpuArrayMap
from ebpflite.helpers.maps.base import Map, MapSpec, by_address, spec_from_dict
from ebpflite.helpers.maps.bloom import BloomFilterMap
from ebpflite.helpers.maps.devmap import CpuMap, DevMap, DevMapHash, XskMap
from ebpflite.helpers.maps.hashmap import HashMap, LruHashMap, LruPercpuHashMap, PercpuHashMap
from ebpflite.helpers.maps.layout import current_cpu, set_current_cpu
from ebpflite.helpers.maps.lpm import LpmTrieMap
from ebpflite.helpers.maps.mapinmap import ArrayOfMaps, HashOfMaps
from ebpflite.helpers.maps.perf import PerfEventArray
from ebpflite.helpers.maps.pinning import list_pinned, pin_path
from ebpflite.helpers.maps.progarray import ProgArrayMap
from ebpflite.helpers.maps.queue import QueueMap, StackMap
from ebpflite.helpers.maps.ringbuf import RingBufMap
from ebpflite.vm.errors import MapError

__all__ = ["TYPES", "Map", "MapSpec", "MapType", "by_address", "create", "current_cpu", "list_pinned",
           "open_pinned", "set_current_cpu", "type_by_number"]


@dataclass(frozen=True)
class MapType:
    name: str
    cls: type[Map]
    linux: int  #: BPF_MAP_TYPE_* in include/uapi/linux/bpf.h
    windows: int | None  #: ebpf_map_type_t in ebpf-for-windows (None: not supported there)


TYPES: dict[str, MapType] = {t.name: t for t in (
    MapType("hash", HashMap, 1, 1),
    MapType("array", ArrayMap, 2, 2),
    MapType("prog_array", ProgArrayMap, 3, 3),
    MapType("perf_event_array", PerfEventArray, 4, 14),
    MapType("percpu_hash", PercpuHashMap, 5, 4),
    MapType("percpu_array", PercpuArrayMap, 6, 5),
    MapType("lru_hash", LruHashMap, 9, 8),
    MapType("lru_percpu_hash", LruPercpuHashMap, 10, 11),
    MapType("lpm_trie", LpmTrieMap, 11, 9),
    MapType("array_of_maps", ArrayOfMaps, 12, 7),
    MapType("hash_of_maps", HashOfMaps, 13, 6),
    MapType("devmap", DevMap, 14, None),
    MapType("cpumap", CpuMap, 16, None),
    MapType("xskmap", XskMap, 17, None),
    MapType("queue", QueueMap, 22, 10),
    MapType("stack", StackMap, 23, 12),
    MapType("devmap_hash", DevMapHash, 25, None),
    MapType("ringbuf", RingBufMap, 27, 13),
    MapType("bloom_filter", BloomFilterMap, 30, None),
)}


def type_by_number(number: int, platform: str = "linux") -> str:
    """The type name for a platform's map type number (MapError EINVAL if unknown)."""
    for t in TYPES.values():
        if (t.linux if platform == "linux" else t.windows) == number:
            return t.name
    raise MapError(f"unknown {platform} map type number {number}", layout.EINVAL)


def _type_name(spec: Any) -> str:
    raw = getattr(spec, "type", None)
    name = str(raw).lower()
    if name.startswith("bpf_map_type_"):
        name = name[len("bpf_map_type_"):]
    if name not in TYPES:
        raise MapError(f"map {getattr(spec, 'name', '?')}: unsupported map type {raw!r} "
                       f"(supported: {', '.join(sorted(TYPES))})", layout.EINVAL)
    return name


def create(spec: Any, cpus: int = 4, pin_dir: str | os.PathLike | None = None) -> Map:
    """A live map for ``spec``; with ``pin_dir``, backed by the file ``pin_dir/NAME``.

    Invalid specs (sizes, flags, max_entries against the kernel's rules for
    the type) raise MapError with errno EINVAL and the reason.
    """
    name = _type_name(spec)
    t = TYPES[name]
    path = pin_path(pin_dir, str(spec.name)) if pin_dir is not None else None
    return t.cls(spec, name, t.linux, cpus=cpus, pin_path=path)


def open_pinned(path: str | os.PathLike, readonly: bool = True) -> Map:
    """Attach to a map pinned by another run or process (read-only unless asked)."""
    header = layout.read_pin_header(os.fspath(path))
    try:
        spec = spec_from_dict(header)
        cpus = int(header["cpus"])
    except (KeyError, TypeError, ValueError):
        raise MapError(f"{path}: pinned map header lacks fields", layout.EINVAL) from None
    name = _type_name(spec)
    t = TYPES[name]
    return t.cls(spec, name, t.linux, cpus=cpus, pin_path=os.fspath(path), readonly=readonly)
