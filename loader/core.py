"""CO-RE: relocating field offsets, sizes and type facts against the target kernel's BTF.

Why: a program built with ``__builtin_preserve_access_index`` (``BPF_CORE_READ``, ``vmlinux.h``,
``bpf_core_field_exists``...) does not hard-code where a kernel struct's fields are; clang records
each such access in ``.BTF.ext`` as a relocation (instruction, local type, access string, kind),
and the loader must fill in the values of the kernel the program runs against. This module does
what libbpf's ``relo_core.c`` does, rule for rule, so that an object gets the same instructions
here as in the kernel:

1. the *local spec*: the access string (``0:1:2``: index into the root pointer, then member or
   array indexes) walked through the object's own BTF (named members, bit offset);
2. *candidates*: target types of the same kind whose name equals the local name without its
   ``___flavour`` suffix, cached per local type and narrowed to the ones that matched after each
   relocation (libbpf's order: the object's ``.BTF.ext`` records, once per object);
3. *matching*: every named member found by name in the candidate (looking through anonymous
   structs and unions), with compatible types; array indexes within bounds;
4. the *value* for the relocation's kind: field byte offset/size/exists/signed/lshift/rshift,
   type id (local/target), type exists/size/matches, enum value exists/value. Every candidate that
   matches must give the same value (else the relocation is ambiguous);
5. *patching* the instruction: an ALU immediate, a load/store offset (and access size when the
   target field is smaller, for pointers and unsigned integers only), or a 64-bit immediate, after
   checking it holds the local value the compiler put there.

A field or enum value the target does not have is not a load error, as with libbpf: the
instruction is replaced by a call to helper ``0xbad2310`` ("poisoned"), because programs guard
such accesses with ``bpf_core_field_exists()`` and the like, and the verifier removes the guarded
code. ``Program.meta["core"]["poisoned"]`` keeps, by pc, the message that names the relocation;
the verifier reports it if the instruction is reachable. Relocations that cannot be applied at all
(malformed access strings, an instruction of the wrong form, ambiguity) raise LoaderError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ebpflite.loader.btf import Btf, BtfType, Kind, LazyBtf, parse_target_btf
from ebpflite.loader.btf_ext import CoreRelo
from ebpflite.vm.errors import BTFError, LoaderError
from ebpflite.vm.insn import SLOT
from ebpflite.vm.isa import BY_NAME, BYTES_SIZE, CLASS_MASK, LDDW_OPCODE, SIZE_BYTES, SIZE_MASK, SRC_X, Class

#: libbpf's "poisoned" instruction: a call to this invalid helper number
POISON_HELPER = 0xBAD2310
#: where the running kernel publishes its own BTF
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
MAX_SPEC_LEN = 64  #: libbpf's BPF_CORE_SPEC_MAX_LEN
MAX_DEPTH = 32
MASK64 = (1 << 64) - 1

FIELD_KINDS = {"field_byte_offset", "field_byte_size", "field_exists", "field_signed", "field_lshift_u64",
               "field_rshift_u64"}
TYPE_KINDS = {"type_id_local", "type_id_target", "type_exists", "type_size", "type_matches"}
ENUM_KINDS = {"enumval_exists", "enumval_value"}
#: relocations whose value says whether something exists: 0 when it does not, never poisoned
EXISTENCE_KINDS = {"field_exists", "type_exists", "type_matches", "enumval_exists"}

#: the opcodes relocation patches and poisons with, from the ISA table (vm/isa.py)
OP_CALL = BY_NAME["call"][0].opcode
OP_LDDW = LDDW_OPCODE


class CoreError(Exception):
    """A relocation that cannot be applied; the loader turns it into a LoaderError naming it."""


# --- target BTF ------------------------------------------------------------------------------------

_TARGETS: dict[tuple[str, int, int], LazyBtf] = {}


def target_btf(btf: str | os.PathLike | bytes | Btf | None) -> Btf | None:
    """The target BTF to relocate against: ``btf`` itself, a file, or the running kernel's.

    None means ``/sys/kernel/btf/vmlinux`` when it exists (else None). Files are parsed lazily
    and kept per (path, size, mtime), so loading many objects reads vmlinux once.
    """
    if isinstance(btf, Btf):
        return btf
    if isinstance(btf, (bytes, bytearray, memoryview)):
        return _target_from_bytes(bytes(btf), "<btf bytes>")
    path = Path(btf) if btf is not None else Path(VMLINUX_BTF)
    if btf is None and not path.exists():
        return None
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _TARGETS:
            _TARGETS[key] = _target_from_bytes(path.read_bytes(), str(path))
    except OSError as exc:
        raise LoaderError(f"cannot read the target BTF: {exc.strerror or exc}", str(path)) from None
    return _TARGETS[key]


def _target_from_bytes(data: bytes, name: str) -> Btf:
    if data[:4] == b"\x7fELF":  # an object or vmlinux ELF: its .BTF section
        from ebpflite.loader.elf import read_elf

        sec = read_elf(data, name).section(".BTF")
        if sec is None:
            raise LoaderError("the target BTF file is an ELF file without a .BTF section", name)
        data = sec.data
    return parse_target_btf(data, name)


# --- names -----------------------------------------------------------------------------------------


def essential_name(name: str) -> str:
    """The name without a CO-RE flavour: ``task_struct___v1`` -> ``task_struct`` (libbpf's rule)."""
    for i in range(len(name) - 5, -1, -1):
        s = name[i:i + 5]
        if s[0] != "_" and s[1:4] == "___" and s[4] != "_":
            return name[:i + 1]
    return name


def _names_match(a: str, b: str) -> bool:
    if not b:
        return not a
    return essential_name(a) == essential_name(b)


def _skip(btf: Btf, tid: int) -> tuple[BtfType | None, int]:
    """Skip typedefs and modifiers: (type or None for void, its id)."""
    for _ in range(MAX_DEPTH):
        if tid == 0:
            return None, 0
        t = btf[tid]
        if t.kind not in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
            return t, tid
        tid = t.size_or_type
    raise CoreError(f"type [{tid}] is part of a reference loop")


def _is_composite(t: BtfType | None) -> bool:
    return t is not None and t.kind in (Kind.STRUCT, Kind.UNION)


def _is_enum(t: BtfType | None) -> bool:
    return t is not None and t.kind in (Kind.ENUM, Kind.ENUM64)


def _kinds_compatible(a: BtfType, b: BtfType) -> bool:
    return a.kind is b.kind or (_is_enum(a) and _is_enum(b))


def _size(btf: Btf, tid: int) -> int:
    try:
        return btf.size_of(tid)
    except BTFError as exc:
        raise CoreError(exc.reason) from None


# --- specs -----------------------------------------------------------------------------------------


@dataclass
class Accessor:
    type_id: int  #: the composite (named access) or array element type (index access)
    idx: int
    name: str | None  #: member or enumerator name; None for an array index


@dataclass
class Spec:
    btf: Btf
    root_type_id: int
    kind: str
    raw: list[int] = field(default_factory=list)
    acc: list[Accessor] = field(default_factory=list)
    bit_offset: int = 0

    def path(self) -> str:
        """``sock.__sk_common.skc_family``, ``task_struct.comm[2]``, ``enum pid_type::PIDTYPE_TGID``."""
        root = self.btf[self.root_type_id] if self.root_type_id else None
        text = root.name if root is not None and root.name else f"[{self.root_type_id}]"
        if self.kind in ENUM_KINDS:
            return f"{text}::{self.acc[0].name}" if self.acc else text
        if self.acc and self.acc[0].idx:
            text += f"[{self.acc[0].idx}]"
        for a in self.acc[1:]:
            text += f".{a.name}" if a.name is not None else f"[{a.idx}]"
        return text


def parse_access(access: str) -> list[int]:
    try:
        raw = [int(x) for x in access.split(":")]
    except ValueError:
        raise CoreError(f"access string '{access}' is not a list of numbers separated by ':'") from None
    negative = [x for x in raw if x < 0]
    if negative:
        raise CoreError(f"access string '{access}' is malformed: index {negative[0]} is negative")
    if len(raw) > MAX_SPEC_LEN:
        raise CoreError(f"access string '{access}' is malformed: {len(raw)} parts, at most {MAX_SPEC_LEN} "
                        "(libbpf's BPF_CORE_SPEC_MAX_LEN)")
    return raw


def local_spec(btf: Btf, relo: CoreRelo) -> Spec:
    """libbpf's bpf_core_parse_spec over the object's own BTF."""
    raw = parse_access(relo.access)
    spec = Spec(btf, relo.type_id, relo.kind, raw)
    if relo.type_id <= 0 or relo.type_id > len(btf):
        raise CoreError(f"relocation names type id {relo.type_id}, which the object's BTF does not have")
    if relo.kind in TYPE_KINDS:
        if raw != [0]:
            raise CoreError(f"a {relo.kind} relocation must have access string '0', not '{relo.access}'")
        return spec
    t, tid = _skip(btf, relo.type_id)
    if t is None:
        raise CoreError("relocation of void")
    spec.acc.append(Accessor(tid, raw[0], None))
    if relo.kind in ENUM_KINDS:
        if not _is_enum(t) or len(raw) > 1 or raw[0] >= len(t.members):
            raise CoreError(f"access string '{relo.access}' does not name an enumerator of {btf.type_name(tid)}")
        spec.acc[0].name = t.members[raw[0]].name
        return spec
    if relo.kind not in FIELD_KINDS:
        raise CoreError(f"unknown relocation kind {relo.kind}")
    spec.bit_offset = raw[0] * _size(btf, tid) * 8
    for i, index in enumerate(raw[1:], start=1):
        t, tid = _skip(btf, tid)
        if _is_composite(t):
            if index >= len(t.members):
                raise CoreError(f"access string '{relo.access}': {btf.type_name(tid)} has no member {index}")
            m = t.members[index]
            spec.bit_offset += m.offset
            if m.name:
                spec.acc.append(Accessor(tid, index, m.name))
            tid = m.type_id
        elif t is not None and t.kind is Kind.ARRAY:
            elem, tid = _skip(btf, t.extra[0])
            if elem is None:
                raise CoreError("array of void")
            if not _is_flex(btf, spec.acc[-1], t) and index >= t.extra[2]:
                raise CoreError(f"access string '{relo.access}': index {index} is past the array's "
                                f"{t.extra[2]} elements")
            spec.acc.append(Accessor(tid, index, None))
            spec.bit_offset += index * _size(btf, tid) * 8
        else:
            what = "void" if t is None else t.kind.name
            raise CoreError(f"access string '{relo.access}' indexes into {what} at position {i}")
    return spec


def _is_flex(btf: Btf, acc: Accessor, arr: BtfType) -> bool:
    """A zero-length array that is the last member of its struct (libbpf's is_flex_arr)."""
    if acc.name is None or arr.extra[2]:
        return False
    t = btf[acc.type_id]
    return _is_composite(t) and acc.idx == len(t.members) - 1


# --- matching a candidate --------------------------------------------------------------------------


def _fields_compatible(lb: Btf, lid: int, tb: Btf, tid: int) -> bool:
    for _ in range(MAX_DEPTH):
        lt, lid = _skip(lb, lid)
        tt, tid = _skip(tb, tid)
        if lt is None or tt is None:
            return lt is None and tt is None
        if _is_composite(lt) and _is_composite(tt):
            return True
        if lt.kind is not tt.kind and not (_is_enum(lt) and _is_enum(tt)):
            return False
        if lt.kind in (Kind.PTR, Kind.FLOAT):
            return True
        if lt.kind in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            a, b = essential_name(lt.name), essential_name(tt.name)
            return not a or not b or a == b
        if lt.kind is Kind.INT:
            return lt.extra[1] == 0 and tt.extra[1] == 0
        if lt.kind is Kind.ARRAY:
            lid, tid = lt.extra[0], tt.extra[0]
            continue
        return False
    raise CoreError("type nesting too deep")


def _match_member(local: Spec, acc: Accessor, tb: Btf, targ_id: int, targ: Spec, depth: int = 0) -> int | None:
    """Find ``acc``'s member by name in composite ``targ_id`` (looking into anonymous members);
    returns the member's type id, or None. Extends ``targ`` like libbpf's bpf_core_match_member."""
    if depth > MAX_DEPTH:
        raise CoreError("struct nesting too deep")
    lt = local.btf[acc.type_id]
    lm = lt.members[acc.idx]
    tt, targ_id = _skip(tb, targ_id)
    if not _is_composite(tt):
        return None
    for i, m in enumerate(tt.members):
        if len(targ.raw) >= MAX_SPEC_LEN:
            raise CoreError("struct nesting too deep")
        targ.bit_offset += m.offset
        targ.raw.append(i)
        if not m.name:
            found = _match_member(local, acc, tb, m.type_id, targ, depth + 1)
            if found is not None:
                return found
        elif m.name == lm.name:
            if not _fields_compatible(local.btf, lm.type_id, tb, m.type_id):
                return None
            targ.acc.append(Accessor(targ_id, i, m.name))
            return m.type_id
        targ.bit_offset -= m.offset
        targ.raw.pop()
    return None


def match(local: Spec, tb: Btf, targ_id: int) -> Spec | None:
    """The target spec for candidate ``targ_id``, or None when it does not match."""
    targ = Spec(tb, targ_id, local.kind)
    if local.kind in TYPE_KINDS:
        ok = types_match(local.btf, local.root_type_id, tb, targ_id) if local.kind == "type_matches" \
            else types_compatible(local.btf, local.root_type_id, tb, targ_id)
        return targ if ok else None
    if local.kind in ENUM_KINDS:
        t, tid = _skip(tb, targ_id)
        if not _is_enum(t):
            return None
        want = essential_name(local.acc[0].name or "")
        for i, m in enumerate(t.members):
            if essential_name(m.name) == want:
                targ.acc.append(Accessor(tid, i, m.name))
                targ.raw.append(i)
                return targ
        return None
    for i, acc in enumerate(local.acc):
        t, targ_id = _skip(tb, targ_id)
        if t is None:
            return None
        if acc.name is not None:
            nxt = _match_member(local, acc, tb, targ_id, targ)
            if nxt is None:
                return None
            targ_id = nxt
        else:
            if i > 0:
                if t.kind is not Kind.ARRAY:
                    return None
                if not _is_flex(tb, targ.acc[-1], t) and acc.idx >= t.extra[2]:
                    return None
                elem, targ_id = _skip(tb, t.extra[0])
                if elem is None:
                    return None
            targ.acc.append(Accessor(targ_id, acc.idx, None))
            targ.raw.append(acc.idx)
            targ.bit_offset += acc.idx * _size(tb, targ_id) * 8
    return targ


def types_compatible(lb: Btf, lid: int, tb: Btf, tid: int, level: int = MAX_DEPTH) -> bool:
    """libbpf's bpf_core_types_are_compat (type_exists, type_size, type_id_target)."""
    for _ in range(MAX_DEPTH):
        lt, lid = _skip(lb, lid)
        tt, tid = _skip(tb, tid)
        if lt is None or tt is None:
            return lt is None and tt is None
        if not _kinds_compatible(lt, tt):
            return False
        if lt.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            return True
        if lt.kind is Kind.INT:
            return lt.extra[1] == 0 and tt.extra[1] == 0
        if lt.kind is Kind.PTR:
            lid, tid = lt.size_or_type, tt.size_or_type
        elif lt.kind is Kind.ARRAY:
            lid, tid = lt.extra[0], tt.extra[0]
        elif lt.kind is Kind.FUNC_PROTO:
            if len(lt.members) != len(tt.members) or level <= 0:
                return False
            for a, b in zip(lt.members, tt.members, strict=True):
                if not types_compatible(lb, a.type_id, tb, b.type_id, level - 1):
                    return False
            lid, tid = lt.size_or_type, tt.size_or_type
        else:
            return False
    raise CoreError("type nesting too deep")


def types_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool = False, level: int = MAX_DEPTH) -> bool:
    """libbpf's bpf_core_types_match (type_matches): names, members and enumerators agree."""
    if level <= 0:
        raise CoreError("type nesting too deep")
    for _ in range(MAX_DEPTH):
        lt, lid = _skip(lb, lid)
        tt, tid = _skip(tb, tid)
        if lt is None or tt is None:
            return lt is None and tt is None
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk is Kind.FWD:
            if behind_ptr and tk is not Kind.FWD:
                return (tk is Kind.STRUCT and not lt.kind_flag) or (tk is Kind.UNION and lt.kind_flag)
            return lk is tk and lt.kind_flag == tt.kind_flag
        if lk in (Kind.ENUM, Kind.ENUM64):
            if not _is_enum(tt) or lt.size != tt.size or len(lt.members) > len(tt.members):
                return False
            return all(any(_names_match(a.name, b.name) for b in tt.members) for a in lt.members)
        if lk in (Kind.STRUCT, Kind.UNION):
            if behind_ptr:
                return lk is tk or (tk is Kind.FWD and (lk is Kind.UNION) == tt.kind_flag)
            if lk is not tk or len(lt.members) > len(tt.members):
                return False
            for a in lt.members:
                if not any(_names_match(a.name, b.name)
                           and types_match(lb, a.type_id, tb, b.type_id, behind_ptr, level - 1)
                           for b in tt.members):
                    return False
            return True
        if lk is Kind.INT:
            return tk is Kind.INT and lt.size == tt.size and (lt.extra[0] & 1) == (tt.extra[0] & 1)
        if lk is Kind.PTR:
            if tk is not Kind.PTR:
                return False
            behind_ptr = True
            lid, tid = lt.size_or_type, tt.size_or_type
        elif lk is Kind.ARRAY:
            if tk is not Kind.ARRAY or lt.extra[2] != tt.extra[2]:
                return False
            lid, tid = lt.extra[0], tt.extra[0]
        elif lk is Kind.FUNC_PROTO:
            if tk is not Kind.FUNC_PROTO or len(lt.members) != len(tt.members):
                return False
            for a, b in zip(lt.members, tt.members, strict=True):
                if not types_match(lb, a.type_id, tb, b.type_id, behind_ptr, level - 1):
                    return False
            lid, tid = lt.size_or_type, tt.size_or_type
        else:
            return False
    raise CoreError("type nesting too deep")


# --- values --------------------------------------------------------------------------------------


@dataclass
class Value:
    value: int = 0
    poison: bool = False
    mem_size: int = 0  #: size of the field a load/store reads (0: not a plain field)
    mem_type: int = 0
    validate: bool = True


def _field_value(kind: str, spec: Spec | None) -> Value:
    """libbpf's bpf_core_calc_field_relo."""
    if kind == "field_exists":
        return Value(1 if spec is not None else 0)
    if spec is None:
        return Value(poison=True)
    acc = spec.acc[-1]
    btf = spec.btf
    if acc.name is None:  # the last step is an array index
        size = _size(btf, acc.type_id)
        if kind == "field_byte_offset":
            return Value(spec.bit_offset // 8, mem_size=size, mem_type=acc.type_id)
        if kind == "field_byte_size":
            return Value(size)
        raise CoreError(f"{kind} cannot be applied to an array element")
    t = btf[acc.type_id]
    m = t.members[acc.idx]
    mt, ftid = _skip(btf, m.type_id)
    bit_off, bit_sz = spec.bit_offset, m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        if mt is None:
            raise CoreError("bitfield of void")
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreError("the bitfield cannot be read with one 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    out = Value(validate=not bitfield)
    if kind == "field_byte_offset":
        out.value = byte_off
        if not bitfield:
            out.mem_size, out.mem_type = byte_sz, ftid
    elif kind == "field_byte_size":
        out.value = byte_sz
    elif kind == "field_signed":
        out.value = int((_is_enum(mt) and bool(mt.kind_flag))
                        or (mt is not None and mt.kind is Kind.INT and bool(mt.extra[0] & 1)))
        out.validate = True
    elif kind == "field_lshift_u64":
        out.value = 64 - (bit_off + bit_sz - byte_off * 8)
    elif kind == "field_rshift_u64":
        out.value = 64 - bit_sz
        out.validate = True
    return out


def _type_value(kind: str, spec: Spec | None) -> Value:
    if spec is None:
        return Value(0)
    if kind == "type_id_target":
        # libbpf does not check the instruction: "type ID might change during linking"
        return Value(spec.root_type_id, validate=False)
    if kind in ("type_exists", "type_matches"):
        return Value(1)
    return Value(_size(spec.btf, spec.root_type_id))  # type_size


def _enum_value(kind: str, spec: Spec | None) -> Value:
    if kind == "enumval_exists":
        return Value(1 if spec is not None else 0)
    if spec is None:
        return Value(poison=True)
    t = spec.btf[spec.acc[0].type_id]
    value = t.members[spec.acc[0].idx].value
    if t.kind is Kind.ENUM:
        # libbpf reads a 32-bit enumerator as btf_enum.val, an __s32, into its u64: sign-extended
        # whatever the signedness flag says. clang < 15 sets no flag (so the BTF reads -5 as
        # 4294967291) but writes -5 sign-extended into the instruction; an unsigned enumerator of
        # 2^31 or more, which clang writes zero-extended, is then refused by libbpf, and here.
        value = _s32(value)
    return Value(value & MASK64)


def value_of(kind: str, spec: Spec | None) -> Value:
    if kind in FIELD_KINDS:
        return _field_value(kind, spec)
    if kind in TYPE_KINDS:
        return _type_value(kind, spec)
    return _enum_value(kind, spec)


# --- resolving ------------------------------------------------------------------------------------


@dataclass
class Resolution:
    local: Spec
    orig: Value
    new: Value
    target: Spec | None
    mem_adjust_ok: bool = True


class Resolver:
    """Resolves the relocations of one object against one target, as libbpf's bpf_core_calc_relo_insn.

    Candidates are cached per local type id, and after each relocation that some candidates
    match, that local type keeps only those (libbpf prunes its cache the same way): a later
    relocation of the same type then ignores a flavour an earlier access ruled out, which is what
    makes two flavours with the same field at different offsets usable when another field tells
    them apart. The pruning depends on the order of the relocations, so :meth:`resolve_all`
    resolves an object's relocations once, in ``.BTF.ext`` order as libbpf does, before its
    programs (linked per program here, subprograms into each caller) are patched.
    """

    def __init__(self, local: Btf, target: Btf):
        self.local, self.target = local, target
        self._by_name: dict[tuple[str, Kind], list[int]] = {}
        self._cands: dict[int, list[int]] = {}
        #: id(relocation) -> (relocation, local spec or None, resolution or the error), from resolve_all
        self._done: dict[int, tuple[CoreRelo, Spec | None, Resolution | CoreError]] = {}

    def candidates(self, local_id: int) -> list[int]:
        """Target types that may match local type ``local_id``: same essential name, compatible kind."""
        if local_id not in self._cands:
            t = self.local[local_id]
            name = essential_name(t.name)
            key = (name, t.kind)
            if key not in self._by_name:
                if isinstance(self.target, LazyBtf):
                    ids = self.target.named_like(name)
                else:
                    ids = [i for i in range(1, len(self.target) + 1) if self.target[i].name.startswith(name)]
                self._by_name[key] = [i for i in ids if _kinds_compatible(self.target[i], t)
                                      and essential_name(self.target[i].name) == name]
            self._cands[local_id] = self._by_name[key]
        return self._cands[local_id]

    def resolve_all(self, groups: dict[str, list[CoreRelo]]) -> None:
        """Resolve every relocation of the object once, in ``.BTF.ext`` order (sections, then records)."""
        for relos in groups.values():
            for relo in relos:
                spec = None
                try:
                    spec = local_spec(self.local, relo)
                    done: Resolution | CoreError = self.resolve(relo, spec)
                except (CoreError, BTFError) as exc:
                    done = CoreError(exc.reason if isinstance(exc, BTFError) else str(exc))
                self._done[id(relo)] = (relo, spec, done)

    def result(self, relo: CoreRelo) -> tuple[Spec | None, Resolution]:
        """``relo``'s local spec and resolution: from :meth:`resolve_all` if it ran, else resolved now."""
        done = self._done.get(id(relo))
        if done is None or done[0] is not relo:
            spec = local_spec(self.local, relo)
            return spec, self.resolve(relo, spec)
        _relo, spec, res = done
        if isinstance(res, CoreError):
            raise CoreError(str(res)) from None
        return spec, res

    def resolve(self, relo: CoreRelo, spec: Spec | None = None) -> Resolution:
        spec = spec or local_spec(self.local, relo)
        if relo.kind == "type_id_local":
            # libbpf: no candidate search and no value computed from the type (a forward declaration
            # has no size), and the instruction is not checked: linking may renumber local types
            value = Value(relo.type_id, validate=False)
            return Resolution(spec, value, value, spec)
        orig = value_of(relo.kind, spec)
        root = self.local[relo.type_id]
        if not root.name:
            raise CoreError(f"{relo.kind} relocations of anonymous types are not supported (as in libbpf)")
        chosen: tuple[Spec, Value] | None = None
        matched: list[int] = []
        for cand in self.candidates(relo.type_id):
            targ = match(spec, self.target, cand)
            if targ is None:
                continue
            val = value_of(relo.kind, targ)
            matched.append(cand)
            if chosen is None:
                chosen = (targ, val)
                continue
            prev_spec, prev = chosen
            if relo.kind in FIELD_KINDS and targ.bit_offset != prev_spec.bit_offset:
                raise CoreError(f"the target has several types '{root.name}' that place the field at "
                                f"different offsets ({prev_spec.bit_offset // 8} and {targ.bit_offset // 8})")
            if val.poison != prev.poison or val.value != prev.value:
                raise CoreError(f"the target has several types '{root.name}' that give different values "
                                f"({prev.value} and {val.value})")
        if chosen is None:
            return Resolution(spec, orig, value_of(relo.kind, None), None)
        self._cands[relo.type_id] = matched
        targ, new = chosen
        res = Resolution(spec, orig, new, targ)
        if relo.kind in FIELD_KINDS and orig.mem_size != new.mem_size:
            res.mem_adjust_ok = _resizable(self.local, orig.mem_type, self.target, new.mem_type)
        return res


def _resizable(lb: Btf, lid: int, tb: Btf, tid: int) -> bool:
    """A load/store may change size only for pointers and unsigned integers (zero extension)."""
    if not lid or not tid:
        return False
    lt, tt = lb[lid], tb[tid]
    if lt.kind is Kind.PTR and tt.kind is Kind.PTR:
        return True
    return lt.kind is Kind.INT and tt.kind is Kind.INT and not lt.extra[0] & 1 and not tt.extra[0] & 1


# --- patching --------------------------------------------------------------------------------------


def patch(slots: list[list[int]], pc: int, res: Resolution) -> str | None:
    """Apply ``res`` to the instruction at ``pc`` of ``slots`` ([opcode, regs, off, imm] each).

    Returns None, or why the instruction was poisoned. Raises CoreError when it cannot be patched."""
    insn = slots[pc]
    opcode = insn[0]
    cls = opcode & CLASS_MASK
    if res.new.poison:
        return _poison(slots, pc, "not found in the target")
    orig, new = res.orig.value, res.new.value
    if cls in (Class.ALU, Class.ALU64):
        if opcode & SRC_X:
            raise CoreError(f"relocated ALU instruction (opcode 0x{opcode:02x}) takes a register, not an immediate")
        # libbpf compares the s32 immediate with its u64 value: the immediate is sign-extended
        if res.orig.validate and _s32(insn[3]) & MASK64 != orig & MASK64:
            raise CoreError(f"the instruction holds {_s32(insn[3])}, not the local value {_s64(orig)}")
        if not -(1 << 31) <= _s64(new) < (1 << 32):  # libbpf truncates silently; we refuse
            raise CoreError(f"the value {_s64(new)} does not fit a 32-bit immediate")
        insn[3] = _s32(new)
        return None
    if cls in (Class.LDX, Class.ST, Class.STX):
        if res.orig.validate and insn[2] != orig:
            raise CoreError(f"the instruction's offset is {insn[2]}, not the local value {orig}")
        if new > 0x7FFF:
            raise CoreError(f"the offset {new} does not fit a load/store (at most 32767)")
        if not res.mem_adjust_ok:
            return _poison(slots, pc, f"is {res.new.mem_size} bytes in the target but {res.orig.mem_size} here, "
                                      "and only pointers and unsigned integers can be read at another size")
        insn[2] = new
        if res.new.mem_size != res.orig.mem_size:
            have = SIZE_BYTES[opcode & SIZE_MASK]
            if have != res.orig.mem_size:
                raise CoreError(f"the instruction accesses {have} bytes, not the field's {res.orig.mem_size}")
            if res.new.mem_size not in BYTES_SIZE:
                raise CoreError(f"the target field's size {res.new.mem_size} is not a load/store size")
            insn[0] = (opcode & ~SIZE_MASK) | BYTES_SIZE[res.new.mem_size]
        return None
    if opcode == OP_LDDW:
        if pc + 1 >= len(slots) or insn[1] >> 4 or insn[2] or slots[pc + 1][0] or slots[pc + 1][1] \
                or slots[pc + 1][2]:
            raise CoreError("the 64-bit load has an unexpected form")
        have = (insn[3] & 0xFFFFFFFF) | (slots[pc + 1][3] & 0xFFFFFFFF) << 32
        if res.orig.validate and have != orig & MASK64:
            raise CoreError(f"the instruction holds {have}, not the local value {orig & MASK64}"
                            + _SIGNED_ENUM_HINT * (res.local.kind == "enumval_value" and have == orig & 0xFFFFFFFF))
        new &= MASK64
        insn[3] = _s32(new & 0xFFFFFFFF)
        slots[pc + 1][3] = _s32(new >> 32)
        return None
    raise CoreError(f"opcode 0x{opcode:02x} cannot be relocated")


def _poison(slots: list[list[int]], pc: int, why: str) -> str:
    if slots[pc][0] == OP_LDDW and pc + 1 < len(slots):  # both halves, as libbpf
        slots[pc + 1][:] = [OP_CALL, 0, 0, POISON_HELPER]
    slots[pc][:] = [OP_CALL, 0, 0, POISON_HELPER]
    return why


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


_SIGNED_ENUM_HINT = (" (libbpf reads 32-bit enumerator values as signed __s32, so it refuses an unsigned "
                     "enumerator of 2^31 or more the same way)")


# --- a program's relocations --------------------------------------------------------------------


def describe(relo: CoreRelo, spec: Spec | None, where: str) -> str:
    """``field_byte_offset of struct sock (access 0:0:1 = sock.__sk_common.skc_daddr) at <where>``."""
    path = f" = {spec.path()}" if spec is not None else ""
    what = spec.btf.type_name(relo.type_id) if spec is not None else (relo.type_name or f"type {relo.type_id}")
    return f"CO-RE relocation {relo.kind} of {what} (access {relo.access}{path}) at {where}"


def apply(code: bytes, relos: list[tuple[int, CoreRelo, str]], resolver: Resolver,
          target_name: str) -> tuple[bytes, dict[int, str]]:
    """Relocate ``code`` (a linked program); ``relos`` are (pc, relocation, where it came from).

    Returns the new code and the poisoned pcs with their messages."""
    slots = [list(SLOT.unpack_from(code, i * SLOT.size)) for i in range(len(code) // SLOT.size)]
    poisoned: dict[int, str] = {}
    for pc, relo, where in relos:
        spec = None
        try:
            spec, res = resolver.result(relo)
            why = patch(slots, pc, res)
        except (CoreError, BTFError) as exc:
            reason = exc.reason if isinstance(exc, BTFError) else str(exc)
            if spec is None:
                spec = _spec_or_none(resolver.local, relo)
            raise CoreError(f"{describe(relo, spec, where)}: {reason}") from None
        if why is not None:
            missing = _missing(res)
            poisoned[pc] = f"{describe(relo, spec, where)}: {missing} {why} ({target_name})"
    return b"".join(SLOT.pack(*s) for s in slots), poisoned


def _spec_or_none(btf: Btf, relo: CoreRelo) -> Spec | None:
    """The local spec for an error message, when it can be built."""
    try:
        return local_spec(btf, relo)
    except (CoreError, BTFError):
        return None


def _missing(res: Resolution) -> str:
    spec = res.local
    if spec.kind in ENUM_KINDS:
        return f"enumerator '{spec.acc[0].name}'"
    if spec.kind in FIELD_KINDS and len(spec.acc) > 1 and spec.acc[-1].name:
        return f"field '{spec.path()}'"
    return f"type '{spec.btf.type_name(spec.root_type_id)}'"
