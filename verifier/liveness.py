"""Register liveness: which registers a block may still read before writing them.

The abstract interpreter keeps paths with different register types apart
(see :mod:`ebpflite.verifier.fixpoint`). Without liveness, registers the
program never reads again (a map pointer left in r1 on one path, a packet
pointer on another) would split paths for nothing; forgetting dead
registers where blocks begin (setting them to uninitialised, which is
sound because nothing reads them before writing them) keeps only the
differences that matter, as the kernel's liveness marks do for its state
pruning.

Uses and definitions come from the instruction's ISA ``kind`` and source
form, so no opcode is listed here; calls conservatively use r1-r5.
"""

from __future__ import annotations

from ebpflite.verifier.cfg import Function
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind

_ARGS = frozenset(range(1, 6))
_CLOBBERED = frozenset(range(0, 6))
_ALL = frozenset(range(0, 10))


def uses_defs(insn: Insn) -> tuple[frozenset[int], frozenset[int]]:
    """(registers read, registers certainly written) by one instruction; r10 is never tracked."""
    k, d, s = insn.kind, insn.dst, insn.src
    x = insn.spec.source == "X"
    if k is Kind.ALU:
        if insn.spec.op in ("mov", "movsx"):
            return frozenset({s} if x else ()), frozenset({d})
        return frozenset({d, s} if x else {d}), frozenset({d})
    if k is Kind.ENDIAN:
        return frozenset({d}), frozenset({d})
    if k is Kind.LDDW:
        return frozenset(), frozenset({d})
    if k is Kind.LDX:
        return frozenset({s}), frozenset({d})
    if k is Kind.ST:
        return frozenset({d}), frozenset()
    if k is Kind.STX:
        return frozenset({d, s}), frozenset()
    if k is Kind.ATOMIC:
        return frozenset({d, s, 0}), frozenset()
    if k in (Kind.CALL, Kind.CALL_LOCAL, Kind.CALL_KFUNC):
        return _ARGS, _CLOBBERED
    if k is Kind.CALLX:
        return _ARGS | {d}, _CLOBBERED
    if k in (Kind.LD_ABS, Kind.LD_IND):
        return frozenset({6, s} if k is Kind.LD_IND else {6}), _CLOBBERED
    if k is Kind.JUMP:
        return frozenset({d, s} if x else {d}), frozenset()
    if k is Kind.EXIT:
        return frozenset({0}), frozenset()
    if k is Kind.JA:
        return frozenset(), frozenset()
    return _ALL, frozenset()  # anything new: assume it reads everything


def live_in(func: Function) -> dict[int, frozenset[int]]:
    """Block start -> registers (r0-r9) that may be read before being written from there."""
    gen: dict[int, frozenset[int]] = {}
    kill: dict[int, frozenset[int]] = {}
    for start, block in func.blocks.items():
        g: set[int] = set()
        w: set[int] = set()
        for insn in block.insns:
            u, d = uses_defs(insn)
            g |= u - w
            w |= d
        gen[start], kill[start] = frozenset(g - {10}), frozenset(w)
    live = {b: gen[b] for b in func.blocks}
    changed = True
    while changed:
        changed = False
        for start in reversed(list(func.blocks)):
            out: frozenset[int] = frozenset()
            for succ in func.blocks[start].succs:
                out |= live[succ]
            new = gen[start] | (out - kill[start])
            if new != live[start]:
                live[start] = new
                changed = True
    return live
