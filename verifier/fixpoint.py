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

Path sensitivity: where paths meet, states of the same *shape* (every
register's type and region, see :meth:`State.shape`) are joined, but
states whose types differ are kept apart, up to :data:`MAX_STATES` per
block, as the kernel explores paths separately. So a register holding map
A on one path and map B on another, or a pointer that is NULL on one path
and valid on the other, keeps an exact type on each. Registers no later
instruction reads are forgotten first (:mod:`ebpflite.verifier.liveness`),
so dead values split nothing. Past the bound, a state joins the most
similar one (types that differ become a "mixed value").

Local calls are analysed at each call site with the caller's state (a new
frame on the state's frame list), which is how the kernel checks static
subprograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ebpflite.verifier import subprogs
from ebpflite.verifier.cfg import CFG, Function, Loop
from ebpflite.verifier.checks import Reject, fail, read_reg
from ebpflite.verifier.liveness import live_in
from ebpflite.verifier.paths import StateSet
from ebpflite.verifier.report import Finding
from ebpflite.verifier.state import UNINIT, UNKNOWN, Frame, StackSlot, State, T, Value
from ebpflite.verifier.transfer import Machine
from ebpflite.vm.isa import STACK_SIZE, Kind

COMPLEXITY_LIMIT = 1_000_000  #: instructions processed before giving up (the kernel's limit)
MAX_STATES = 32  #: states kept apart per block before the closest two are joined (paths.py)


class Abort(Exception):
    """Stop the analysis (first error found, or the complexity limit)."""


@dataclass
class _Run:
    """One analysis of one function from one entry state."""

    func: Function
    live: dict[int, frozenset[int]]
    pending: dict[int, StateSet] = field(default_factory=dict)
    back: dict[int, StateSet] = field(default_factory=dict)
    exits: StateSet = field(default_factory=StateSet)


class Analyzer:
    def __init__(self, cfg: CFG, machine: Machine, *, all_errors: bool = False, verbose: bool = False,
                 max_insns: int = COMPLEXITY_LIMIT, max_states: int | None = None):
        self.cfg = cfg
        self.m = machine
        machine.call_function = self.call_function
        machine.call_callback = self.call_callback
        #: function -> callbacks it passes to helpers (they run on top of its frame)
        self.callback_calls: dict[int, set[int]] = {}
        #: global function -> its longest path (verified once, on its own: see verifier/subprogs.py)
        self.global_costs: dict[int, int] = {}
        self.all_errors = all_errors
        self.verbose = verbose
        self.max_insns = max_insns
        #: states kept apart per point (default :data:`MAX_STATES`, read when the analysis starts)
        self.max_states = MAX_STATES if max_states is None else max_states
        self.errors: list[Finding] = []
        self._seen: set[tuple[int, str]] = set()
        self.processed = 0
        self.max_count: int | None = None
        self.loop_bounds: dict[int, int] = {}
        self.pre: dict[int, State] = {}
        self.post: dict[int, State] = {}
        self._live = {start: live_in(f) for start, f in cfg.functions.items()}

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

    def analyze_function(self, start: int, entry: State) -> list[State]:
        """The states in which the function returns (one per shape), after analysing it from ``entry``."""
        run = _Run(self.cfg.functions[start], self._live[start])
        entry.forget(run.live[start])
        run.pending[start] = StateSet([entry])
        self._elements(run, run.func.order)
        return run.exits.states

    def _elements(self, run: _Run, elements) -> None:
        for e in elements:
            if isinstance(e, Loop):
                self._loop(run, e)
            else:
                for st in run.pending.pop(e, ()):
                    self._block(run, e, st)

    def _loop(self, run: _Run, loop: Loop) -> None:
        states = run.pending.pop(loop.head, StateSet()).states
        passes = 0
        previous: list[State] = []
        while states:
            if any(st.le(old) for st in states for old in previous):
                head_pc = loop.head
                self.error(fail(head_pc, "termination", f"the loop at pc {head_pc} may never end: pass "
                                f"{passes + 1} starts in a state already seen in pass {passes}",
                                "loop is bounded", "give the loop a constant bound (for (i = 0; i < N; i++)) "
                                "that the exit test checks").finding)
                return
            passes += 1
            run.back[loop.head] = StateSet()
            previous = [st.copy() for st in states]
            for st in states:
                self._block(run, loop.head, st)
            self._elements(run, loop.body)
            states = run.back.pop(loop.head).states
        if passes:
            self.loop_bounds[loop.head] = max(self.loop_bounds.get(loop.head, 0), passes)

    def _send(self, run: _Run, src: int, dst: int, st: State) -> None:
        if dst not in run.func.blocks:
            return
        st.forget(run.live[dst])
        if (src, dst) in run.func.back_edges:
            run.back.setdefault(dst, StateSet()).add(st, self.max_states)
        else:
            run.pending.setdefault(dst, StateSet()).add(st, self.max_states)

    def _block(self, run: _Run, start: int, st: State, first: int = 0) -> None:
        block = run.func.blocks[start]
        for n in range(first, len(block.insns)):
            insn = block.insns[n]
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
                if isinstance(nxt, list):  # a call that returns in states of different shapes
                    for one in nxt[1:]:
                        self._block(run, start, one, n + 1)
                    nxt = nxt[0]
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
            run.exits.add(st, self.max_states)

    # -- bpf-to-bpf calls -----------------------------------------------------------------------------
    def call_function(self, st: State, target: int, pc: int) -> list[State] | None:
        sig = self.m.global_functions.get(target)
        if sig is not None:
            return [self._call_global(st, target, sig, pc)]
        out = self._run_callee(st, target, st.regs[1:6])
        if not out:
            return None
        for ret in out:
            callee = self._pop_frame(ret)
            ret.regs[0] = callee.regs[0]
            for r in range(1, 6):
                ret.regs[r] = UNINIT
        return out

    def _call_global(self, st: State, target: int, sig, pc: int) -> State:
        """A global function (verifier/subprogs.py): arguments checked against its BTF, an unknown number
        back; the function itself is verified once, on its own, from what its BTF promises."""
        subprogs.check_call(self.m, st, sig, pc)
        if target not in self.global_costs:
            self.global_costs[target] = 0  # (recursion is refused by the CFG; this only guards)
            self.global_costs[target] = self._verify_global(target, sig, pc)
        for r in range(1, 6):
            st.regs[r] = UNINIT
        st.regs[0] = UNKNOWN
        st.count += self.global_costs[target]
        return st

    def _verify_global(self, target: int, sig, pc: int) -> int:
        """Analyse global function ``target`` from its declared arguments; its longest path's length."""
        base = State([Frame([UNINIT] * 11)])  # no caller: a frame nothing reads, under the function's own
        saved, self.m.frame_funcs = self.m.frame_funcs, [0]
        try:
            exits = self._run_callee(base, target, subprogs.entry_args(sig, base, target))
        finally:
            self.m.frame_funcs = saved
        cost = 0
        for ret in exits:
            r0 = read_reg(ret, 0, pc, f"the return value of global function {sig.name}()")
            if r0.type is not T.SCALAR:
                raise fail(pc, "global_func", f"global function {sig.name}() may return a {r0.type.value}; global "
                           "functions return numbers", "r0.type == number", r0=r0)
            cost = max(cost, ret.count - base.count)
        return cost

    def _run_callee(self, st: State, target: int, args) -> list[State]:
        """Analyse function ``target`` in a new frame on top of ``st`` with r1.. = ``args``."""
        regs = [UNINIT] * 11
        regs[1:1 + len(args)] = list(args)
        regs[10] = Value(T.STACK, ref=len(st.frames))
        st.frames.append(Frame(regs))
        self.m.frame_funcs.append(target)
        try:
            return self.analyze_function(target, st)
        finally:
            self.m.frame_funcs.pop()

    @staticmethod
    def _pop_frame(st: State) -> Frame:
        """Return from the top frame: pointers into it are gone."""
        callee = st.frames.pop()
        for fi, where, v in list(st.values()):
            if v.type is T.STACK and v.ref >= len(st.frames):
                st.put(fi, where, UNINIT)
        return callee

    def call_callback(self, st: State, target: int, args: list[Value], pc: int, ret_range: tuple[int, int],
                      times: int) -> State:
        """A helper calls ``target`` up to ``times`` times: the caller's state once every call may have run.

        The callback is analysed from the caller's state, then again from the
        join of that state with its results (its writes through the context
        pointer), until nothing new appears; numbers that keep changing are
        widened to unknown, so this ends. Its instructions count ``times``
        over in the termination bound.
        """
        caller = self.m.frame_funcs[-1]
        self.callback_calls.setdefault(caller, set()).add(target)
        entry = st
        cost = 0
        for _ in range(_CALLBACK_ROUNDS):
            exits = self._run_callee(entry.copy(), target, args)
            merged = entry
            for ret in exits:
                r0 = read_reg(ret, 0, pc, f"the return value of callback {self.cfg.functions[target].name}")
                lo, hi = ret_range
                if r0.type is not T.SCALAR or r0.num.smin < lo or r0.num.smax > hi or r0.num.umax > hi:
                    raise fail(pc, "return_range", f"callback {self.cfg.functions[target].name} must return a "
                               f"number in [{lo}, {hi}], but r0 may be {r0.describe()}", f"{lo} <= r0 <= {hi}",
                               "return 0 to continue and 1 to stop", r0=r0)
                cost = max(cost, ret.count - entry.count)
                self._pop_frame(ret)
                ret.count = entry.count
                merged = merged.join(ret)
            if merged.le(entry):
                break
            entry = _widen(entry, merged)
        else:  # pragma: no cover - widening makes every stack slot stable within a few rounds
            raise fail(pc, "complexity", "the callback's effect on the caller does not stabilise")
        entry = entry.copy()
        entry.count += cost * times
        return entry

    # -- stack depth across calls ------------------------------------------------------------------------
    def check_stack_depth(self) -> None:
        funcs = self.cfg.functions
        depth = {f: _round32(max(self.m.stack_depth.get(f, 0), 1)) for f in funcs}

        def deepest(f: int, seen: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
            best = (0, ())
            for callee in funcs[f].calls | self.callback_calls.get(f, set()):
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


_CALLBACK_ROUNDS = 8


def _widen(old: State, new: State) -> State:
    """``new`` (which includes ``old``) with spilled numbers that changed made unknown."""
    out = new.copy()
    for a, b in zip(old.frames, out.frames, strict=True):
        for k, slot in b.stack.items():
            before = a.stack.get(k)
            if slot.spill is not None and slot.spill.type is T.SCALAR and (before is None or before != slot):
                b.stack[k] = StackSlot(UNKNOWN)
    return out


def _round32(n: int) -> int:
    return (n + 31) // 32 * 32


def _join_display(a: State | None, b: State) -> State:
    if a is None:
        return b.copy()
    if len(a.frames) != len(b.frames):
        return a
    return a.join(b)
