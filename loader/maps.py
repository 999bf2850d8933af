"""Map specifications and the three ways objects declare maps.

Why: a map is described, not created, by the loader. ``helpers.maps.create``
turns a :class:`MapSpec` into live storage. Objects declare maps in:

* a legacy ``maps`` section of fixed-size structs, one per symbol: libbpf's
  20-byte ``bpf_map_def`` (type, key_size, value_size, max_entries,
  map_flags; the kernel samples' 28-byte form adds inner_map_idx and
  numa_node), ebpf-for-windows' 32-byte ``ebpf_map_definition_in_file``
  (type, key, value, max_entries, inner_map_idx, pinning, id, inner_id) and
  iproute2's 36-byte ``bpf_elf_map`` (type, size_key, size_value,
  max_elem, flags, id, pinning, inner_id, inner_idx). They are told apart
  by the size of one definition (section size / number of map symbols).
* BTF-defined ``.maps``: each variable is a struct whose members encode the
  attributes in their types (``__uint(x, N)`` is ``int (*x)[N]``,
  ``__type(x, T)`` is ``T *x``, ``__array(values, T)`` is ``T *values[]``),
  with prog-array and map-in-map initialisers as relocations in
  ``.rel.maps``.
* global data (``.data*``, ``.rodata*``, ``.bss``): one single-entry array
  map per section holding its initial bytes, as libbpf does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ebpflite.loader.btf import Btf, Kind
from ebpflite.vm.errors import LoaderError

#: the kernel's enum bpf_map_type
LINUX_MAP_TYPES = (
    "unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash", "percpu_array",
    "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash", "lpm_trie", "array_of_maps",
    "hash_of_maps", "devmap", "sockmap", "cpumap", "xskmap", "sockhash", "cgroup_storage",
    "reuseport_sockarray", "percpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
    "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter", "user_ringbuf",
    "cgrp_storage", "arena",
)
#: ebpf-for-windows' ebpf_map_type_t
WINDOWS_MAP_TYPES = (
    "unspec", "hash", "array", "prog_array", "percpu_hash", "percpu_array", "hash_of_maps",
    "array_of_maps", "lru_hash", "lpm_trie", "queue", "lru_percpu_hash", "stack", "ringbuf",
)

BPF_F_RDONLY_PROG = 1 << 7  #: the program may only read the map (libbpf sets it on .rodata)
PIN_NONE, PIN_BY_NAME = 0, 1
DATA_SECTION_PREFIXES = (".data", ".rodata", ".bss")
MAP_IN_MAP_TYPES = {"array_of_maps", "hash_of_maps"}


def map_type_name(number: int, platform: str = "linux") -> str:
    table = WINDOWS_MAP_TYPES if platform == "windows" else LINUX_MAP_TYPES
    return table[number] if 0 <= number < len(table) else f"unknown({number})"


@dataclass
class MapSpec:
    """What a map should be; ``helpers.maps.create(spec)`` makes a live one.

    ``initial`` is the global-data bytes (value of key 0), or for prog arrays
    and map-in-maps a ``{slot: name}`` dict naming the program or map that
    the ``.values`` initialiser put there. ``inner`` is the inner map's spec
    for map-in-map types. ``type_number`` keeps the platform's numeric type.
    """

    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = PIN_NONE
    btf_key_type: int = 0
    btf_value_type: int = 0
    initial: bytes | dict[int, str] | None = None
    inner: MapSpec | None = None
    section: str = ""
    type_number: int = 0
    platform: str = "linux"
    #: byte offset of the definition in its section (how relocations find it)
    offset: int = 0
    #: anything else a definition carried: numa_node, map_extra, id, inner_id, inner_idx
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def readonly(self) -> bool:
        return bool(self.flags & BPF_F_RDONLY_PROG)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (CLI ``--json``)."""
        initial: Any = self.initial
        if isinstance(initial, bytes):
            initial = initial.hex()
        elif isinstance(initial, dict):
            initial = {str(k): v for k, v in initial.items()}
        return {
            "name": self.name, "type": self.type, "type_number": self.type_number,
            "key_size": self.key_size, "value_size": self.value_size, "max_entries": self.max_entries,
            "flags": self.flags, "pinning": self.pinning, "btf_key_type": self.btf_key_type,
            "btf_value_type": self.btf_value_type, "section": self.section, "initial": initial,
            "inner": self.inner.to_dict() if self.inner else None, "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class MapSymbol:
    """A symbol placed in a maps section (name, byte offset, declared size)."""

    name: str
    offset: int
    size: int


# --- legacy "maps" sections -----------------------------------------------------------

#: definition size -> (flavour, field names in order)
LEGACY_LAYOUTS: dict[int, tuple[str, tuple[str, ...]]] = {
    20: ("libbpf", ("type", "key_size", "value_size", "max_entries", "flags")),
    24: ("libbpf", ("type", "key_size", "value_size", "max_entries", "flags", "inner_map_idx")),
    28: ("libbpf", ("type", "key_size", "value_size", "max_entries", "flags", "inner_map_idx",
                    "numa_node")),
    32: ("windows", ("type", "key_size", "value_size", "max_entries", "inner_map_idx", "pinning", "id",
                     "inner_id")),
    36: ("iproute2", ("type", "key_size", "value_size", "max_entries", "flags", "id", "pinning",
                      "inner_id", "inner_idx")),
}


def legacy_def_size(data: bytes, symbols: list[MapSymbol], file: str | None, section: str) -> int:
    """Size of one definition: section size / number of map symbols, checked against the offsets."""
    if not symbols:
        raise LoaderError("maps section has data but no map symbols", file, section)
    if len(data) % len(symbols):
        raise LoaderError(f"section size {len(data)} is not a multiple of the {len(symbols)} map "
                          "definitions in it", file, section)
    size = len(data) // len(symbols)
    if size not in LEGACY_LAYOUTS:
        known = ", ".join(f"{n} ({f})" for n, (f, _) in LEGACY_LAYOUTS.items())
        raise LoaderError(f"map definitions of {size} bytes are not a known layout ({known})", file, section)
    for sym in symbols:
        if sym.offset % size or sym.offset + size > len(data):
            raise LoaderError(f"map symbol '{sym.name}' at offset {sym.offset} is not on a "
                              f"{size}-byte definition boundary inside the section", file, section)
    return size


def parse_legacy_maps(data: bytes, symbols: list[MapSymbol], platform: str, file: str | None,
                      section: str) -> list[MapSpec]:
    """Maps of a legacy ``maps`` section, in offset order."""
    size = legacy_def_size(data, symbols, file, section)
    flavour, names = LEGACY_LAYOUTS[size]
    if flavour == "windows":
        platform = "windows"
    specs = []
    for sym in sorted(symbols, key=lambda s: s.offset):
        values = dict(zip(names, struct.unpack_from(f"<{len(names)}I", data, sym.offset), strict=True))
        spec = MapSpec(
            name=sym.name, type=map_type_name(values["type"], platform), key_size=values["key_size"],
            value_size=values["value_size"], max_entries=values["max_entries"],
            flags=values.get("flags", 0), pinning=values.get("pinning", PIN_NONE), section=section,
            type_number=values["type"], platform=platform, offset=sym.offset,
            extra={k: v for k, v in values.items()
                   if k not in ("type", "key_size", "value_size", "max_entries", "flags", "pinning")})
        spec.extra["layout"] = flavour
        specs.append(spec)
    return specs


def is_legacy_map_section(name: str) -> bool:
    """``maps`` (bpf_load.c, iproute2, libbpf 0.x), or one ``maps/<name>`` section per map (PREVAIL's
    and the kernel samples' older layout)."""
    return name == "maps" or name.startswith("maps/")


def link_legacy_inner(specs: list[MapSpec]) -> None:
    """Map-in-map: inner_map_idx (libbpf, windows) or inner_id (iproute2, windows) name the template.

    ``specs`` are all legacy maps of the object in section then offset order, which is the order
    inner_map_idx counts in (bpf_load.c numbers the maps of its one section; with one section per
    map, PREVAIL numbers them in section order)."""
    by_id = {s.extra["id"]: s for s in specs if s.extra.get("id")}
    for spec in specs:
        if spec.type not in MAP_IN_MAP_TYPES:
            continue
        inner_id = spec.extra.get("inner_id")
        if inner_id and inner_id in by_id:
            spec.inner = by_id[inner_id]
            continue
        idx = spec.extra.get("inner_map_idx", spec.extra.get("inner_idx"))
        if idx is not None and idx < len(specs) and specs[idx] is not spec:
            spec.inner = specs[idx]


# --- BTF-defined ".maps" ----------------------------------------------------------------

_UINT_ATTRS = {"type", "max_entries", "map_flags", "numa_node", "map_extra", "key_size", "value_size",
               "pinning"}


@dataclass
class _BtfMapDef:
    attrs: dict[str, int] = field(default_factory=dict)
    key_type: int = 0
    value_type: int = 0
    values_offset: int | None = None  #: byte offset of the `values` array in the struct
    inner: MapSpec | None = None
    size: int = 0


def parse_btf_maps(data_size: int, symbols: list[MapSymbol], btf: Btf | None, platform: str,
                   file: str | None, section: str) -> list[MapSpec]:
    """Maps of a ``.maps`` section, described by the BTF DATASEC of the same name."""
    if btf is None:
        raise LoaderError("BTF-defined maps need a .BTF section, but the object has none", file, section)
    datasec = btf.find(section, Kind.DATASEC)
    if datasec is None:
        raise LoaderError(f"no BTF DATASEC describes the {section} section", file, section)
    offsets = {s.name: s for s in symbols}
    specs = []
    for var_ref in datasec.members:
        var = btf[var_ref.type_id]
        if var.kind is not Kind.VAR:
            raise LoaderError(f"DATASEC entry type [{var.id}] is {var.kind.name}, not VAR", file, section)
        sym = offsets.get(var.name)
        if sym is None:
            raise LoaderError(f"map '{var.name}' has BTF but no ELF symbol", file, section)
        mdef = _parse_btf_def(btf, var.size_or_type, var.name, platform, file, section, 0)
        if sym.offset + mdef.size > data_size:
            raise LoaderError(f"map '{var.name}' at offset {sym.offset} extends past the section end",
                              file, section)
        specs.append(_spec_from_def(var.name, mdef, btf, platform, file, section, sym.offset))
    return sorted(specs, key=lambda s: s.offset)


def _parse_btf_def(btf: Btf, type_id: int, name: str, platform: str, file: str | None, section: str,
                   depth: int) -> _BtfMapDef:
    struct_t = btf.resolve(type_id)
    if struct_t is None or struct_t.kind is not Kind.STRUCT:
        what = "void" if struct_t is None else struct_t.kind.name
        raise LoaderError(f"map '{name}': definition is {what}, expected a struct", file, section)
    mdef = _BtfMapDef(size=struct_t.size)
    for m in struct_t.members:
        mtype = btf.resolve(m.type_id)
        if m.name in _UINT_ATTRS:
            mdef.attrs[m.name] = _uint_attr(btf, mtype, name, m.name, file, section)
        elif m.name in ("key", "value"):
            if mtype is None or mtype.kind is not Kind.PTR:
                raise LoaderError(f"map '{name}': '{m.name}' must be a pointer (__type), "
                                  f"not {mtype.kind.name if mtype else 'void'}", file, section)
            setattr(mdef, f"{m.name}_type", mtype.size_or_type)
        elif m.name == "values":
            if mtype is None or mtype.kind is not Kind.ARRAY:
                raise LoaderError(f"map '{name}': 'values' must be an array (__array)", file, section)
            mdef.values_offset = m.offset // 8
            elem = btf.resolve(mtype.extra[0])
            target = btf.resolve(elem.size_or_type) if elem is not None and elem.kind is Kind.PTR else None
            if target is not None and target.kind is Kind.STRUCT:
                if depth > 0:
                    raise LoaderError(f"map '{name}': nested map-in-map definitions are not supported",
                                      file, section)
                inner_def = _parse_btf_def(btf, target.id, f"{name}.inner", platform, file, section, 1)
                mdef.inner = _spec_from_def(f"{name}.inner", inner_def, btf, platform, file, section, 0)
        # other members (libbpf ignores unknown ones with a warning): kept out of the spec
    return mdef


def _uint_attr(btf: Btf, mtype, map_name: str, attr: str, file: str | None, section: str) -> int:
    if mtype is None or mtype.kind is not Kind.PTR:
        raise LoaderError(f"map '{map_name}': attribute '{attr}' must be declared with __uint "
                          "(a pointer to an array)", file, section)
    arr = btf.resolve(mtype.size_or_type)
    if arr is None or arr.kind is not Kind.ARRAY:
        raise LoaderError(f"map '{map_name}': attribute '{attr}' must point to an array", file, section)
    return arr.extra[2]


def _spec_from_def(name: str, mdef: _BtfMapDef, btf: Btf, platform: str, file: str | None, section: str,
                   offset: int) -> MapSpec:
    attrs = mdef.attrs
    if "type" not in attrs:
        raise LoaderError(f"map '{name}' has no 'type' attribute", file, section)
    key_size = attrs.get("key_size", 0)
    value_size = attrs.get("value_size", 0)
    for which, tid in (("key", mdef.key_type), ("value", mdef.value_type)):
        if tid:
            size = btf.size_of(tid)
            declared = attrs.get(f"{which}_size")
            if declared is not None and declared != size:
                raise LoaderError(f"map '{name}': {which}_size {declared} disagrees with the size "
                                  f"{size} of its {which} type", file, section)
            if which == "key":
                key_size = size
            else:
                value_size = size
    mtype = map_type_name(attrs["type"], platform)
    if mdef.values_offset is not None and (mtype in MAP_IN_MAP_TYPES or mtype == "prog_array"):
        key_size = key_size or 4
        value_size = value_size or 4  # a map fd / program fd, as libbpf fills in
    extra = {k: v for k, v in attrs.items()
             if k not in ("type", "key_size", "value_size", "max_entries", "map_flags", "pinning")}
    extra["layout"] = "btf"
    if mdef.values_offset is not None:
        extra["values_offset"] = mdef.values_offset
    return MapSpec(name=name, type=mtype, key_size=key_size, value_size=value_size,
                   max_entries=attrs.get("max_entries", 0), flags=attrs.get("map_flags", 0),
                   pinning=attrs.get("pinning", PIN_NONE), btf_key_type=mdef.key_type,
                   btf_value_type=mdef.value_type, inner=mdef.inner, section=section,
                   type_number=attrs["type"], platform=platform, offset=offset, extra=extra)


def apply_map_initialisers(specs: list[MapSpec], relocs: list[tuple[int, str]], file: str | None,
                           section: str) -> None:
    """``.rel.maps``: (offset in section, symbol name) pairs filling ``values`` slots."""
    for off, target in relocs:
        # only maps with a `values` array can own an initialiser (a plain map's extent is not known
        # from its spec, and a huge max_entries must not make it swallow the maps that follow it)
        owner = next((s for s in specs if "values_offset" in s.extra
                      and s.offset <= off < s.offset + _def_extent(s)), None)
        if owner is None:
            raise LoaderError(f"relocation at offset {off} does not fall in the 'values' of any map",
                              file, section)
        rel = off - owner.offset - owner.extra["values_offset"]
        if rel < 0 or rel % 8:
            raise LoaderError(f"relocation at offset {off} is not on a 'values' slot of map '{owner.name}'",
                              file, section)
        slot = rel // 8
        if slot >= owner.max_entries:
            raise LoaderError(f"map '{owner.name}': initialiser for slot {slot} exceeds max_entries "
                              f"{owner.max_entries}", file, section)
        if not isinstance(owner.initial, dict):
            owner.initial = {}
        owner.initial[slot] = target


def _def_extent(spec: MapSpec) -> int:
    return spec.extra.get("values_offset", 0) + 8 * max(spec.max_entries, 1)


# --- global data ----------------------------------------------------------------------------


def is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in DATA_SECTION_PREFIXES)


def data_section_map(name: str, data: bytes, platform: str, btf: Btf | None) -> MapSpec:
    """A single-entry array holding a global-data section (libbpf's internal map)."""
    flags = BPF_F_RDONLY_PROG if name.startswith(".rodata") else 0
    value_type = 0
    if btf is not None:
        sec = btf.find(name, Kind.DATASEC)
        value_type = sec.id if sec is not None else 0
    number = (WINDOWS_MAP_TYPES if platform == "windows" else LINUX_MAP_TYPES).index("array")
    return MapSpec(name=name, type="array", key_size=4, value_size=len(data), max_entries=1, flags=flags,
                   btf_value_type=value_type, initial=bytes(data), section=name, type_number=number,
                   platform=platform, extra={"layout": "global_data"})
