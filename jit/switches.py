"""Recovering ``switch`` statements from the compare trees clang's BPF backend emits.

eBPF has no indirect jump, so clang lowers a C ``switch`` to a binary search
tree of conditional jumps on one register (``if r7 s> 6``, ``if r7 s> 10``,
``if r7 == 8`` ...). Lowered one jump at a time, LLVM sees that tree as a
chain of unpredictable branches and cannot rebuild the switch (its
switch-forming passes only merge equality chains), while gcc compiling the
same C emits one jump table: with random case values that is several branch
mispredictions per iteration against one.

:func:`recover_switch` finds such a tree: a block ending in a conditional
jump on register ``r`` against a constant, whose successors are, transitively,
blocks made of a single conditional jump on ``r`` (same width) against a
constant or a single ``ja``. It evaluates the tree for *every* value between
the smallest and the largest constant (at most :data:`MAX_SPAN` values) and
returns those values with the leaf block each reaches. The lowering emits an
LLVM ``switch`` on them whose default is the original tree, so values outside
the span still take the original compares: the result is exact whatever the
value, and LLVM turns a dense switch into a jump table (and drops the default
when it knows the value's range, e.g. ``x & 15``).

Only used when the executed-instruction count is off (unchecked code without
a budget): jumping straight to the leaf skips the counted tree blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ebpflite.vm import alu
from ebpflite.vm.isa import Kind

if TYPE_CHECKING:
    from ebpflite.vm.cfg import Block
    from ebpflite.vm.insn import Insn

#: fewest conditional jumps in a tree worth turning into a switch
MIN_NODES = 4
#: most values a recovered switch enumerates
MAX_SPAN = 256
#: longest chain of ``ja`` blocks followed between tree nodes
MAX_JA_CHAIN = 8

#: the jump conditions a tree node may use: the alu table's (vm/alu.py), which both engines run
_COMPARE = alu.JUMP


@dataclass(frozen=True)
class SwitchPlan:
    """Values (unsigned, ``width`` bits) of register ``reg`` and the leaf block pc each reaches."""

    reg: int
    width: int
    cases: dict[int, int]


def _unsigned(value: int, width: int) -> int:
    return value & ((1 << width) - 1)


def _signed(value: int, width: int) -> int:
    value = _unsigned(value, width)
    return value - (1 << width) if value >> (width - 1) else value


def _taken(insn: Insn, value: int) -> bool:
    """Would the jump ``insn`` be taken with its register holding ``value`` (any int)? Evaluated
    by the alu table's own condition, so it cannot differ from what the engines do."""
    width = insn.spec.width
    return bool(alu.function("jump", insn.spec.op, width)(_unsigned(value, width), _unsigned(insn.imm, width)))


def _is_node(block: Block, reg: int, width: int) -> bool:
    if len(block.insns) != 1:
        return False
    insn = block.insns[0]
    return (insn.kind is Kind.JUMP and insn.spec.source == "K" and insn.dst == reg
            and insn.spec.width == width and insn.spec.op in _COMPARE)


def recover_switch(blocks: dict[int, Block], root: Block) -> SwitchPlan | None:
    """The switch hidden in the compare tree ending ``root``, or None."""
    last = root.insns[-1]
    if last.kind is not Kind.JUMP or last.spec.source != "K" or last.spec.op not in _COMPARE:
        return None
    reg, width = last.dst, last.spec.width

    def follow(pc: int) -> int | None:
        """Skip blocks that are a lone ``ja``; None when the pc starts no block."""
        for _ in range(MAX_JA_CHAIN):
            block = blocks.get(pc)
            if block is None:
                return None
            if len(block.insns) != 1 or block.insns[0].kind is not Kind.JA:
                return pc
            pc = block.insns[0].target
        return pc if pc in blocks else None

    def successors(insn: Insn) -> tuple[int | None, int | None]:
        return follow(insn.target), follow(insn.pc + insn.slots)

    nodes: dict[int, Insn] = {}  # tree nodes other than the root, by block pc
    work = [last]
    while work:
        for pc in successors(work.pop()):
            if pc is None:
                return None
            if pc not in nodes and pc != root.start and _is_node(blocks[pc], reg, width):
                nodes[pc] = blocks[pc].insns[0]
                work.append(nodes[pc])
    if len(nodes) + 1 < MIN_NODES:
        return None
    constants = [_signed(i.imm, width) for i in (last, *nodes.values())]
    low, high = min(constants), max(constants)
    if high - low >= MAX_SPAN:
        return None
    cases = {}
    for value in range(low, high + 1):
        insn, steps = last, 0
        while True:
            taken, fallthrough = successors(insn)
            pc = taken if _taken(insn, value) else fallthrough
            if pc not in nodes:
                break
            insn, steps = nodes[pc], steps + 1
            if steps > len(nodes):  # a cycle of compares: not a tree
                return None
        cases[_unsigned(value, width)] = pc
    return SwitchPlan(reg, width, cases)
