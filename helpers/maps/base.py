"""What every live map shares: its spec, descriptor, registry, conversions and dump.

A subclass declares its storage regions (:meth:`Map.region_sizes`), checks
its spec (:meth:`Map.validate`) and implements the kernel operations on raw
bytes (``lookup_address``, ``update``, ``delete``, ``_entry``, ``_raw_keys``).
Everything a Python user touches (``m[key]``, iteration, ``dump()``) is built
here on top of those, so each map type only writes its semantics once.

Two views of a value exist, as in the kernel: a *program* sees one CPU's
copy (``value_size`` bytes, the current CPU from :func:`layout.current_cpu`),
while *userspace* (``m[key]``, ``dump``) sees every CPU's copy of a per-CPU
map, each rounded up to 8 bytes.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.vm.errors import MapError
from ebpflite.vm.memory import Region


@dataclass
class MapSpec:
    """A map specification with the fields of ``loader.MapSpec`` (duck-typed twin).

    ``create`` accepts any object with these attributes; this class is for
    tests and users who build maps by hand.
    """

    name: str
    type: str
    key_size: int = 4
    value_size: int = 4
    max_entries: int = 1
    flags: int = 0
    pinning: int = 0
    btf_key_type: Any = None
    btf_value_type: Any = None
    initial: Any = None
    inner: Any = None
    section: str = ""
    map_extra: int = 0


def spec_dict(spec: Any) -> dict:
    """The spec as plain JSON data (for pinned file headers)."""
    inner = getattr(spec, "inner", None)
    return {
        "name": str(spec.name), "type": str(spec.type), "key_size": int(spec.key_size),
        "value_size": int(spec.value_size), "max_entries": int(spec.max_entries),
        "flags": int(spec.flags or 0), "map_extra": _map_extra(spec),
        "inner": spec_dict(inner) if inner is not None and not isinstance(inner, Map) else None,
    }


def spec_from_dict(d: dict) -> MapSpec:
    inner = d.get("inner")
    return MapSpec(name=d["name"], type=d["type"], key_size=d["key_size"], value_size=d["value_size"],
                   max_entries=d["max_entries"], flags=d["flags"], map_extra=d.get("map_extra", 0),
                   inner=spec_from_dict(inner) if inner else None)


# --- the address registry --------------------------------------------------------

_BY_ADDRESS: weakref.WeakValueDictionary[int, Map] = weakref.WeakValueDictionary()
_IDS = itertools.count(1)


def by_address(address: int) -> Map | None:
    """The live map whose descriptor is at ``address`` (what a helper gets in r1)."""
    return _BY_ADDRESS.get(int(address))


# --- conversions -----------------------------------------------------------------------

def encode(obj: Any, size: int, what: str, map_name: str) -> bytes:
    """Turn an int, bytes-like or numpy record into exactly ``size`` bytes, or MapError(EINVAL)."""
    if isinstance(obj, (bool, int, np.integer)):
        v = int(obj)
        if size == 0 or not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
            raise MapError(f"map {map_name}: {what} {v} does not fit in {size} bytes", L.EINVAL)
        return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
    elif isinstance(obj, (np.ndarray, np.generic)):
        data = obj.tobytes()
    else:
        raise MapError(f"map {map_name}: {what} must be an int, bytes or a numpy record, "
                       f"not {type(obj).__name__}", L.EINVAL)
    if len(data) != size:
        raise MapError(f"map {map_name}: {what} is {len(data)} bytes, the map's {what} size is {size}",
                       L.EINVAL)
    return data


def decode(raw: bytes, dtype: np.dtype | None) -> Any:
    """A value for Python users: a numpy record when a dtype is known, an int for 1/2/4/8 bytes,
    bytes otherwise."""
    if dtype is not None and dtype.itemsize == len(raw):
        return np.frombuffer(raw, dtype=dtype)[0].copy()
    if len(raw) in (1, 2, 4, 8):
        return int.from_bytes(raw, "little")
    return bytes(raw)


def _btf_dtype(btf_type: Any) -> np.dtype | None:
    """A numpy dtype from a BTF type when the loader gives one we can use."""
    if btf_type is None:
        return None
    if isinstance(btf_type, np.dtype):
        return btf_type
    for attr in ("numpy_dtype", "to_dtype", "dtype"):
        fn = getattr(btf_type, attr, None)
        try:
            result = fn() if callable(fn) else fn
        except Exception:  # noqa: BLE001 - a BTF type we cannot express stays raw
            result = None
        if isinstance(result, np.dtype):
            return result
    return None


def hex_bytes(data: bytes) -> str:
    """bpftool's fprint_hex: bytes separated by a space, two spaces every 8, a newline every 16."""
    out = []
    for i, b in enumerate(data):
        if i:
            out.append("\n" if i % 16 == 0 else "  " if i % 8 == 0 else " ")
        out.append(f"{b:02x}")
    return "".join(out)


def json_bytes(data: bytes) -> list[str]:
    return [f"0x{b:02x}" for b in data]


# --- the base class ----------------------------------------------------------------------

class Map:
    """A live map. Subclasses set ``TYPE_FLAGS`` (accepted map_flags) and ``PERCPU``."""

    TYPE_FLAGS = 0
    PERCPU = False
    #: whether userspace iteration has keys (queue/stack/bloom/ringbuf have none)
    HAS_KEYS = True
    #: methods that change a map; a map opened read-only refuses them with EPERM
    #: (``m[k] = v`` and ``del m[k]`` go through update/delete)
    MUTATORS = ("update", "delete", "lookup_and_delete", "push", "pop", "set_program", "output",
                "reserve", "submit", "discard", "consume", "clear")

    def __init__(self, spec: Any, type_name: str, type_id: int, cpus: int = 4,
                 pin_path: str | None = None, readonly: bool = False):
        self.spec = spec
        self.name = str(getattr(spec, "name", "") or "map")
        self.type = type_name
        self.type_id = type_id
        self.key_size = _int_field(spec, "key_size", self.name)
        self.value_size = _int_field(spec, "value_size", self.name)
        self.max_entries = _int_field(spec, "max_entries", self.name)
        self.flags = _int_field(spec, "flags", self.name)
        self.map_extra = _map_extra(spec)
        if not 1 <= int(cpus) <= 1024:
            raise MapError(f"map {self.name}: cpus must be between 1 and 1024, not {cpus}", L.EINVAL)
        self.possible_cpus = int(cpus)
        self.cpus = int(cpus) if self.PERCPU else 1
        self.key_dtype = _btf_dtype(getattr(spec, "btf_key_type", None))
        self.value_dtype = _btf_dtype(getattr(spec, "btf_value_type", None))
        if self.flags & ~(self.TYPE_FLAGS | L.COMMON_FLAGS):
            bad = self.flags & ~(self.TYPE_FLAGS | L.COMMON_FLAGS)
            raise self._error(f"map_flags 0x{bad:x} are not valid for a {type_name} map")
        self.validate()
        self.value_stride = L.round8(self.value_size)
        self.entry_stride = self.cpus * self.value_stride
        header = dict(spec_dict(spec), type=type_name, cpus=self.possible_cpus)
        self.storage = L.Storage(self.region_sizes(), header, pin_path, readonly)
        self.pin_path = pin_path
        self.readonly = readonly
        if readonly:
            for name in self.MUTATORS:
                setattr(self, name, self._refuse(name))
        if self.storage.existing_header is not None:
            self._check_pinned(self.storage.existing_header, header)
        self.views = self.storage.views
        self.map_id = next(_IDS)
        self.descriptor = self.storage.descriptor
        self._fill_descriptor()
        self.address = int(self.descriptor.ctypes.data)
        _BY_ADDRESS[self.address] = self
        self.setup()
        if self.storage.created:
            self.init_storage()
            self.load_initial(getattr(spec, "initial", None))

    # -- hooks for subclasses ---------------------------------------------------------
    def validate(self) -> None:
        """Check sizes against the kernel's rules; raise via :meth:`_error`."""

    def region_sizes(self) -> dict[str, int]:
        return {}

    def setup(self) -> None:
        """Build numpy views of the regions (called for new and reopened storage)."""

    def init_storage(self) -> None:
        """Initialise fresh storage (free lists and the like)."""

    def descriptor_fields(self) -> dict[str, int]:
        return {}

    def resolve_programs(self, programs: Any) -> None:
        """Link slots that name programs of the object to the loaded programs (prog_array
        overrides this; other maps hold no programs)."""

    def resolve_maps(self, maps: Any) -> None:
        """Link slots that name other maps of the object to the live maps (map-in-map
        overrides this; other maps hold no maps)."""

    def use_btf(self, btf: Any) -> None:
        """Read keys and values as numpy records built from the object's BTF
        (``spec.btf_key_type``/``btf_value_type`` ids); sizes must match or the type is ignored."""
        from ebpflite.helpers.maps.btftypes import btf_dtype

        key = btf_dtype(btf, int(getattr(self.spec, "btf_key_type", 0) or 0))
        value = btf_dtype(btf, int(getattr(self.spec, "btf_value_type", 0) or 0))
        if key is not None and key.itemsize == self.key_size:
            self.key_dtype = key
        if value is not None and value.itemsize == self.value_size:
            self.value_dtype = value

    # -- construction helpers ------------------------------------------------------------
    def _error(self, message: str, errno: int = L.EINVAL) -> MapError:
        return MapError(f"map {self.name} ({self.type}): {message}", errno)

    def _refuse(self, method: str):
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise self._error(f"{method}: the map was opened read-only", errno.EPERM)
        return refuse

    def _require(self, cond: bool, message: str) -> None:
        if not cond:
            raise self._error(message)

    def _check_pinned(self, old: dict, new: dict) -> None:
        for field in ("type", "key_size", "value_size", "max_entries", "flags", "cpus"):
            if old.get(field) != new.get(field):
                raise self._error(f"pinned map {self.pin_path} has {field}={old.get(field)!r}, "
                                  f"the program wants {new.get(field)!r}")

    def _fill_descriptor(self) -> None:
        d = self.descriptor[0]
        d["magic"] = L.DESCRIPTOR_MAGIC
        d["type"] = self.type_id
        d["key_size"] = self.key_size
        d["value_size"] = self.value_size
        d["max_entries"] = self.max_entries
        d["flags"] = self.flags
        d["ncpus"] = self.cpus
        d["value_stride"] = self.value_stride
        d["entry_stride"] = self.entry_stride
        d["hash_seed"] = L.FNV_OFFSET
        d["values"] = self.storage.address("values")
        d["slots"] = self.storage.address("slots")
        d["meta"] = self.storage.address("meta")
        d["cpu_ptr"] = int(L.CPU_CELL.ctypes.data)
        d["map_id"] = self.map_id
        for key, value in self.descriptor_fields().items():
            d[key] = value

    def load_initial(self, initial: Any) -> None:
        """Apply ``spec.initial``: a dict of key -> value (bytes: see ArrayMap)."""
        if initial is None:
            return
        if isinstance(initial, dict):
            for key, value in initial.items():
                self[key] = value
            return
        raise self._error(f"initial contents of type {type(initial).__name__} are not supported")

    # -- kernel operations (raw bytes; subclasses override) ----------------------------
    def lookup_address(self, key: bytes) -> int:
        """Address of the value a program sees for ``key`` (current CPU), 0 if absent."""
        return 0

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        return -L.EINVAL

    def delete(self, key: Any) -> int:
        return -L.EINVAL

    def lookup_and_delete(self, key: Any) -> bytes | None:
        """The program-view value of ``key``, removed from the map (None if absent)."""
        key = self.key_bytes(key)
        value = self.lookup(key)
        if value is not None and self.delete(key) < 0:
            return None
        return value

    def get_next_key(self, key: Any = None) -> bytes | None:
        """The key after ``key`` (the first key when ``key`` is None or absent); None at the end."""
        keys = list(self._raw_keys())
        if key is None:
            return keys[0] if keys else None
        key = self.key_bytes(key)
        if key not in keys:
            return keys[0] if keys else None
        i = keys.index(key)
        return keys[i + 1] if i + 1 < len(keys) else None

    def value_address(self, offset: int = 0) -> int:
        """Address of the value of key 0 plus ``offset`` (lddw map-value forms)."""
        raise self._error("only array maps have a direct value address")

    def _entry(self, key: bytes) -> np.ndarray | None:
        """The whole stored entry for ``key`` (every CPU's copy), or None."""
        return None

    def _raw_keys(self) -> Iterator[bytes]:
        return iter(())

    def raw_keys(self) -> list[bytes]:
        """Every key as bytes, in iteration order (a snapshot: safe to modify the map meanwhile)."""
        return list(self._raw_keys())

    def regions(self) -> list[Region]:
        """Storage a program may touch through pointers a helper returned.

        The same Region objects come back on every call, so membership tests
        (``region in space.regions``) work by identity.
        """
        if getattr(self, "_region_cache", None) is None:
            writable = not self.flags & L.BPF_F_RDONLY_PROG and not self.readonly
            self._region_cache = [
                Region(f"map {self.name} {name}", self.views[name], "map", writable and name == "values")
                for name in self.exposed_regions() if len(self.views.get(name, ()))]
        return list(self._region_cache)

    def exposed_regions(self) -> tuple[str, ...]:
        return ("values",)

    # -- values as programs and userspace see them --------------------------------------
    def key_bytes(self, key: Any) -> bytes:
        return encode(key, self.key_size, "key", self.name)

    def value_bytes(self, value: Any) -> bytes:
        """A value for :meth:`update`: ``value_size`` bytes (program view) or, for per-CPU maps,
        a list of per-CPU values / the full userspace buffer."""
        if self.PERCPU and isinstance(value, (list, tuple)):
            if len(value) != self.cpus:
                raise self._error(f"per-CPU value needs {self.cpus} entries, got {len(value)}")
            return b"".join(encode(v, self.value_size, "value", self.name).ljust(self.value_stride, b"\0")
                            for v in value)
        if self.PERCPU and isinstance(value, (bytes, bytearray, memoryview)) \
                and len(value) == self.entry_stride and len(value) != self.value_size:
            return bytes(value)
        return encode(value, self.value_size, "value", self.name)

    def _cpu(self, cpu: int | None = None) -> int:
        cpu = L.current_cpu() if cpu is None else int(cpu)
        if not 0 <= cpu < self.cpus:
            if not self.PERCPU:
                return 0
            raise self._error(f"CPU {cpu} is out of range: the map has {self.cpus} CPUs")
        return cpu

    def _write_value(self, entry: np.ndarray, value: bytes, fresh: bool) -> None:
        """Store a validated value into an entry.

        A per-CPU map given the full userspace buffer (every CPU's copy, each
        padded to 8 bytes) sets every copy; otherwise ``value`` is one copy
        and goes to the current CPU, as a program's update does (the other
        copies of a ``fresh`` entry are zeroed, as the kernel does).
        """
        if self.PERCPU and len(value) == self.entry_stride and len(value) != self.value_size:
            for c in range(self.cpus):
                base = c * self.value_stride
                entry[base:base + self.value_size] = np.frombuffer(value[base:base + self.value_size], np.uint8)
            return
        if fresh:
            entry[:] = 0
        base = self._cpu() * self.value_stride
        entry[base:base + self.value_size] = np.frombuffer(value, np.uint8)

    def lookup(self, key: Any, cpu: int | None = None) -> bytes | None:
        """The program-view value (one CPU's copy) as bytes, or None."""
        entry = self._entry(self.key_bytes(key))
        if entry is None:
            return None
        base = self._cpu(cpu) * self.value_stride
        return entry[base:base + self.value_size].tobytes()

    def lookup_percpu(self, key: Any) -> list[bytes] | None:
        """Every CPU's copy of the value (a one-element list for shared maps)."""
        entry = self._entry(self.key_bytes(key))
        if entry is None:
            return None
        return [entry[c * self.value_stride:c * self.value_stride + self.value_size].tobytes()
                for c in range(self.cpus)]

    # -- the Python mapping ---------------------------------------------------------------
    def _decode_value(self, raws: list[bytes]) -> Any:
        values = [decode(r, self.value_dtype) for r in raws]
        return values if self.PERCPU else values[0]

    def __getitem__(self, key: Any) -> Any:
        raws = self.lookup_percpu(key)
        if raws is None:
            raise KeyError(key)
        return self._decode_value(raws)

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.PERCPU and not isinstance(value, (list, tuple, bytes, bytearray, memoryview)):
            value = [value] * self.cpus
        rc = self.update(key, value, L.BPF_ANY)
        if rc < 0:
            raise self._error(f"update failed: {os.strerror(-rc)}", -rc)

    def __delitem__(self, key: Any) -> None:
        rc = self.delete(key)
        if rc == -L.ENOENT:
            raise KeyError(key)
        if rc < 0:
            raise self._error(f"delete failed: {os.strerror(-rc)}", -rc)

    def __contains__(self, key: Any) -> bool:
        try:
            return self._entry(self.key_bytes(key)) is not None
        except MapError:
            return False

    def __len__(self) -> int:
        return sum(1 for _ in self._raw_keys())

    def __iter__(self) -> Iterator[Any]:
        for k in self._raw_keys():
            yield decode(k, self.key_dtype)

    def keys(self) -> list[Any]:
        return list(self)

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[Any, Any]]:
        out = []
        for k in list(self._raw_keys()):
            raws = self.lookup_percpu(k)
            if raws is not None:
                out.append((decode(k, self.key_dtype), self._decode_value(raws)))
        return out

    def raw_items(self) -> list[tuple[bytes, list[bytes]]]:
        """(key bytes, per-CPU value bytes) for every entry: what dump prints."""
        out = []
        for k in list(self._raw_keys()):
            raws = self.lookup_percpu(k)
            if raws is not None:
                out.append((k, raws))
        return out

    def clear(self) -> None:
        for k in list(self._raw_keys()):
            self.delete(k)

    # -- bpftool-style dumps ----------------------------------------------------------------
    def dump(self) -> str:
        """The map as ``bpftool map dump`` prints it without BTF."""
        lines = []
        entries = self.raw_items()
        for key, raws in entries:
            lines.append(self._dump_entry(key, raws))
        n = len(entries)
        lines.append(f"Found {n} element{'' if n == 1 else 's'}")
        return "\n".join(lines) + "\n"

    def _dump_entry(self, key: bytes, raws: list[bytes]) -> str:
        if self.PERCPU:
            parts = ["key:", hex_bytes(key)]
            for cpu, raw in enumerate(raws):
                sep = "\n" if self.value_size > 16 else " "
                parts.append(f"value (CPU {cpu:02d}):{sep}{hex_bytes(raw)}")
            return "\n".join(parts)
        value = raws[0]
        break_names = len(key) > 16 or len(value) > 16
        single_line = len(key) + len(value) <= 24 and not break_names
        text = f"key:{chr(10) if break_names else ' '}{hex_bytes(key)}"
        text += "  " if single_line else "\n"
        return text + f"value:{chr(10) if break_names else ' '}{hex_bytes(value)}"

    def dump_json(self) -> str:
        """The map as ``bpftool -j map dump`` prints it without BTF."""
        out = []
        for key, raws in self.raw_items():
            if self.PERCPU:
                out.append({"key": json_bytes(key),
                            "values": [{"cpu": c, "value": json_bytes(r)} for c, r in enumerate(raws)]})
            else:
                out.append({"key": json_bytes(key), "value": json_bytes(raws[0])})
        return json.dumps(out)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} type={self.type} key_size={self.key_size} "
                f"value_size={self.value_size} max_entries={self.max_entries}>")


def _map_extra(spec: Any) -> int:
    """``map_extra`` (bloom filter hash count): an attribute, or loader.MapSpec's ``extra`` dict."""
    value = getattr(spec, "map_extra", None)
    if value is None:
        value = (getattr(spec, "extra", None) or {}).get("map_extra", 0)
    return int(value or 0)


def _int_field(spec: Any, field: str, name: str) -> int:
    value = getattr(spec, field, 0)
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise MapError(f"map {name}: {field} must be an integer, not {value!r}", L.EINVAL)
    if not 0 <= int(value) < 1 << 32:
        raise MapError(f"map {name}: {field} {value} is out of range (0..2**32-1)", L.EINVAL)
    return int(value)
