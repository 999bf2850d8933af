"""Control flow of a program: where functions start, where execution goes next, basic blocks.

One home for what both the verifier and the JIT need to know about a
program's shape: the verifier (``verifier/cfg.py``) extends it with loops,
the order its analysis visits blocks and the structural problems it
reports; the JIT (``jit/lower.py``) lowers each function's reachable blocks.

- A *function* starts at pc 0, at every ``call local`` target, at every
  callback (an lddw of a code address, as ``bpf_loop`` takes) and at every
  pc the program names (BTF func info, assembly labels called).
- Within a function, execution goes on after an instruction at
  :func:`successors`; ``exit``, ``ja`` and conditional jumps end a block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind, PseudoSrc

#: instruction kinds that end a basic block
ENDS_BLOCK = frozenset({Kind.JUMP, Kind.JA, Kind.EXIT})


def ends_block(insn: Insn) -> bool:
    return insn.kind in ENDS_BLOCK


def successors(insn: Insn) -> list[int]:
    """pcs execution may continue at within the same function (fall-through first)."""
    kind = insn.kind
    nxt = insn.pc + insn.slots
    if kind is Kind.EXIT:
        return []
    if kind is Kind.JA:
        return [insn.target]
    if kind is Kind.JUMP:
        return [nxt, insn.target]
    return [nxt]


def function_starts(insns: Iterable[Insn], names: Mapping[int, str] | None = None) -> list[int]:
    """Sorted pcs where functions start: 0, the named pcs, call-local targets and callbacks.
    A start that is not an instruction is returned too (the verifier reports it)."""
    starts = {0} | set(names or {})
    for i in insns:
        if i.kind is Kind.CALL_LOCAL and i.target is not None:
            starts.add(i.target)
        if i.kind is Kind.LDDW and i.src == PseudoSrc.CODE_ADDR:
            starts.add(i.pc + i.imm + 1)
    return sorted(starts)


@dataclass
class Block:
    """A basic block: straight-line instructions, entered only at ``start``."""

    start: int  #: pc of the first instruction
    insns: list[Insn] = field(default_factory=list)
    succs: list[int] = field(default_factory=list)  #: start pcs of successor blocks
    preds: list[int] = field(default_factory=list)

    @property
    def last(self) -> Insn:
        return self.insns[-1]

    @property
    def end(self) -> int:
        """pc just past the block."""
        return self.last.pc + self.last.slots


def link(blocks: dict[int, Block]) -> dict[int, Block]:
    """Fill ``succs``/``preds`` from each block's last instruction (targets outside ``blocks``
    are left out: the caller reports or ignores them)."""
    for b in blocks.values():
        for t in successors(b.last):
            if t in blocks and t not in b.succs:
                b.succs.append(t)
                blocks[t].preds.append(b.start)
    return blocks


def split(body: Sequence[Insn], leaders: set[int]) -> dict[int, Block]:
    """The instructions of one function (in pc order) cut into linked blocks at ``leaders``."""
    blocks: dict[int, Block] = {}
    current: Block | None = None
    for i in body:
        if i.pc in leaders or current is None:
            current = blocks[i.pc] = Block(i.pc)
        current.insns.append(i)
    return link(blocks)


def reachable_blocks(by_pc: Mapping[int, Insn], entry: int) -> dict[int, Block]:
    """The linked blocks reachable from ``entry`` by following :func:`successors` (pcs that are
    no instruction are not followed), cut wherever a jump lands or a block-ending instruction
    is followed by another."""
    reachable: set[int] = set()
    leaders = {entry}
    work = [entry]
    while work:
        pc = work.pop()
        if pc in reachable or pc not in by_pc:
            continue
        reachable.add(pc)
        insn = by_pc[pc]
        succ = successors(insn)
        if ends_block(insn):
            leaders.update(succ)
        work.extend(succ)
    blocks: dict[int, Block] = {}
    for start in sorted(leaders & reachable):
        block = blocks[start] = Block(start)
        pc = start
        while True:
            insn = by_pc[pc]
            block.insns.append(insn)
            nxt = pc + insn.slots
            if ends_block(insn) or nxt in leaders or nxt not in by_pc:
                break
            pc = nxt
    return link(blocks)
