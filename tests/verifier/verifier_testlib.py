"""Building small test programs from mnemonics without an assembler.

``X("add", 1, 2)`` is the register form (``r1 += r2``), ``K("add", 1, 5)``
the immediate form; ``prog([...])`` assigns pcs and wraps them in a Program.
"""

from __future__ import annotations

from ebpflite.vm.insn import Insn, make
from ebpflite.vm.isa import BY_NAME
from ebpflite.vm.program import Program


def _spec(name: str, source: str):
    specs = BY_NAME[name]
    for s in specs:
        if s.source == source:
            return s
    return specs[0]


def X(name: str, dst: int = 0, src: int = 0, off: int = 0) -> Insn:
    """Register-source form: ``dst op= src`` / ``if dst op src goto +off`` / ldx / stx."""
    return make(_spec(name, "X"), dst=dst, src=src, off=off)


def K(name: str, dst: int = 0, imm: int = 0, off: int = 0) -> Insn:
    """Immediate form: ``dst op= imm`` / ``if dst op imm goto +off`` / st."""
    return make(_spec(name, "K"), dst=dst, imm=imm, off=off)


def LD(name: str, dst: int, src: int, off: int = 0) -> Insn:
    return make(name, dst=dst, src=src, off=off)


def MAP(dst: int, index: int) -> Insn:
    """``dst = map[index]`` (lddw with the map-index pseudo source)."""
    return make("lddw", dst=dst, imm=index, pseudo=5)


def CALL(helper: int) -> Insn:
    return make("call", imm=helper)


def EXIT() -> Insn:
    return make("exit")


def prog(insns: list[Insn], **kwargs) -> Program:
    out, pc = [], 0
    for i in insns:
        out.append(i.with_fields(pc=pc))
        pc += i.slots
    return Program(out, **kwargs)
