"""The abstract interpreter: runs the transfer functions over the control-flow graph.

Blocks are visited in each function's weak topological order
(:mod:`ebpflite.verifier.cfg`): states arriving at a block along forward
edges are joined before the block runs. A loop component is iterated one
pass at a time: the state its back edges carry becomes the head's state for
the next pass, and the loop is done when no back edge is feasible any more.
Passes are not joined with each other, so a counted loop is followed
exactly and its iteration count proves that it ends; a pass whose entry
state is contained in the previous pass's proves nothing new and means the
loop may run for ever. The complexity limit (instructions processed, as in
the kernel) bounds the whole analysis.

Local calls are analysed at each call site with the caller's state (a new
frame on the state's frame list), which is how the kernel checks static
subprograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ebpflite.verifier.cfg import CFG, Function, Loop
from ebpflite.verifier.checks import Reject, fail
from ebpflite.verifier.report import Finding
from ebpflite.verifier.state import UNINIT, Frame, State, T, Value
from ebpflite.verifier.transfer import Machine
from ebpflite.vm.isa import STACK_SIZE, Kind

COMPLEXITY_LIMIT = 1_000_000  #: instructions processed before giving up (the kernel's limit)


class Abort(Exception):
    """Stop the analysis (first error found, or the complexity limit)."""


@dataclass
class _Run:
    """One analysis of one function from one entry state."""

    func: Function
    pending: dict[int, State] = field(default_factory=dict)
    back: dict[int, State | None] = field(default_factory=dict)
    exits: State | None = None


def _join(a: State | None, b: State) -> State:
    return b if a is None else a.join(b)


class Analyzer:
    def __init__(self, cfg: CFG, machine: Machine, *, all_errors: bool = False, verbose: bool = False,
                 max_insns: int = COMPLEXITY_LIMIT):
        self.cfg = cfg
        self.m = machine
        machine.call_function = self.call_function
        self.all_errors = all_errors
        self.verbose = verbose
        self.max_insns = max_insns
        self.errors: list[Finding] = []
        self._seen: set[tuple[int, str]] = set()
        self.processed = 0
        self.max_count: int | None = None
        self.loop_bounds: dict[int, int] = {}
        self.pre: dict[int, State] = {}
        self.post: dict[int, State] = {}

    # -- driver -----------------------------------------------------------------------------------
    def run(self, entry: State) -> None:
        try:
            self.analyze_function(0, entry)
            self.check_stack_depth()
        except Abort:
            pass

    def error(self, finding: Finding) -> None:
        key = (finding.pc, finding.message)
        if key not in self._seen:
            self._seen.add(key)
            self.errors.append(finding)
        if not self.all_errors:
            raise Abort

    def analyze_function(self, start: int, entry: State) -> State | None:
        run = _Run(self.cfg.functions[start])
        run.pending[start] = entry
        self._elements(run, run.func.order)
        return run.exits

    def _elements(self, run: _Run, elements) -> None:
        for e in elements:
            if isinstance(e, Loop):
                self._loop(run, e)
            else:
                st = run.pending.pop(e, None)
                if st is not None:
                    self._block(run, e, st)

    def _loop(self, run: _Run, loop: Loop) -> None:
        st = run.pending.pop(loop.head, None)
        passes = 0
        previous: State | None = None
        while st is not None:
            if previous is not None and st.le(previous):
                head_pc = loop.head
                self.error(fail(head_pc, "termination", f"the loop at pc {head_pc} may never end: pass "
                                f"{passes + 1} starts in a state already seen in pass {passes}",
                                "loop is bounded", "give the loop a constant bound (for (i = 0; i < N; i++)) "
                                "that the exit test checks").finding)
                return
            passes += 1
            run.back[loop.head] = None
            previous = st.copy()
            self._block(run, loop.head, st)
            self._elements(run, loop.body)
            st = run.back.pop(loop.head, None)
        if passes:
            self.loop_bounds[loop.head] = max(self.loop_bounds.get(loop.head, 0), passes)

    def _send(self, run: _Run, src: int, dst: int, st: State) -> None:
        if (src, dst) in run.func.back_edges:
            run.back[dst] = _join(run.back.get(dst), st)
        elif dst in run.func.blocks:
            run.pending[dst] = _join(run.pending.get(dst), st)

    def _block(self, run: _Run, start: int, st: State) -> None:
        block = run.func.blocks[start]
        for insn in block.insns:
            self.processed += 1
            st.count += 1
            if self.processed > self.max_insns:
                self.error(fail(insn.pc, "complexity", f"the program is too complex: the analysis processed "
                                f"{self.max_insns} instructions without finishing", f"processed <= "
                                f"{self.max_insns}", "bound loops with small constants or split the "
                                "program with tail calls").finding)
                raise Abort
            if self.verbose:
                self.pre[insn.pc] = _join_display(self.pre.get(insn.pc), st)
            try:
                kind = insn.kind
                if kind is Kind.JUMP:
                    taken, fall = self.m.branch(st, insn)
                    if self.verbose:
                        for s in (taken, fall):
                            if s is not None:
                                self.post[insn.pc] = _join_display(self.post.get(insn.pc), s)
                    if fall is not None:
                        self._send(run, start, block.end, fall)
                    if taken is not None:
                        self._send(run, start, insn.target, taken)
                    return
                if kind is Kind.JA:
                    if self.verbose:
                        self.post[insn.pc] = _join_display(self.post.get(insn.pc), st)
                    self._send(run, start, insn.target, st)
                    return
                if kind is Kind.EXIT:
                    self._exit(run, st, insn.pc)
                    return
                nxt = self.m.step(st, insn)
                if nxt is None:
                    return
                st = nxt
                if self.verbose:
                    self.post[insn.pc] = _join_display(self.post.get(insn.pc), st)
            except Reject as r:
                self.error(r.finding)
                return
        self._send(run, start, block.end, st)

    def _exit(self, run: _Run, st: State, pc: int) -> None:
        if len(st.frames) == 1:
            self.m.check_exit(st, pc)
            self.max_count = st.count if self.max_count is None else max(self.max_count, st.count)
        else:
            r0 = st.regs[0]
            if r0.type is T.STACK and r0.ref >= len(st.frames) - 1:
                raise fail(pc, "stack_escape", "a function returns a pointer to its own stack frame, which is "
                           "gone once it returns", "r0 does not point into the callee's frame", r0=r0)
            run.exits = _join(run.exits, st)

    # -- bpf-to-bpf calls -----------------------------------------------------------------------------
    def call_function(self, st: State, target: int, pc: int) -> State | None:
        regs = [UNINIT] * 11
        for r in range(1, 6):
            regs[r] = st.regs[r]
        regs[10] = Value(T.STACK, ref=len(st.frames))
        st.frames.append(Frame(regs))
        self.m.frame_funcs.append(target)
        try:
            out = self.analyze_function(target, st)
        finally:
            self.m.frame_funcs.pop()
        if out is None:
            return None
        callee = out.frames.pop()
        out.regs[0] = callee.regs[0]
        for r in range(1, 6):
            out.regs[r] = UNINIT
        for fi, where, v in list(out.values()):
            if v.type is T.STACK and v.ref >= len(out.frames):
                out.put(fi, where, UNINIT)
        return out

    # -- stack depth across calls ------------------------------------------------------------------------
    def check_stack_depth(self) -> None:
        funcs = self.cfg.functions
        depth = {f: _round32(max(self.m.stack_depth.get(f, 0), 1)) for f in funcs}

        def deepest(f: int, seen: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
            best = (0, ())
            for callee in funcs[f].calls:
                if callee in funcs and callee not in seen:
                    d, chain = deepest(callee, seen + (callee,))
                    if d > best[0]:
                        best = (d, chain)
            return depth[f] + best[0], (f,) + best[1]

        total, chain = deepest(0, (0,))
        if total > STACK_SIZE:
            names = " -> ".join(funcs[f].name for f in chain)
            self.error(fail(0, "stack_depth", f"combined stack size of {total} bytes along {names} exceeds "
                            f"{STACK_SIZE}", f"sum(frame sizes) <= {STACK_SIZE}",
                            "move large buffers into a per-CPU array map").finding)


def _round32(n: int) -> int:
    return (n + 31) // 32 * 32


def _join_display(a: State | None, b: State) -> State:
    if a is None:
        return b.copy()
    if len(a.frames) != len(b.frames):
        return a
    return a.join(b)
