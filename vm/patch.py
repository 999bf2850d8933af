"""Replacing instructions by sequences, keeping every jump, call and code address right.

The kernel's verifier rewrites a program after proving it safe (context
accesses, legacy loads...) with ``bpf_patch_insn_single``, which inserts
instructions and moves every branch that crosses the insertion. :func:`expand`
is that for ebpflite's xlated programs: each patched instruction becomes a
sequence; relative jumps, gotol, bpf-to-bpf calls and code-address lddw of the
other instructions are re-aimed at their old targets, and function entries and
line info move with the code. A branch to a patched instruction lands on the
first instruction of its replacement. Offsets inside a replacement are its
author's: they are relative to the replacement and left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind, PseudoSrc
from ebpflite.vm.program import Program

_S16 = (-(1 << 15), (1 << 15) - 1)
_S32 = (-(1 << 31), (1 << 31) - 1)


def _relative_field(insn: Insn) -> str | None:
    """Which field of ``insn`` holds a pc-relative offset (``off`` or ``imm``), if any."""
    kind = insn.kind
    if kind is Kind.JUMP or (kind is Kind.JA and insn.spec.op == "ja"):
        return "off"
    if kind in (Kind.JA, Kind.CALL_LOCAL):
        return "imm"
    if kind is Kind.LDDW and insn.src == PseudoSrc.CODE_ADDR:
        return "imm"
    return None


def expand(program: Program, patches: Mapping[int, Sequence[Insn]]) -> Program:
    """A copy of ``program`` with the instruction at each pc of ``patches`` replaced."""
    if not patches:
        return program
    by_pc = {insn.pc: insn for insn in program.insns}
    for pc, seq in patches.items():
        if pc not in by_pc:
            raise ValueError(f"no instruction starts at pc {pc}")
        if _relative_field(by_pc[pc]) is not None:
            raise ValueError(f"pc {pc}: a branch or code address cannot be patched")
        if not seq:
            raise ValueError(f"pc {pc}: an instruction cannot be replaced by nothing")
    new_pc: dict[int, int] = {}
    at = 0
    for insn in program.insns:
        new_pc[insn.pc] = at
        at += sum(i.slots for i in patches[insn.pc]) if insn.pc in patches else insn.slots
    end = program.nslots
    new_pc[end] = at  # a jump to the end of the program (the decoder refuses it, but keep it exact)
    out: list[Insn] = []
    for insn in program.insns:
        start = new_pc[insn.pc]
        if insn.pc in patches:
            pc = start
            for repl in patches[insn.pc]:
                out.append(repl.with_fields(pc=pc))
                pc += repl.slots
            continue
        moved = insn.with_fields(pc=start)
        which = _relative_field(insn)
        if which is not None:
            old_target = insn.pc + getattr(insn, which) + 1
            if old_target not in new_pc:
                raise ValueError(f"pc {insn.pc}: target {old_target} is not the start of an instruction")
            delta = new_pc[old_target] - start - 1
            lo, hi = _S16 if which == "off" else _S32
            if not lo <= delta <= hi:
                raise ValueError(f"pc {insn.pc}: the patched jump offset {delta} does not fit its field")
            moved = moved.with_fields(**{which: delta})
        out.append(moved)
    return replace(program, insns=out,
                   functions={new_pc[pc]: name for pc, name in program.functions.items() if pc in new_pc},
                   line_info={new_pc[pc]: line for pc, line in program.line_info.items() if pc in new_pc})
