"""Functions, relocations, and linking a program with its subprograms.

Why: a program in an object file is not runnable as it sits in its section.
Its lddw instructions hold zeros until relocations say which map or global
variable they load, and its bpf-to-bpf calls may point into ``.text``
(another section). This module does what libbpf does before loading:

1. find the functions of each executable section (``STT_FUNC`` symbols; a
   section with none is one function named after the section);
2. resolve every relocation of a code section into a :class:`Fixup`
   (``R_BPF_64_64`` on lddw: map, global data or function address;
   ``R_BPF_64_32`` or the legacy numbers on calls: the called function);
3. link one program: copy the entry function, then append every function it
   reaches (depth first, as libbpf's ``bpf_object__reloc_code``), rewriting
   call offsets and lddw pseudo sources on the way.

Conventions (documented in docs for the runtime): lddw against a map gets
``src=MAP_IDX`` (5) and ``imm`` = index into ``ObjectFile.maps``; against
global data ``src=MAP_IDX_VALUE`` (6), ``imm`` = index of the data map,
``imm_hi`` = byte offset in its value; against a function
``src=CODE_ADDR`` (4) and ``imm`` = pc-relative offset to it (as the
kernel's BPF_PSEUDO_FUNC).
"""

from __future__ import annotations

from dataclasses import dataclass

from ebpflite.loader.elf import (
    EM_BPF,
    R_BPF_NONE,
    SHN_UNDEF,
    STB_LOCAL,
    STT_FUNC,
    STT_SECTION,
    RawObject,
    Section,
)
from ebpflite.vm.errors import LoaderError
from ebpflite.vm.insn import SLOT
from ebpflite.vm.isa import BY_NAME, CallSrc, PseudoSrc

_SLOT = SLOT  # relocations patch raw slots before decoding: opcode, regs, off, imm
OP_LDDW = BY_NAME["lddw"][0].opcode  #: from the ISA table (vm/isa.py), like every opcode
OP_CALL = BY_NAME["call"][0].opcode


@dataclass(frozen=True)
class Function:
    """A function in a code section, in 8-byte slots [start, end)."""

    name: str
    section: int
    start: int
    end: int
    local: bool  #: a static function (STB_LOCAL)


@dataclass(frozen=True)
class Fixup:
    """What a relocated instruction becomes. ``kind``: call, func, map, value, error."""

    kind: str
    section: int = 0  #: call/func: target section index
    target: int = 0  #: call/func: target slot in that section; map/value: map index
    offset: int = 0  #: value: byte offset in the map value
    message: str = ""  #: error: why this instruction cannot be loaded


def find_functions(raw: RawObject, sec: Section) -> list[Function]:
    """Functions of a code section, ordered; sizes of 0 extend to the next function."""
    nslots = len(sec.data) // 8
    syms = sorted({(s.value, s.name, s.bind, s.size) for s in raw.symbols
                   if s.shndx == sec.index and s.type == STT_FUNC}, key=lambda t: (t[0], t[1]))
    if not syms:
        return [Function(sec.name, sec.index, 0, nslots, False)]
    funcs = []
    for i, (value, name, bind, size) in enumerate(syms):
        if value % 8 or value // 8 >= nslots:
            raise LoaderError(f"function '{name}' starts at byte {value}, which is not an instruction "
                              f"of the section ({nslots} instructions)", raw.file, sec.name)
        start = value // 8
        end = start + size // 8 if size else (syms[i + 1][0] // 8 if i + 1 < len(syms) else nslots)
        if size % 8 or end > nslots or end <= start:
            raise LoaderError(f"function '{name}' has a bad size {size} (section has {nslots} "
                              "instructions)", raw.file, sec.name)
        funcs.append(Function(name, sec.index, start, end, bind == STB_LOCAL))
    return funcs


def resolve_fixups(raw: RawObject, sec: Section, map_at: dict[tuple[int, int], int],
                   data_maps: dict[int, int], externs: dict[str, int] | None = None) -> dict[int, Fixup]:
    """Relocations of one code section, by slot. ``map_at[(section, offset)]`` finds map indexes,
    ``data_maps[section]`` global-data map indexes, ``externs[name]`` the code section that defines
    a function the object calls but does not define (the builtins of ``loader.builtins``)."""
    fixups: dict[int, Fixup] = {}
    nslots = len(sec.data) // 8
    for rel in raw.relocs.get(sec.index, ()):
        if rel.offset % 8 or rel.offset // 8 >= nslots:
            raise LoaderError(f"relocation at byte {rel.offset} is outside the section's "
                              f"{nslots} instructions or not on an instruction", raw.file, sec.name)
        slot = rel.offset // 8
        opcode, regs, _off, imm = _SLOT.unpack_from(sec.data, rel.offset)
        sym = raw.symbols[rel.symbol]
        symname = sym.name or f"#{sym.index}"
        if rel.type == R_BPF_NONE and raw.machine == EM_BPF:
            # Only EM_BPF objects number their relocations; early LLVM wrote EM_NONE objects
            # whose every relocation has type 0 (OVS datapath.o), applied by opcode as below.
            continue
        if opcode == OP_CALL:
            fixups[slot] = _call_fixup(raw, sym, symname, imm, regs >> 4, externs or {})
        elif opcode == OP_LDDW:
            if slot + 1 >= nslots:
                raise LoaderError(f"relocated lddw at instruction {slot} is truncated", raw.file, sec.name)
            # SHT_REL keeps the addend in imm; SHT_RELA (.rela<section>) carries it in the entry
            addend = rel.addend if rel.rela else imm
            fixups[slot] = _lddw_fixup(raw, sym, symname, addend, map_at, data_maps)
        else:
            raise LoaderError(f"relocation (type {rel.type}) against '{symname}' at instruction {slot} "
                              f"applies to opcode 0x{opcode:02x}, which is neither lddw nor call",
                              raw.file, sec.name)
    return fixups


def _call_fixup(raw: RawObject, sym, symname: str, imm: int, src: int, externs: dict[str, int]) -> Fixup:
    if sym.shndx == SHN_UNDEF:
        if symname in externs:  # a builtin (memset...): a local call to its linked code, whatever src was
            return Fixup("call", externs[symname], 0)
        return Fixup("error", message=f"call to extern function '{symname}' (a kfunc or a function "
                                      "defined in another object) is not supported")
    if src != CallSrc.LOCAL:
        return Fixup("error", message=f"relocated call to '{symname}' is not a bpf-to-bpf call (src={src})")
    target_sec = _section(raw, sym.shndx, symname)
    if not target_sec.executable:
        return Fixup("error", message=f"call to '{symname}' in non-code section {target_sec.name}")
    # libbpf: static functions are reached through the section symbol plus imm; globals with imm = -1
    target = sym.value // 8 + imm + 1
    return Fixup("call", target_sec.index, target)


def _lddw_fixup(raw: RawObject, sym, symname: str, imm: int, map_at: dict[tuple[int, int], int],
                data_maps: dict[int, int]) -> Fixup:
    if sym.shndx == SHN_UNDEF:
        return Fixup("error", message=f"lddw of extern '{symname}' (kconfig/ksym externs) is not supported")
    target_sec = _section(raw, sym.shndx, symname)
    if target_sec.executable:
        return Fixup("func", target_sec.index, (sym.value + imm) // 8)
    if target_sec.index in data_maps:
        offset = sym.value + imm
        if not 0 <= offset <= max(len(target_sec.data), 1):
            return Fixup("error", message=f"lddw of '{symname}' + {imm} is outside {target_sec.name}")
        return Fixup("value", target=data_maps[target_sec.index], offset=offset)
    key = (target_sec.index, sym.value if sym.type != STT_SECTION else imm)
    if key in map_at:
        return Fixup("map", target=map_at[key])
    return Fixup("error", message=f"lddw refers to '{symname}' in section {target_sec.name}, which is "
                                  "not a map, a global data section or code")


def _section(raw: RawObject, index: int, symname: str) -> Section:
    if not 0 < index < len(raw.sections):
        raise LoaderError(f"symbol '{symname}' is in section {index}, which is not a section of the file",
                          raw.file)
    return raw.sections[index]


@dataclass
class Linked:
    """A linked program: bytecode, where each slot came from, and function entry points."""

    code: bytes
    origin: list[tuple[int, int]]  #: per output slot: (section index, slot in section)
    functions: dict[int, str]  #: output pc -> function name
    placed: list[Function]


def link_program(raw: RawObject, entry: Function, functions: dict[int, list[Function]],
                 fixups: dict[int, dict[int, Fixup]]) -> Linked:
    """Copy ``entry`` and every function it calls into one program (raises LoaderError)."""
    out: list[list[int]] = []  # mutable slots: [opcode, regs, off, imm]
    origin: list[tuple[int, int]] = []
    placed: dict[Function, int] = {}
    order: list[Function] = []

    def find(sec_index: int, slot: int, what: str, where: str) -> Function:
        for f in functions.get(sec_index, ()):
            if f.start <= slot < f.end:
                return f
        sec = raw.sections[sec_index].name if 0 <= sec_index < len(raw.sections) else f"#{sec_index}"
        raise LoaderError(f"{what} at {where} targets instruction {slot} of {sec}, which is not inside "
                          "any function", raw.file, sec)

    def place(func: Function) -> None:
        base = len(out)
        placed[func] = base
        order.append(func)
        data = raw.sections[func.section].data
        for s in range(func.start, func.end):
            out.append(list(_SLOT.unpack_from(data, s * 8)))
            origin.append((func.section, s))
        sec_fix = fixups.get(func.section, {})
        sec_name = raw.sections[func.section].name
        s = func.start
        while s < func.end:
            pc = base + s - func.start
            opcode, regs, _off, imm = out[pc]
            fix = sec_fix.get(s)
            where = f"instruction {s} of function '{func.name}'"
            if fix is not None and fix.kind == "error":
                raise LoaderError(f"{fix.message} ({where})", raw.file, sec_name)
            if opcode == OP_LDDW and s + 1 < func.end:
                if fix is not None:
                    _apply_lddw(out, pc, fix, func, place, find, placed, where)
                elif regs >> 4 == PseudoSrc.CODE_ADDR:  # unrelocated function address in the same section
                    target = find(func.section, s + imm + 1, "function address", where)
                    _patch_pc_relative(out, pc, target, s + imm + 1, place, placed)
                s += 2
                continue
            if opcode == OP_CALL and fix is not None and fix.kind == "call" and regs >> 4 != CallSrc.LOCAL:
                out[pc][1] = (regs & 0x0F) | (CallSrc.LOCAL << 4)  # an extern call linked to a builtin
                regs = out[pc][1]
            if opcode == OP_CALL and regs >> 4 == CallSrc.LOCAL:
                if fix is not None:
                    sec_index, target_slot = fix.section, fix.target
                else:
                    sec_index, target_slot = func.section, s + imm + 1
                target = find(sec_index, target_slot, "call", where)
                _patch_pc_relative(out, pc, target, target_slot, place, placed)
            s += 1

    def _apply_lddw(out, pc, fix, func, place, find, placed, where):
        if fix.kind == "map":
            out[pc][1] = (out[pc][1] & 0x0F) | (PseudoSrc.MAP_IDX << 4)
            out[pc][3] = fix.target
            out[pc + 1][3] = 0
        elif fix.kind == "value":
            out[pc][1] = (out[pc][1] & 0x0F) | (PseudoSrc.MAP_IDX_VALUE << 4)
            out[pc][3] = fix.target
            out[pc + 1][3] = _s32(fix.offset)
        elif fix.kind == "func":
            target = find(fix.section, fix.target, "function address", where)
            out[pc][1] = (out[pc][1] & 0x0F) | (PseudoSrc.CODE_ADDR << 4)
            _patch_pc_relative(out, pc, target, fix.target, place, placed)
            out[pc + 1][3] = 0
        elif fix.kind == "call":
            raise LoaderError(f"call relocation on an lddw ({where})", raw.file)

    place(entry)
    code = b"".join(_SLOT.pack(o, r, off, imm) for o, r, off, imm in out)
    names = {placed[f]: f.name for f in order}
    return Linked(code, origin, names, order)


def _patch_pc_relative(out, pc: int, target: Function, target_slot: int, place, placed) -> None:
    """Point the call/lddw at ``pc`` to ``target_slot`` of ``target``, placing the function if new."""
    if target not in placed:
        place(target)
    new_target = placed[target] + (target_slot - target.start)
    out[pc][3] = new_target - pc - 1


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v
