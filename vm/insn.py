"""Decoded instructions, and the strict decoder/encoder built on ``vm.isa``.

``decode(code)`` turns raw bytecode into a list of :class:`Insn`, one per
instruction (lddw is one ``Insn`` covering two 8-byte slots). ``pc`` is
always counted in 8-byte slots, as jump offsets are. Decoding is strict:
anything the RFC marks reserved must be zero, registers must exist, jumps
must land on an instruction inside the program, and r10 cannot be written.
Every rejection is a :class:`~ebpflite.errors.DecodeError` naming the
instruction index, its bytes and the field at fault.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ebpflite.vm.errors import DecodeError
from ebpflite.vm.isa import BY_OPCODE, FIELDS, FRAME_REG, LDDW_OPCODE, MAX_REG, InsnSpec, Kind

SLOT = _SLOT = struct.Struct("<BBhi")  #: one 8-byte slot: opcode, regs (src<<4 | dst), off, imm


@dataclass(frozen=True)
class Insn:
    """One decoded instruction.

    ``off`` and ``imm`` are signed, as encoded. For lddw, ``imm`` is the low
    word and ``imm_hi`` the high word (second slot); :attr:`imm64` combines
    them into the unsigned 64-bit constant.
    """

    spec: InsnSpec
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm_hi: int = 0
    pc: int = 0

    @property
    def opcode(self) -> int:
        return self.spec.opcode

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def slots(self) -> int:
        return self.spec.slots

    @property
    def imm64(self) -> int:
        return (self.imm & 0xFFFFFFFF) | ((self.imm_hi & 0xFFFFFFFF) << 32)

    @property
    def target(self) -> int | None:
        """Absolute pc a jump or local call goes to (None for other instructions)."""
        kind = self.spec.kind
        if kind is Kind.JUMP or (kind is Kind.JA and self.spec.op == "ja"):
            return self.pc + self.off + 1
        if kind is Kind.JA or kind is Kind.CALL_LOCAL:
            return self.pc + self.imm + 1
        return None

    def encode(self) -> bytes:
        return encode_one(self)

    def with_fields(self, **changes) -> Insn:
        return replace(self, **changes)


def make(name_or_spec: str | InsnSpec, dst: int = 0, src: int | None = None, off: int = 0, imm: int = 0,
         imm_hi: int = 0, pc: int = 0, *, pseudo: int = 0) -> Insn:
    """Build an instruction from a conformance mnemonic (``"add32"``, ``"lddw"``...).

    ALU and jump mnemonics name two forms (``add r0, 1`` and ``add r0, r1``):
    giving ``src`` picks the register form. Fixed fields of the spec are
    filled in; for lddw ``pseudo`` selects the pseudo source. Intended for
    code that generates programs (tests, the assembler, the verifier).
    """
    from ebpflite.vm.isa import BY_NAME

    if isinstance(name_or_spec, InsnSpec):
        spec = name_or_spec
    else:
        specs = BY_NAME.get(name_or_spec)
        if not specs:
            raise KeyError(f"unknown mnemonic {name_or_spec!r}")
        if specs[0].kind is Kind.LDDW:
            spec = specs[pseudo]
        else:
            by_source = {s.source: s for s in specs}
            spec = by_source["X"] if src is not None and len(by_source) == 2 else specs[0]
    src = 0 if src is None else src
    values = {"dst": dst, "src": src, "off": off, "imm": imm}
    values.update(dict(spec.fixed))
    return Insn(spec, values["dst"], values["src"], values["off"], values["imm"], imm_hi, pc)


# --- decoding -------------------------------------------------------------------------


def _unpack(code: bytes, pc: int) -> tuple[int, int, int, int, int]:
    opcode, regs, off, imm = _SLOT.unpack_from(code, pc * 8)
    return opcode, regs & 0x0F, regs >> 4, off, imm


def _select_spec(pc: int, raw: bytes, opcode: int, values: dict[str, int]) -> InsnSpec:
    specs = BY_OPCODE.get(opcode)
    if specs is None:
        raise DecodeError(f"unknown opcode 0x{opcode:02x}", pc, "opcode", raw)
    if len(specs) == 1:
        spec = specs[0]
    else:
        disc = specs[0].discriminators[0]
        matching = [s for s in specs if s.fixed_value(disc) == values[disc]]
        if not matching:
            allowed = ", ".join(str(s.fixed_value(disc)) for s in specs)
            raise DecodeError(
                f"field '{disc}' = {values[disc]} is not valid for opcode 0x{opcode:02x} "
                f"({specs[0].name}; expected one of {allowed})", pc, disc, raw)
        spec = matching[0]
    for name, expected in spec.fixed:
        if values[name] != expected:
            what = "reserved and must be" if expected == 0 else "must be"
            raise DecodeError(f"field '{name}' of {spec.name} is {what} {expected}, not {values[name]}",
                              pc, name, raw)
    return spec


def check_frame_pointer(spec: InsnSpec, values: dict[str, int], pc: int | None, raw: bytes | None) -> None:
    """Raise :class:`DecodeError` when the instruction writes r10 (the frame pointer is read-only)."""
    for reg_field in spec.written_register_fields:
        if values[reg_field] != FRAME_REG:
            continue
        if reg_field == "dst":
            raise DecodeError(f"{spec.name} writes to the read-only frame pointer r10", pc, "dst", raw)
        raise DecodeError(f"{spec.name} writes the old memory value to its source register, the read-only "
                          "frame pointer r10", pc, "src", raw)


def check_program(insns: Iterable[Insn]) -> None:
    """The decoder's register checks on instructions built without decoding (hand-built or
    assembled programs): the engines run them first, so neither can be asked to write r10."""
    for insn in insns:
        values = {"dst": insn.dst, "src": insn.src}
        for reg_field in ("dst", "src"):
            if insn.spec.is_operand(reg_field) and not 0 <= values[reg_field] <= MAX_REG:
                raise DecodeError(f"invalid register r{values[reg_field]} in field '{reg_field}'",
                                  insn.pc, reg_field, encode_one(insn))
        if any(values[f] == FRAME_REG for f in insn.spec.written_register_fields):
            check_frame_pointer(insn.spec, values, insn.pc, encode_one(insn))


def decode(code: bytes | bytearray | memoryview, *, check_targets: bool = True) -> list[Insn]:
    """Decode raw little-endian bytecode strictly. See the module docstring."""
    code = bytes(code)
    if len(code) % 8:
        raise DecodeError(f"program size {len(code)} is not a multiple of 8 bytes")
    nslots = len(code) // 8
    insns: list[Insn] = []
    pc = 0
    while pc < nslots:
        raw = code[pc * 8: pc * 8 + 8]
        opcode, dst, src, off, imm = _unpack(code, pc)
        values = {"dst": dst, "src": src, "off": off, "imm": imm}
        spec = _select_spec(pc, raw, opcode, values)
        for reg_field in ("dst", "src"):
            if spec.is_operand(reg_field) and values[reg_field] > MAX_REG:
                raise DecodeError(f"invalid register r{values[reg_field]} in field '{reg_field}'",
                                  pc, reg_field, raw)
        check_frame_pointer(spec, values, pc, raw)
        imm_hi = 0
        if spec.kind is Kind.LDDW:
            if pc + 1 >= nslots:
                raise DecodeError("lddw is truncated: its second 8-byte slot is missing", pc, "imm", raw)
            o2, d2, s2, off2, imm_hi = _unpack(code, pc + 1)
            raw2 = code[pc * 8: pc * 8 + 16]
            for name, value in (("opcode", o2), ("dst", d2), ("src", s2), ("off", off2)):
                if value:
                    raise DecodeError(f"second slot of lddw: field '{name}' must be 0, not {value}",
                                      pc, name, raw2)
        insns.append(Insn(spec, dst, src, off, imm, imm_hi, pc))
        pc += spec.slots
    if check_targets:
        check_jump_targets(insns, nslots)
    return insns


def check_jump_targets(insns: Sequence[Insn], nslots: int | None = None) -> None:
    """Every jump and local call must land on the first slot of an instruction."""
    if nslots is None:
        nslots = sum(i.slots for i in insns)
    starts = {i.pc for i in insns}
    for insn in insns:
        target = insn.target
        if target is None:
            continue
        what = "call" if insn.kind is Kind.CALL_LOCAL else "jump"
        fieldname = "off" if insn.kind is Kind.JUMP or insn.spec.op == "ja" else "imm"
        if not 0 <= target < nslots:
            raise DecodeError(f"{what} to {target} is outside the program (0..{nslots - 1})",
                              insn.pc, fieldname, encode_one(insn))
        if target not in starts:
            raise DecodeError(f"{what} to {target} lands in the middle of an lddw", insn.pc, fieldname,
                              encode_one(insn))


# --- encoding -------------------------------------------------------------------------


def encode_one(insn: Insn) -> bytes:
    regs = (insn.src & 0x0F) << 4 | (insn.dst & 0x0F)
    first = _SLOT.pack(insn.spec.opcode, regs, _s16(insn.off), _s32(insn.imm))
    if insn.spec.kind is Kind.LDDW:
        return first + _SLOT.pack(0, 0, 0, _s32(insn.imm_hi))
    return first


def encode(insns: Iterable[Insn]) -> bytes:
    return b"".join(encode_one(i) for i in insns)


def _s16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def field_values(insn: Insn) -> dict[str, int]:
    return {name: getattr(insn, name) for name in FIELDS}


assert LDDW_OPCODE == 0x18
