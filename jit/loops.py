"""Where checked code may count its budget without checking it: a fast copy of every loop.

Checked code counts instructions per *segment* (jit/lower.py ``segments``)
and, to stop exactly where the interpreter does, checks on entry to each one
that it fits the budget. In a loop of small blocks that is a compare and a
branch every few instructions, and the branches keep LLVM from turning short
``if``s into selects. So the blocks of each loop get a second, *fast* copy:

- a *checkpoint* (a loop header, i.e. a target of a jump backwards, or the
  segment after a call, in its block or the next one: the callee counted for itself) checks that the
  longest run of instructions until the next checkpoint (``longest``) still
  fits the budget; if it does, no segment before the next checkpoint can
  run out, so they only add to the count, with no check;
- if it does not fit, the checkpoint goes to the same segment in the
  ordinary copy, which checks each segment and stops exactly (jit/budget.py).

Every cycle of a function passes through a jump backwards, whose target is a
checkpoint, so the runs between checkpoints are acyclic and ``longest`` is
finite. Only loops are copied: code outside them runs once per entry, where
a check per segment costs nothing worth the compile time of a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ebpflite.vm.cfg import Block
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind

#: instruction kinds that end a segment (jit/lower.py ``CALLS_OUT``: control comes back from elsewhere)
SEGMENT_ENDS = frozenset({Kind.CALL, Kind.CALLX, Kind.CALL_KFUNC, Kind.CALL_LOCAL, Kind.LD_ABS, Kind.LD_IND})


def segments(insns: list[Insn]) -> list[list[Insn]]:
    """A block's instructions cut after each call: the units the budget is counted in.

    A segment runs from its first instruction to its last without leaving the
    function, so counting its length on entry is exact once it is known to
    fit the budget; a call ends one, so that the callee (or a helper's
    callback) sees the true count and the caller counts again after it."""
    cut: list[list[Insn]] = [[]]
    for insn in insns:
        cut[-1].append(insn)
        if insn.kind in SEGMENT_ENDS:
            cut.append([])
    return [segment for segment in cut if segment]


@dataclass
class LoopPlan:
    """The fast copies of one function: which blocks, which segments check, and how far."""

    #: start pcs of the blocks that get a fast copy (those between a loop header and its back jump)
    fast_blocks: set[int] = field(default_factory=set)
    #: start pcs of the segments that check the budget in the fast copy
    checkpoints: set[int] = field(default_factory=set)
    #: checkpoint pc -> the most instructions that can run from it to the next checkpoint
    longest: dict[int, int] = field(default_factory=dict)


def plan_loops(blocks: dict[int, Block]) -> LoopPlan:
    """The fast copies for a function's ``blocks`` (empty when it has no loop)."""
    plan = LoopPlan()
    back_jumps = [(block.last.target, block.last.pc) for block in blocks.values()
                  if block.last.kind in (Kind.JUMP, Kind.JA) and block.last.target in blocks
                  and block.last.target <= block.last.pc]
    if not back_jumps:
        return plan
    headers = {target for target, _ in back_jumps}
    plan.fast_blocks = {pc for pc in blocks if any(target <= pc <= source for target, source in back_jumps)}
    cut = {pc: segments(blocks[pc].insns) for pc in plan.fast_blocks}
    next_of: dict[int, list[int]] = {}  # segment start -> the segment starts that can follow it
    for pc, segs in cut.items():
        for i, seg in enumerate(segs):
            next_of[seg[0].pc] = [segs[i + 1][0].pc] if i + 1 < len(segs) else list(blocks[pc].succs)
    # the segments after a call: in the same block, or the next block when the call is a block's last
    after_calls = {nxt for segs in cut.values() for seg in segs if seg[-1].kind in SEGMENT_ENDS
                   for nxt in next_of[seg[0].pc]}
    plan.checkpoints = {start for start in next_of if start in headers or start in after_calls}

    seg_of = {seg[0].pc: seg for segs in cut.values() for seg in segs}
    longest: dict[int, int] = {}
    # edges between segments that are not checkpoints go forward (every jump backwards lands on
    # a header), so walking from the highest pc down finds each successor already measured
    for start in sorted(next_of, reverse=True):
        after = [longest[nxt] for nxt in next_of[start] if nxt in next_of and nxt not in plan.checkpoints]
        longest[start] = len(seg_of[start]) + max(after, default=0)
    plan.longest = {pc: longest[pc] for pc in plan.checkpoints}
    return plan

