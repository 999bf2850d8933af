"""The eBPF instruction set (RFC 9669, conformance groups base32, base64,
atomic32, atomic64, divmul32, divmul64, packet, callx), as one table.

Every other module reads this table instead of hard-coding opcodes: the
decoder and encoder (``vm.insn``), the assembler, the disassembler, the
interpreter, the JIT and the verifier.

An opcode byte alone does not always identify an instruction: ``sdiv``
is ``div`` with ``off == 1``, ``movsx`` is ``mov`` with ``off`` 8/16/32,
the byte swaps are told apart by ``imm``, the atomics by ``imm``, the call
forms by ``src`` and the lddw forms by ``src``. Each :class:`InsnSpec`
therefore says which of the four fields (``dst``, ``src``, ``off``, ``imm``)
are operands and which must hold a fixed value; the decoder picks the spec
whose fixed values match and reports the first field that does not.

Encoding (RFC 9669 section 3): ``opcode:8 | src:4 dst:4 | off:16 | imm:32``,
little-endian, with lddw taking a second 8-byte slot whose ``imm`` holds the
upper 32 bits of the constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

# the limits of a run, public here too; their home is a light module the CLI reads without this table
from ebpflite.vm.limits import DEFAULT_BUDGET, MAX_CALL_DEPTH, MAX_TAIL_CALLS, STACK_SIZE  # noqa: F401

# --- opcode fields -------------------------------------------------------------


class Class(IntEnum):
    """The low three bits of the opcode."""

    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


CLASS_MASK = 0x07  #: the class bits of an opcode
SRC_K = 0x00  #: source operand is ``imm``
SRC_X = 0x08  #: source operand is ``src`` register

#: size field of load/store opcodes -> access width in bytes
SIZE_MASK = 0x18  #: the size bits of a load/store opcode
SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}
SIZE_SUFFIX = {1: "b", 2: "h", 4: "w", 8: "dw"}
SIZE_CTYPE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


class Mode(IntEnum):
    """The mode field (bits 5-7) of load/store opcodes."""

    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AluOp(IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class AtomicOp(IntEnum):
    """Values of ``imm`` for atomic instructions."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH = 0x01
    XCHG = 0xE0 | 0x01
    CMPXCHG = 0xF0 | 0x01


class PseudoSrc(IntEnum):
    """``src`` of a lddw instruction (RFC 9669 section 5.4)."""

    IMM64 = 0  #: plain 64-bit constant
    MAP_FD = 1  #: imm = map fd -> address of the map
    MAP_VALUE = 2  #: imm = map fd, next_imm = offset -> address of value + offset
    VAR_ADDR = 3  #: imm = variable id -> address of the variable
    CODE_ADDR = 4  #: imm = instruction offset -> address of code
    MAP_IDX = 5  #: imm = map index -> address of the map
    MAP_IDX_VALUE = 6  #: imm = map index, next_imm = offset -> address of value + offset


class CallSrc(IntEnum):
    """``src`` of a ``call`` instruction."""

    HELPER = 0  #: imm = helper id
    LOCAL = 1  #: imm = pc-relative offset of the called function
    KFUNC = 2  #: imm = BTF id of a kernel function


# --- instruction kinds ----------------------------------------------------------------


class Kind(Enum):
    """What an instruction does, for the engines' dispatch."""

    ALU = "alu"  #: dst = dst op src/imm (also mov, movsx, neg)
    ENDIAN = "endian"  #: le/be/bswap
    JUMP = "jump"  #: conditional jump
    JA = "ja"  #: unconditional jump (off, or imm for gotol)
    CALL = "call"  #: helper call (imm)
    CALL_LOCAL = "call_local"  #: bpf-to-bpf call (pc + imm + 1)
    CALL_KFUNC = "call_kfunc"  #: kernel function call by BTF id (not executable here)
    CALLX = "callx"  #: helper call by number in dst register
    EXIT = "exit"
    LDDW = "lddw"  #: 64-bit immediate load (two slots)
    LDX = "ldx"  #: dst = *(size *)(src + off), zero or sign extended
    ST = "st"  #: *(size *)(dst + off) = imm
    STX = "stx"  #: *(size *)(dst + off) = src
    ATOMIC = "atomic"  #: lock op, fetch, xchg, cmpxchg
    LD_ABS = "ld_abs"  #: legacy packet load r0 = ntoh(*(size *)(skb->data + imm))
    LD_IND = "ld_ind"  #: legacy packet load r0 = ntoh(*(size *)(skb->data + src + imm))


#: kinds whose ``dst`` register receives the result
_WRITES_DST = frozenset({Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDDW})

#: fields of an instruction, in encoding order after the opcode
FIELDS = ("dst", "src", "off", "imm")
OPERAND = None  #: marks a field as an operand (any value allowed)


@dataclass(frozen=True)
class InsnSpec:
    """One instruction form.

    ``fixed`` maps each non-operand field to the value it must hold; the
    fields named in ``discriminators`` are the ones that select this spec
    among others sharing the opcode (e.g. ``off`` for sdiv, ``imm`` for
    atomics), the rest are reserved and must simply be zero.
    """

    name: str  #: conformance-suite mnemonic: "add32", "sdiv", "movsx832", "lock fetch add", ...
    opcode: int
    kind: Kind
    op: str  #: semantic operation: "add", "jeq", "mov", "movsx", "le", "xchg", ...
    width: int = 64  #: operation width in bits (ALU/JMP) or access size in bytes (memory)
    source: str = "K"  #: "K" (imm) or "X" (register)
    fixed: tuple[tuple[str, int], ...] = ()
    discriminators: tuple[str, ...] = ()
    signed: bool = False  #: signed variant (sdiv, smod, jsgt, movsx, ldxs*, arsh)
    group: str = "base64"  #: RFC 9669 conformance group
    extra: int = 0  #: kind-specific detail: bits for movsx/endian, atomic imm

    @property
    def cls(self) -> Class:
        return Class(self.opcode & CLASS_MASK)

    def fixed_value(self, fieldname: str) -> int | None:
        for name, value in self.fixed:
            if name == fieldname:
                return value
        return None

    def is_operand(self, fieldname: str) -> bool:
        return all(name != fieldname for name, _ in self.fixed)

    @property
    def size(self) -> int:
        """Access size in bytes for memory instructions."""
        return self.width

    @property
    def slots(self) -> int:
        return 2 if self.kind is Kind.LDDW else 1

    @property
    def written_register_fields(self) -> tuple[str, ...]:
        """The register fields (``dst``, ``src``) this form writes.

        The decoder reads it to keep r10 read-only: besides ``dst`` of ALU,
        byte swaps, loads and lddw, the fetch atomics and xchg put the old
        memory value in ``src``. cmpxchg writes r0 (a fixed register), not
        ``src``, so it is not listed here.
        """
        if self.kind in _WRITES_DST:
            return ("dst",)
        if self.kind is Kind.ATOMIC and (self.op.startswith("fetch_") or self.op == "xchg"):
            return ("src",)
        return ()


def _fx(**fields: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(fields.items()))


# --- building the table -----------------------------------------------------------------

_SPECS: list[InsnSpec] = []


def _add(spec: InsnSpec) -> None:
    _SPECS.append(spec)


_ALU_SIGNED_OPS = {"div": "sdiv", "mod": "smod"}


def _build_alu() -> None:
    for cls, suffix, width in ((Class.ALU, "32", 32), (Class.ALU64, "", 64)):
        group32 = "base32" if width == 32 else "base64"
        for op in AluOp:
            name = op.name.lower()
            if op is AluOp.END:
                continue
            if op is AluOp.NEG:
                _add(InsnSpec(f"neg{suffix}", cls | op | SRC_K, Kind.ALU, "neg", width, "K",
                              _fx(src=0, off=0, imm=0), group=group32))
                continue
            group = ("divmul32" if width == 32 else "divmul64") if op in (AluOp.MUL, AluOp.DIV, AluOp.MOD) \
                else group32
            for source, srcbit in (("K", SRC_K), ("X", SRC_X)):
                opcode = cls | op | srcbit
                reserved = _fx(src=0, off=0) if source == "K" else _fx(imm=0, off=0)
                if op in (AluOp.DIV, AluOp.MOD):
                    # off selects unsigned (0) or signed (1)
                    base = _fx(src=0) if source == "K" else _fx(imm=0)
                    _add(InsnSpec(f"{name}{suffix}", opcode, Kind.ALU, name, width, source,
                                  base + _fx(off=0), ("off",), group=group))
                    sname = _ALU_SIGNED_OPS[name]
                    _add(InsnSpec(f"{sname}{suffix}", opcode, Kind.ALU, sname, width, source,
                                  base + _fx(off=1), ("off",), signed=True, group=group))
                elif op is AluOp.MOV and source == "X":
                    _add(InsnSpec(f"mov{suffix}", opcode, Kind.ALU, "mov", width, source,
                                  _fx(imm=0, off=0), ("off",), group=group))
                    for bits in ((8, 16) if width == 32 else (8, 16, 32)):
                        _add(InsnSpec(f"movsx{bits}{width}", opcode, Kind.ALU, "movsx", width, source,
                                      _fx(imm=0, off=bits), ("off",), signed=True, group=group,
                                      extra=bits))
                else:
                    _add(InsnSpec(f"{name}{suffix}", opcode, Kind.ALU, name, width, source, reserved,
                                  signed=op is AluOp.ARSH, group=group))
    # byte swaps: le/be (ALU class, source bit picks the target order), bswap (ALU64)
    for opcode, op in ((Class.ALU | AluOp.END | SRC_K, "le"), (Class.ALU | AluOp.END | SRC_X, "be"),
                       (Class.ALU64 | AluOp.END | SRC_K, "bswap")):
        for bits in (16, 32, 64):
            _add(InsnSpec(f"{op}{bits}", opcode, Kind.ENDIAN, op, bits, "K",
                          _fx(src=0, off=0, imm=bits), ("imm",), group="base32", extra=bits))


_SIGNED_JUMPS = {"jsgt", "jsge", "jslt", "jsle"}


def _build_jmp() -> None:
    for cls, suffix, width in ((Class.JMP, "", 64), (Class.JMP32, "32", 32)):
        group = "base64" if width == 64 else "base32"
        for op in JmpOp:
            name = op.name.lower()
            if op is JmpOp.JA:
                if cls is Class.JMP:
                    _add(InsnSpec("ja", cls | op, Kind.JA, "ja", 64, "K", _fx(dst=0, src=0, imm=0),
                                  group="base32"))
                else:  # gotol: 32-bit offset in imm
                    _add(InsnSpec("ja32", cls | op, Kind.JA, "ja32", 32, "K", _fx(dst=0, src=0, off=0),
                                  group="base32"))
                continue
            if op is JmpOp.CALL:
                if cls is Class.JMP:
                    _add(InsnSpec("call", cls | op | SRC_K, Kind.CALL, "call", 64, "K",
                                  _fx(dst=0, src=CallSrc.HELPER, off=0), ("src",), group="base32"))
                    _add(InsnSpec("call local", cls | op | SRC_K, Kind.CALL_LOCAL, "call_local", 64, "K",
                                  _fx(dst=0, src=CallSrc.LOCAL, off=0), ("src",), group="base32"))
                    _add(InsnSpec("call kfunc", cls | op | SRC_K, Kind.CALL_KFUNC, "call_kfunc", 64, "K",
                                  _fx(dst=0, src=CallSrc.KFUNC), ("src",), group="base32"))
                    _add(InsnSpec("callx", cls | op | SRC_X, Kind.CALLX, "callx", 64, "X",
                                  _fx(src=0, off=0, imm=0), group="callx"))
                continue
            if op is JmpOp.EXIT:
                if cls is Class.JMP:
                    _add(InsnSpec("exit", cls | op, Kind.EXIT, "exit", 64, "K",
                                  _fx(dst=0, src=0, off=0, imm=0), group="base32"))
                continue
            for source, srcbit in (("K", SRC_K), ("X", SRC_X)):
                reserved = _fx(src=0) if source == "K" else _fx(imm=0)
                _add(InsnSpec(f"{name}{suffix}", cls | op | srcbit, Kind.JUMP, name, width, source, reserved,
                              signed=name in _SIGNED_JUMPS, group=group))


def _build_mem() -> None:
    # lddw and its pseudo sources
    for src in PseudoSrc:
        fixed = _fx(src=int(src), off=0)
        _add(InsnSpec("lddw", Class.LD | Mode.IMM | 0x18, Kind.LDDW, "lddw", 8, "K", fixed, ("src",),
                      group="base64", extra=int(src)))
    for size_bits, size in SIZE_BYTES.items():
        sfx = SIZE_SUFFIX[size]
        group = "base64" if size == 8 else "base32"
        # legacy packet access (no dw)
        if size != 8:
            _add(InsnSpec(f"ldabs{sfx}", Class.LD | Mode.ABS | size_bits, Kind.LD_ABS, "ldabs", size, "K",
                          _fx(dst=0, src=0, off=0), group="packet"))
            _add(InsnSpec(f"ldind{sfx}", Class.LD | Mode.IND | size_bits, Kind.LD_IND, "ldind", size, "X",
                          _fx(dst=0, off=0), group="packet"))
        _add(InsnSpec(f"ldx{sfx}", Class.LDX | Mode.MEM | size_bits, Kind.LDX, "ldx", size, "X", _fx(imm=0),
                      group=group))
        if size != 8:
            _add(InsnSpec(f"ldxs{sfx}", Class.LDX | Mode.MEMSX | size_bits, Kind.LDX, "ldxs", size, "X",
                          _fx(imm=0), signed=True, group=group))
        _add(InsnSpec(f"st{sfx}", Class.ST | Mode.MEM | size_bits, Kind.ST, "st", size, "K", _fx(src=0),
                      group=group))
        _add(InsnSpec(f"stx{sfx}", Class.STX | Mode.MEM | size_bits, Kind.STX, "stx", size, "X", _fx(imm=0),
                      group=group))
        if size in (4, 8):
            bits = size * 8
            agroup = "atomic32" if size == 4 else "atomic64"
            for aop, opname in ((AtomicOp.ADD, "add"), (AtomicOp.OR, "or"), (AtomicOp.AND, "and"),
                                (AtomicOp.XOR, "xor")):
                for fetch in (False, True):
                    imm = int(aop) | (AtomicOp.FETCH if fetch else 0)
                    name = f"lock {'fetch ' if fetch else ''}{opname}{'32' if bits == 32 else ''}"
                    _add(InsnSpec(name, Class.STX | Mode.ATOMIC | size_bits, Kind.ATOMIC,
                                  ("fetch_" if fetch else "") + opname, size, "X", _fx(imm=imm), ("imm",),
                                  group=agroup, extra=imm))
            for aop, opname in ((AtomicOp.XCHG, "xchg"), (AtomicOp.CMPXCHG, "cmpxchg")):
                name = f"lock {opname}{'32' if bits == 32 else ''}"
                _add(InsnSpec(name, Class.STX | Mode.ATOMIC | size_bits, Kind.ATOMIC, opname, size, "X",
                              _fx(imm=int(aop)), ("imm",), group=agroup, extra=int(aop)))


_build_alu()
_build_jmp()
_build_mem()

#: every instruction form, in a stable order
SPECS: tuple[InsnSpec, ...] = tuple(_SPECS)

#: opcode byte -> the specs that share it (usually one)
BY_OPCODE: dict[int, tuple[InsnSpec, ...]] = {}
for _spec in SPECS:
    BY_OPCODE[_spec.opcode] = BY_OPCODE.get(_spec.opcode, ()) + (_spec,)

#: conformance mnemonic -> specs (several for lddw's pseudo forms)
BY_NAME: dict[str, tuple[InsnSpec, ...]] = {}
for _spec in SPECS:
    BY_NAME[_spec.name] = BY_NAME.get(_spec.name, ()) + (_spec,)

#: the opcode of the second slot of lddw
LDDW_OPCODE = Class.LD | Mode.IMM | 0x18

MAX_REG = 10  #: r0..r10
FRAME_REG = 10  #: read-only frame pointer
