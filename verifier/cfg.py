"""Control flow: functions, basic blocks, loops and the order the analysis visits them.

Functions, successors and basic blocks come from ``vm/cfg.py`` (shared with
the JIT); this module adds what only the verifier needs.

The analysis (``verifier.fixpoint``) walks each function's blocks in a
*weak topological order*: blocks in reverse post-order, with every loop
(natural loop of a back edge) nested as one component headed by its
header. Iterating a component until its back edges carry nothing new is
what lets bounded loops be proven to end, and a block is only visited
after all its forward predecessors, so their states are joined first.

Structural problems (a jump leaving its function, falling off the end,
recursion, irreducible loops) are found here, before any state exists,
and reported as :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ebpflite.vm.cfg import ENDS_BLOCK, Block, function_starts, split
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind

__all__ = ["Block", "CFG", "Function", "Loop", "Problem", "build", "function_starts"]


@dataclass
class Problem:
    """A structural error, found before abstract interpretation."""

    pc: int
    message: str
    formula: str = ""
    hint: str = ""


@dataclass
class Loop:
    """A loop component of the weak topological order."""

    head: int
    body: list[int | Loop]  #: the components after the head, in order
    blocks: frozenset[int]  #: every block of the loop, the head included


@dataclass
class Function:
    name: str
    start: int
    end: int  #: pc just past the function
    blocks: dict[int, Block]
    order: list[int | Loop]  #: weak topological order
    back_edges: set[tuple[int, int]]
    unreachable: list[int]
    calls: set[int]  #: start pcs of called functions

    def loop_heads(self) -> set[int]:
        return {h for _, h in self.back_edges}


@dataclass
class CFG:
    functions: dict[int, Function]
    problems: list[Problem]
    notes: list[tuple[int, str]]

    def function_at(self, pc: int) -> Function | None:
        for f in self.functions.values():
            if f.start <= pc < f.end:
                return f
        return None


def build(insns: Sequence[Insn], names: dict[int, str] | None = None) -> CFG:
    """Split a program into functions and blocks; find loops and structural problems."""
    names = dict(names or {})
    problems: list[Problem] = []
    notes: list[tuple[int, str]] = []
    if not insns:
        return CFG({}, [Problem(0, "the program is empty", hint="a program needs at least an exit")], [])
    nslots = insns[-1].pc + insns[-1].slots
    starts_pc = {i.pc for i in insns}
    bounds = [s for s in function_starts(insns, names) if s in starts_pc or s == 0]
    for s in function_starts(insns, names):
        if s not in starts_pc:
            problems.append(Problem(s, f"a function starts at {s}, which is not an instruction",
                                    "target in insn_starts"))
    functions: dict[int, Function] = {}
    for n, start in enumerate(bounds):
        end = bounds[n + 1] if n + 1 < len(bounds) else nslots
        body = [i for i in insns if start <= i.pc < end]
        name = names.get(start, "main" if start == 0 else f"func_{start}")
        functions[start] = _build_function(name, start, end, body, starts_pc, problems, notes)
    _check_recursion(functions, problems)
    return CFG(functions, problems, notes)


def _build_function(name: str, start: int, end: int, body: list[Insn], starts_pc: set[int],
                    problems: list[Problem], notes: list[tuple[int, str]]) -> Function:
    leaders = {start}
    calls: set[int] = set()
    for i in body:
        t = i.target
        if i.kind is Kind.CALL_LOCAL:
            if t is not None:
                calls.add(t)
            continue
        if i.kind in ENDS_BLOCK:
            nxt = i.pc + i.slots
            if nxt < end:
                leaders.add(nxt)
            if t is not None:
                if not start <= t < end:
                    problems.append(Problem(i.pc, f"jump from {name} to {t} leaves the function "
                                                  f"({start}..{end - 1})", f"{start} <= {t} < {end}",
                                            "functions may only be entered by a call"))
                elif t not in starts_pc:
                    problems.append(Problem(i.pc, f"jump to {t} lands in the middle of an lddw",
                                            "target in insn_starts"))
                else:
                    leaders.add(t)
    last = body[-1]
    if last.kind not in (Kind.EXIT, Kind.JA):
        problems.append(Problem(last.pc, f"execution can fall off the end of {name} after pc {last.pc}",
                                "last insn is exit or ja", "end every path with an exit"))
    blocks = split(body, leaders)
    rpo = _reverse_postorder(blocks, start)
    reachable = set(rpo)
    unreachable = sorted(set(blocks) - reachable)
    for s in unreachable:
        notes.append((s, f"unreachable code in {name}: pc {s}..{blocks[s].end - 1} is never executed"))
    idom = _dominators(blocks, rpo)
    back: set[tuple[int, int]] = set()
    index = {b: n for n, b in enumerate(rpo)}
    for u in rpo:
        for v in blocks[u].succs:
            if index[v] <= index[u]:
                if _dominates(idom, v, u):
                    back.add((u, v))
                else:
                    problems.append(Problem(blocks[u].last.pc, f"irreducible loop: the jump to {v} enters a "
                                            "loop in the middle", "target dominates source",
                                            "write loops with a single entry"))
    loops = _natural_loops(blocks, back, reachable)
    order = _wto([b for b in rpo], loops, None)
    return Function(name, start, end, {k: blocks[k] for k in blocks}, order, back, unreachable, calls)


def _reverse_postorder(blocks: dict[int, Block], entry: int) -> list[int]:
    seen: set[int] = set()
    post: list[int] = []
    stack: list[tuple[int, int]] = [(entry, 0)]
    seen.add(entry)
    while stack:
        node, i = stack.pop()
        succs = blocks[node].succs
        if i < len(succs):
            stack.append((node, i + 1))
            nxt = succs[i]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, 0))
        else:
            post.append(node)
    return post[::-1]


def _dominators(blocks: dict[int, Block], rpo: list[int]) -> dict[int, int]:
    """Immediate dominators (Cooper, Harvey, Kennedy)."""
    index = {b: n for n, b in enumerate(rpo)}
    idom = {rpo[0]: rpo[0]}
    changed = True
    while changed:
        changed = False
        for b in rpo[1:]:
            preds = [p for p in blocks[b].preds if p in idom]
            if not preds:
                continue
            new = preds[0]
            for p in preds[1:]:
                a, c = p, new
                while a != c:
                    while index[a] > index[c]:
                        a = idom[a]
                    while index[c] > index[a]:
                        c = idom[c]
                new = a
            if idom.get(b) != new:
                idom[b] = new
                changed = True
    return idom


def _dominates(idom: dict[int, int], a: int, b: int) -> bool:
    while True:
        if a == b:
            return True
        parent = idom.get(b)
        if parent is None or parent == b:
            return False
        b = parent


def _natural_loops(blocks: dict[int, Block], back: set[tuple[int, int]], reachable: set[int]
                   ) -> dict[int, set[int]]:
    loops: dict[int, set[int]] = {}
    for u, h in back:
        body = loops.setdefault(h, {h})
        work = [u]
        while work:
            n = work.pop()
            if n not in body:
                body.add(n)
                work.extend(p for p in blocks[n].preds if p in reachable)
    return loops


def _wto(rpo: list[int], loops: dict[int, set[int]], head: int | None) -> list[int | Loop]:
    out: list[int | Loop] = []
    done: set[int] = set()
    for b in rpo:
        if b in done:
            continue
        if b in loops and b != head:
            body = loops[b]
            inner = [x for x in rpo if x in body and x != b]
            sub = {h: s for h, s in loops.items() if h in body and h != b}
            out.append(Loop(b, _wto(inner, sub, b), frozenset(body)))
            done |= body
        else:
            out.append(b)
            done.add(b)
    return out


def _check_recursion(functions: dict[int, Function], problems: list[Problem]) -> None:
    state: dict[int, int] = {}

    def visit(f: int, chain: list[int]) -> None:
        state[f] = 1
        for callee in sorted(functions[f].calls):
            if callee not in functions:
                continue
            if state.get(callee) == 1:
                names = " -> ".join(functions[c].name for c in chain + [f, callee])
                problems.append(Problem(f, f"recursion is not allowed: {names}", "call graph is acyclic",
                                        "turn the recursion into a bounded loop"))
            elif callee not in state:
                visit(callee, chain + [f])
        state[f] = 2

    if 0 in functions:
        visit(0, [])
