"""A parser of our own for the ``.BTF`` section (BPF Type Format).

Why our own: the loader needs BTF to read BTF-defined maps (``.maps``),
global variables and function names, and the CLI dumps it the way
``bpftool btf dump file`` does, without libbpf. Every kind the kernel
defines is decoded (int, ptr, array, struct, union, enum, fwd, typedef,
volatile, const, restrict, func, func_proto, var, datasec, float,
decl_tag, type_tag, enum64). Malformed data (bad offsets, unknown kinds,
type ids out of range, reference loops) ends in :class:`BTFError`.

Layout (kernel ``include/uapi/linux/btf.h``)::

    header: magic u16 (0xeB9F), version u8, flags u8, hdr_len u32,
            type_off u32, type_len u32, str_off u32, str_len u32
    type:   name_off u32, info u32 (vlen:16, kind:5 at bit 24, kind_flag bit 31),
            size_or_type u32, then kind-specific data
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from ebpflite.vm.errors import BTFError

BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")
MAX_RESOLVE_DEPTH = 32  #: libbpf's limit on modifier/typedef chains


class Kind(IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


#: kinds whose third word is a type id (the others hold a size or nothing)
REF_KINDS = {Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC,
             Kind.FUNC_PROTO, Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG}
#: kinds skipped when resolving a type to what it really is
MODIFIER_KINDS = {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}
FUNC_LINKAGE = {0: "static", 1: "global", 2: "extern"}
VAR_LINKAGE = {0: "static", 1: "global", 2: "extern"}
INT_ENCODING = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}


@dataclass(frozen=True)
class Member:
    """A struct/union member, enum value, func_proto parameter or datasec entry."""

    name: str = ""
    type_id: int = 0
    offset: int = 0  #: bit offset (struct/union), byte offset (datasec)
    bitfield_size: int = 0
    value: int = 0  #: enum value
    size: int = 0  #: datasec entry size


@dataclass
class BtfType:
    """One BTF type. ``size_or_type`` is a size for sized kinds, a type id for references."""

    id: int
    kind: Kind
    name: str
    kind_flag: bool
    vlen: int
    size_or_type: int
    members: list[Member] = field(default_factory=list)
    #: INT: (encoding, bit offset, bits); ARRAY: (elem type, index type, nelems);
    #: VAR: (linkage,); DECL_TAG: (component_idx,)
    extra: tuple[int, ...] = ()

    @property
    def type_id(self) -> int:
        return self.size_or_type

    @property
    def size(self) -> int:
        return self.size_or_type


_KIND_EXTRA = {  # fixed-size data after the 12-byte type header, and per-member size
    Kind.INT: (4, 0), Kind.ARRAY: (12, 0), Kind.STRUCT: (0, 12), Kind.UNION: (0, 12),
    Kind.ENUM: (0, 8), Kind.FUNC_PROTO: (0, 8), Kind.VAR: (4, 0), Kind.DATASEC: (0, 12),
    Kind.DECL_TAG: (4, 0), Kind.ENUM64: (0, 12),
}


class Btf:
    """Parsed ``.BTF``: ``types[id]`` (id 0 is void, held as ``None``)."""

    def __init__(self, data: bytes, file: str | None = None, section: str = ".BTF"):
        self.file = file
        self.section = section
        self.raw = bytes(data)
        self.types: list[BtfType | None] = [None]
        self._parse()
        self._by_name: dict[str, list[BtfType]] = {}
        for t in self.types[1:]:
            if t is not None and t.name:
                self._by_name.setdefault(t.name, []).append(t)

    # --- parsing ----------------------------------------------------------------------

    def _error(self, message: str) -> BTFError:
        return BTFError(message, self.file, self.section)

    def _read_header(self) -> bytes:
        """Check the header and the string section (sets ``strings``); returns the type section.

        Shared by the eager parse and the lazy reader of large targets, so both refuse the same
        damaged data with the same messages."""
        data = self.raw
        if len(data) < _HEADER.size:
            raise self._error(f"BTF header truncated ({len(data)} bytes, need {_HEADER.size})")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
        if magic == 0x9FEB:
            raise self._error("big-endian BTF is not supported")
        if magic != BTF_MAGIC:
            raise self._error(f"bad BTF magic 0x{magic:04x} (expected 0xeb9f)")
        if version != 1:
            raise self._error(f"unsupported BTF version {version}")
        if hdr_len < _HEADER.size or hdr_len > len(data):
            raise self._error(f"bad BTF header length {hdr_len}")
        body = len(data) - hdr_len
        for what, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
            if off + length > body:
                raise self._error(f"BTF {what} section [{off}, {off + length}) exceeds the data ({body} bytes)")
        if type_off % 4:
            raise self._error(f"BTF type section offset {type_off} is not 4-byte aligned")
        self.strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
        if str_len and self.strings[0] != 0:
            raise self._error("BTF string section does not start with an empty string")
        if str_len and self.strings[-1] != 0:
            raise self._error("BTF string section is not NUL-terminated")
        return data[hdr_len + type_off: hdr_len + type_off + type_len]

    def _parse(self) -> None:
        types = self._read_header()
        pos = 0
        while pos < len(types):
            tid = len(self.types)
            if pos + _TYPE.size > len(types):
                raise self._error(f"type [{tid}] truncated at offset {pos}")
            name_off, info, size_or_type = _TYPE.unpack_from(types, pos)
            pos += _TYPE.size
            kind_no = (info >> 24) & 0x1F
            if kind_no == 0 or kind_no > max(Kind):
                raise self._error(f"type [{tid}] has unknown kind {kind_no}")
            kind = Kind(kind_no)
            vlen = info & 0xFFFF
            fixed, per = _KIND_EXTRA.get(kind, (0, 0))
            need = fixed + per * vlen
            if pos + need > len(types):
                raise self._error(f"type [{tid}] ({kind.name}) truncated: needs {need} more bytes")
            t = BtfType(tid, kind, self.string(name_off, tid), bool(info >> 31), vlen, size_or_type)
            self._decode_extra(t, types, pos)
            pos += need
            self.types.append(t)
        self._check_references()

    def _decode_extra(self, t: BtfType, buf: bytes, pos: int) -> None:
        kind = t.kind
        if kind is Kind.INT:
            (enc,) = struct.unpack_from("<I", buf, pos)
            t.extra = ((enc >> 24) & 0x0F, (enc >> 16) & 0xFF, enc & 0xFF)
        elif kind is Kind.ARRAY:
            t.extra = struct.unpack_from("<III", buf, pos)
        elif kind in (Kind.VAR, Kind.DECL_TAG):
            t.extra = struct.unpack_from("<i" if kind is Kind.DECL_TAG else "<I", buf, pos)
        elif kind in (Kind.STRUCT, Kind.UNION):
            for i in range(t.vlen):
                name_off, mtype, moff = struct.unpack_from("<III", buf, pos + 12 * i)
                if t.kind_flag:
                    t.members.append(Member(self.string(name_off, t.id), mtype, moff & 0xFFFFFF, moff >> 24))
                else:
                    t.members.append(Member(self.string(name_off, t.id), mtype, moff))
        elif kind is Kind.ENUM:
            for i in range(t.vlen):
                name_off, val = struct.unpack_from("<Ii" if t.kind_flag else "<II", buf, pos + 8 * i)
                t.members.append(Member(self.string(name_off, t.id), value=val))
        elif kind is Kind.ENUM64:
            for i in range(t.vlen):
                name_off, lo, hi = struct.unpack_from("<III", buf, pos + 12 * i)
                val = lo | hi << 32
                if t.kind_flag and val >= 1 << 63:
                    val -= 1 << 64
                t.members.append(Member(self.string(name_off, t.id), value=val))
        elif kind is Kind.FUNC_PROTO:
            for i in range(t.vlen):
                name_off, ptype = struct.unpack_from("<II", buf, pos + 8 * i)
                t.members.append(Member(self.string(name_off, t.id), ptype))
        elif kind is Kind.DATASEC:
            for i in range(t.vlen):
                vtype, voff, vsize = struct.unpack_from("<III", buf, pos + 12 * i)
                t.members.append(Member("", vtype, voff, size=vsize))

    def _check_references(self) -> None:
        n = len(self.types)
        for t in self.types[1:]:
            refs = [m.type_id for m in t.members if t.kind is not Kind.ENUM and t.kind is not Kind.ENUM64]
            if t.kind in REF_KINDS:
                refs.append(t.size_or_type)
            if t.kind is Kind.ARRAY:
                refs.extend(t.extra[:2])
            for ref in refs:
                if ref >= n:
                    raise self._error(f"type [{t.id}] ({t.kind.name} '{t.name}') refers to type {ref}, "
                                      f"but there are only {n - 1} types")

    def string(self, offset: int, tid: int | None = None) -> str:
        """The NUL-terminated string at ``offset`` of the string section."""
        if offset >= len(self.strings):
            if offset == 0:
                return ""
            where = f"type [{tid}]: " if tid is not None else ""
            raise self._error(f"{where}string offset {offset} is outside the string section "
                              f"({len(self.strings)} bytes)")
        end = self.strings.index(b"\0", offset)
        return self.strings[offset:end].decode("utf-8", errors="replace")

    # --- queries ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.types) - 1

    def __getitem__(self, tid: int) -> BtfType:
        if not 0 < tid < len(self.types):
            raise self._error(f"type id {tid} is out of range (1..{len(self.types) - 1})")
        t = self.types[tid]
        assert t is not None
        return t

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        for t in self._by_name.get(name, ()):
            if kind is None or t.kind is kind:
                return t
        return None

    def resolve(self, tid: int) -> BtfType | None:
        """Skip typedefs and modifiers; None for void. Loops raise BTFError."""
        seen = 0
        while tid:
            t = self[tid]
            if t.kind not in MODIFIER_KINDS:
                return t
            tid = t.size_or_type
            seen += 1
            if seen > MAX_RESOLVE_DEPTH:
                raise self._error(f"type [{t.id}] is part of a reference loop (or a chain longer than "
                                  f"{MAX_RESOLVE_DEPTH})")
        return None

    def size_of(self, tid: int, _depth: int = 0) -> int:
        """Byte size of a type, as the kernel's btf_type_size would compute it."""
        if _depth > MAX_RESOLVE_DEPTH:
            raise self._error(f"type [{tid}] is part of a reference loop (or a chain longer than "
                              f"{MAX_RESOLVE_DEPTH})")
        t = self.resolve(tid)
        if t is None:
            raise self._error("size of void requested")
        if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT):
            return t.size
        if t.kind is Kind.PTR:
            return 8
        if t.kind is Kind.ARRAY:
            return t.extra[2] * self.size_of(t.extra[0], _depth + 1)
        if t.kind is Kind.VAR:
            return self.size_of(t.size_or_type, _depth + 1)
        raise self._error(f"type [{t.id}] ({t.kind.name}) has no size")

    def type_name(self, tid: int, _depth: int = 0) -> str:
        """A C-like spelling of a type, for listings (``struct xdp_md *``, ``unsigned int``)."""
        if tid == 0:
            return "void"
        if _depth > MAX_RESOLVE_DEPTH:
            return "..."
        t = self[tid]
        prefix = {Kind.STRUCT: "struct ", Kind.UNION: "union ", Kind.ENUM: "enum ", Kind.ENUM64: "enum "}
        if t.kind is Kind.PTR:
            return self.type_name(t.size_or_type, _depth + 1) + " *"
        if t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            return f"{t.kind.name.lower()} {self.type_name(t.size_or_type, _depth + 1)}"
        if t.kind is Kind.TYPE_TAG:
            return self.type_name(t.size_or_type, _depth + 1)
        if t.kind is Kind.ARRAY:
            return f"{self.type_name(t.extra[0], _depth + 1)}[{t.extra[2]}]"
        if t.kind is Kind.FWD:
            return ("union " if t.kind_flag else "struct ") + t.name
        return prefix.get(t.kind, "") + (t.name or "(anon)")

    def functions(self) -> dict[str, BtfType]:
        return {t.name: t for t in self.types[1:] if t is not None and t.kind is Kind.FUNC}

    # --- bpftool-compatible dump ------------------------------------------------------

    def dump(self) -> str:
        """The text ``bpftool btf dump file X.o`` prints (format of bpftool 7)."""
        return "\n".join(self.dump_type(t) for t in self.types[1:] if t is not None) + "\n"

    def dump_type(self, t: BtfType) -> str:
        name = t.name or "(anon)"
        head = f"[{t.id}] {t.kind.name} '{name}'"
        k = t.kind
        if k is Kind.INT:
            enc, bit_off, bits = t.extra
            enc_name = INT_ENCODING.get(enc, "UNKN")
            return f"{head} size={t.size} bits_offset={bit_off} nr_bits={bits} encoding={enc_name}"
        if k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF, Kind.TYPE_TAG):
            return f"{head} type_id={t.size_or_type}"
        if k is Kind.ARRAY:
            return f"{head} type_id={t.extra[0]} index_type_id={t.extra[1]} nr_elems={t.extra[2]}"
        if k in (Kind.STRUCT, Kind.UNION):
            lines = [f"{head} size={t.size} vlen={t.vlen}"]
            for m in t.members:
                line = f"\t'{m.name or '(anon)'}' type_id={m.type_id} bits_offset={m.offset}"
                if m.bitfield_size:
                    line += f" bitfield_size={m.bitfield_size}"
                lines.append(line)
            return "\n".join(lines)
        if k in (Kind.ENUM, Kind.ENUM64):
            sign = "SIGNED" if t.kind_flag else "UNSIGNED"
            lines = [f"{head} encoding={sign} size={t.size} vlen={t.vlen}"]
            for m in t.members:
                suffix = ("LL" if t.kind_flag else "ULL") if k is Kind.ENUM64 else ""
                lines.append(f"\t'{m.name}' val={m.value}{suffix}")
            return "\n".join(lines)
        if k is Kind.FWD:
            return f"{head} fwd_kind={'union' if t.kind_flag else 'struct'}"
        if k is Kind.FUNC:
            return f"{head} type_id={t.size_or_type} linkage={FUNC_LINKAGE.get(t.vlen, 'UNKN')}"
        if k is Kind.FUNC_PROTO:
            lines = [f"{head} ret_type_id={t.size_or_type} vlen={t.vlen}"]
            lines += [f"\t'{m.name or '(anon)'}' type_id={m.type_id}" for m in t.members]
            return "\n".join(lines)
        if k is Kind.VAR:
            return f"{head} type_id={t.size_or_type}, linkage={VAR_LINKAGE.get(t.extra[0], 'UNKN')}"
        if k is Kind.DATASEC:
            lines = [f"{head} size={t.size} vlen={t.vlen}"]
            for m in t.members:
                var = self.types[m.type_id] if m.type_id < len(self.types) else None
                vdesc = f" ({var.kind.name} '{var.name or '(anon)'}')" if var is not None else ""
                lines.append(f"\ttype_id={m.type_id} offset={m.offset} size={m.size}{vdesc}")
            return "\n".join(lines)
        if k is Kind.FLOAT:
            return f"{head} size={t.size}"
        if k is Kind.DECL_TAG:
            return f"{head} type_id={t.size_or_type} component_idx={t.extra[0]}"
        return head  # pragma: no cover - every kind is handled above


def parse_btf(data: bytes, file: str | None = None) -> Btf:
    """Parse a ``.BTF`` section; raises :class:`BTFError` on malformed data."""
    try:
        return Btf(data, file)
    except (struct.error, ValueError, IndexError) as exc:  # defensive: report, never leak
        raise BTFError(f"malformed BTF ({exc})", file, ".BTF") from None


class LazyBtf(Btf):
    """A large BTF (a kernel's ``/sys/kernel/btf/vmlinux``: ~130k types, ~5 MB) decoded on demand.

    Why: CO-RE relocation needs a handful of the target's types, found by name. Decoding all of
    vmlinux takes seconds in Python; scanning the type headers once (offsets, kinds, name offsets)
    takes a fraction of that, and a type is decoded the first time it is asked for. Damaged data
    still ends in :class:`BTFError`: the scan checks every header's extent, a decoded type's
    references are checked when it is decoded.
    """

    def __init__(self, data: bytes, file: str | None = None, section: str = "BTF"):  # no Btf.__init__: no eager parse
        self.file = file
        self.section = section
        self.raw = bytes(data)
        self._scan()

    def _scan(self) -> None:
        self._types_blob = self._read_header()
        types, unpack = self._types_blob, _TYPE.unpack_from
        # per kind number: (fixed bytes, bytes per member); None for numbers that are no kind
        extra = [None] + [_KIND_EXTRA.get(k, (0, 0)) for k in sorted(Kind) if k]
        extra += [None] * (32 - len(extra))
        offsets, name_offs = [0], [0]
        add_offset, add_name = offsets.append, name_offs.append
        pos, end, head = 0, len(types), _TYPE.size
        while pos < end:
            if pos + head > end:
                raise self._error(f"type [{len(offsets)}] truncated at offset {pos}")
            name_off, info, _ = unpack(types, pos)
            sizes = extra[(info >> 24) & 0x1F]
            if sizes is None:
                raise self._error(f"type [{len(offsets)}] has unknown kind {(info >> 24) & 0x1F}")
            add_offset(pos)
            add_name(name_off)
            pos += head + sizes[0] + sizes[1] * (info & 0xFFFF)
        if pos != end:
            raise self._error(f"type [{len(offsets) - 1}] extends past the type section")
        self._offsets = offsets
        self._name_offs = name_offs
        self.types = [None] * len(offsets)
        self._by_name_off: dict[int, list[int]] | None = None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, tid: int) -> BtfType:
        if not 0 < tid < len(self._offsets):
            raise self._error(f"type id {tid} is out of range (1..{len(self._offsets) - 1})")
        t = self.types[tid]
        if t is None:
            pos = self._offsets[tid]
            name_off, info, size_or_type = _TYPE.unpack_from(self._types_blob, pos)
            t = BtfType(tid, Kind((info >> 24) & 0x1F), self.string(name_off, tid), bool(info >> 31),
                        info & 0xFFFF, size_or_type)
            self._decode_extra(t, self._types_blob, pos + _TYPE.size)
            self._check_type(t)
            self.types[tid] = t
        return t

    def _check_type(self, t: BtfType) -> None:
        n = len(self._offsets)
        refs = [m.type_id for m in t.members] if t.kind not in (Kind.ENUM, Kind.ENUM64) else []
        if t.kind in REF_KINDS:
            refs.append(t.size_or_type)
        if t.kind is Kind.ARRAY:
            refs.extend(t.extra[:2])
        for ref in refs:
            if ref >= n:
                raise self._error(f"type [{t.id}] ({t.kind.name} '{t.name}') refers to type {ref}, "
                                  f"but there are only {n - 1} types")

    def named(self, name: str) -> list[int]:
        """Ids of the types called ``name`` exactly."""
        if self._by_name_off is None:
            index: dict[int, list[int]] = {}
            for tid, off in enumerate(self._name_offs):
                if off:
                    index.setdefault(off, []).append(tid)
            self._by_name_off = index
        out: list[int] = []
        needle = b"\0" + name.encode() + b"\0"
        at = self.strings.find(needle)
        while at >= 0:
            out.extend(self._by_name_off.get(at + 1, ()))
            at = self.strings.find(needle, at + 1)
        return sorted(set(out))

    def named_like(self, prefix: str) -> list[int]:
        """Ids of the types whose name starts with ``prefix`` (CO-RE flavours: ``task_struct___v2``)."""
        if self._by_name_off is None:
            self.named("")
        assert self._by_name_off is not None
        out: list[int] = []
        needle = b"\0" + prefix.encode()
        at = self.strings.find(needle)
        while at >= 0:
            out.extend(self._by_name_off.get(at + 1, ()))
            at = self.strings.find(needle, at + 1)
        return sorted(set(out))

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        for tid in self.named(name):
            t = self[tid]
            if kind is None or t.kind is kind:
                return t
        return None

    def functions(self) -> dict[str, BtfType]:
        return {self[i].name: self[i] for i in range(1, len(self._offsets)) if self[i].kind is Kind.FUNC}

    def dump(self) -> str:
        return "\n".join(self.dump_type(self[i]) for i in range(1, len(self._offsets))) + "\n"


def parse_target_btf(data: bytes, file: str | None = None) -> LazyBtf:
    """A target BTF for CO-RE (a kernel's vmlinux BTF, ``--btf FILE``), decoded on demand."""
    try:
        return LazyBtf(data, file)
    except (struct.error, ValueError, IndexError) as exc:
        raise BTFError(f"malformed BTF ({exc})", file, "BTF") from None
