"""The reference interpreter: the semantics of docs/architecture.md, readably.

A program is compiled once into a list of handlers (``vm.handlers``), one
per 8-byte slot, plus error handlers for falling off the end and for jumps
that leave the program. On top of it, ``vm.blocks`` gives every slot a
*block*: the straight-line run of instructions starting there, as one
function (generated once it is hot). :meth:`Interpreter.run` then only does::

    while (n := lengths[pc]) <= left:   # the budget covers the whole block
        left -= n
        pc = blocks[pc]()
    for _ in range(left):               # it ends inside this block:
        pc = code[pc]()                 # one instruction at a time

so an exhausted budget stops at the same pc as a purely per-instruction
loop would. Handlers end the run by raising ``Exit``, and move to another
program (tail calls) by raising ``Switch``.

With ``trace=True`` there are no blocks: each handler is wrapped to record
a :class:`~ebpflite.vm.env.TraceEntry` (pc, instruction, registers that
changed, and memory written).
"""

from __future__ import annotations

import sys
from typing import Any

from ebpflite.vm.blocks import Blocks
from ebpflite.vm.env import Environment, HelperFn, RunResult, TraceEntry
from ebpflite.vm.errors import BudgetExceeded, CallDepthExceeded, EbpfError, ExecutionError
from ebpflite.vm.handlers import M64, Exit, Handler, HandlerBuilder, Machine, Switch
from ebpflite.vm.insn import Insn, check_program
from ebpflite.vm.isa import MAX_CALL_DEPTH, Kind
from ebpflite.vm.memory import Region, low_alloc
from ebpflite.vm.program import Program

_WRITES_MEMORY = {Kind.ST, Kind.STX, Kind.ATOMIC}


class Interpreter:
    """Runs a :class:`Program` in an :class:`Environment` (a minimal one if None)."""

    #: every memory access is checked against the environment's regions (the runtime
    #: reads this of any engine to decide whether a context must match the verifier's)
    checked = True

    def __init__(self, program: Program, env: Environment | None = None, *, trace: bool = False):
        if not program.insns:
            raise ExecutionError(f"program {program.name!r} is empty: it has no instructions to run")
        self.program = program
        self.env = env if env is not None else Environment.minimal()
        self.trace = trace
        self._machine = Machine(self.env)
        self._trace: list[TraceEntry] = []
        #: per program (by id): the program (kept alive), its handlers, its blocks and their lengths
        self._code: dict[int, tuple[Program, list[Handler], list[Handler], list[int]]] = {}
        self._callback_return: dict[int, int] = {}
        #: per program: index of the error handler of a jump outside the code -> the jump's target
        #: (the pc a BudgetExceeded names when the budget runs out on the way there)
        self._stepped_to: dict[int, dict[int, int]] = {}
        self._current = program
        self._callback_insns = 0
        self._code_for(program)

    def native_context(self, record: int) -> None:
        """Nothing to do: the interpreter reads the context through ``env.world.ctx``
        (the JIT's native helpers need the context record's address handed in)."""

    # -- compilation ------------------------------------------------------------
    def _code_for(self, program: Program) -> tuple[list[Handler], list[Handler], list[int]]:
        """(handlers, blocks, block lengths) of ``program``, compiled on first use (e.g. for tail calls)."""
        entry = self._code.get(id(program))
        if entry is None:
            code, targets = self._compile(program)
            if self.trace:  # every instruction must go through its traced handler
                entry = (program, code, code, [1] * len(code))
            else:
                blocks = Blocks(self._machine, program, code, targets)
                entry = (program, code, blocks.functions, blocks.lengths)
            self._code[id(program)] = entry
        return entry[1:]

    def _compile(self, program: Program) -> tuple[list[Handler], dict[int, int]]:
        """The handler of each slot, and the code index each jump at a pc goes to."""
        check_program(program.insns)  # hand-built programs skip the decoder's register checks
        nslots = program.nslots
        code: list[Handler] = [None] * nslots  # type: ignore[list-item]
        code.append(_fail(nslots, f"execution fell off the end of program {program.name!r} "
                                  "(the last instruction is not exit or a jump)"))
        targets: dict[int, int] = {}
        stepped = self._stepped_to[id(program)] = {}

        def resolve_target(target: int, pc: int) -> int:
            if 0 <= target < nslots and code[target] is not _LDDW_TAIL:
                targets[pc] = target
            else:
                code.append(_fail(pc, f"jump to {target} is outside program {program.name!r} "
                                      f"(0..{nslots - 1}) or inside an lddw"))
                targets[pc] = len(code) - 1
                stepped[targets[pc]] = target
            return targets[pc]

        # mark the second slots of lddw first, so resolve_target can refuse them
        for insn in program.insns:
            if insn.slots == 2 and insn.pc + 1 < nslots:
                code[insn.pc + 1] = _LDDW_TAIL
        builder = HandlerBuilder(self._machine, program, resolve_target)
        for insn in program.insns:
            handler = builder.build(insn)
            code[insn.pc] = self._traced(handler, insn) if self.trace else handler
        code.append(_callback_done)
        self._callback_return[id(program)] = len(code) - 1
        for pc in range(nslots):
            if code[pc] is _LDDW_TAIL:
                code[pc] = _fail(pc, "execution reached the second slot of an lddw")
            elif code[pc] is None:  # a gap in a hand-built program
                code[pc] = _fail(pc, "no instruction starts at this slot")
        return code, targets

    def _traced(self, handler: Handler, insn: Insn) -> Handler:
        R, memory, trace = self._machine.regs, self.env.memory, self._trace
        writes = insn.kind in _WRITES_MEMORY
        size = insn.spec.size

        def traced() -> int:
            before = R[:]
            address = (R[insn.dst] + insn.off) & M64 if writes else 0
            try:
                nxt = handler()
            except (Exit, Switch, EbpfError):
                trace.append(TraceEntry(insn.pc, insn, _changed(before, R)))
                raise
            changed = _changed(before, R)
            if writes:
                changed[f"mem[0x{address:x}]"] = memory.load(address, size, insn.pc)
            trace.append(TraceEntry(insn.pc, insn, changed))
            return nxt
        return traced

    # -- running -------------------------------------------------------------------
    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> RunResult:
        env, machine = self.env, self._machine
        env.reset_run()
        env.stack.clear()
        machine.frames.clear()
        self._trace.clear()
        R = machine.regs
        R[:] = [0, r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0, env.stack.frame_pointer(0)]
        budget = env.budget if env.budget is not None else sys.maxsize
        env.world.call_function = self._call_function
        self._current, self._callback_insns = self.program, 0
        (code, blocks, lengths), pc, left = self._code_for(self.program), 0, budget
        try:
            while True:
                n = -1  # instructions run one at a time, less one
                try:
                    # a block's length is counted before it runs: only its last
                    # instruction can raise Exit or Switch (see vm.blocks)
                    while (length := lengths[pc]) <= left:
                        left -= length
                        pc = blocks[pc]()
                    for n in range(left):  # noqa: B007 - n is read in the except clauses
                        pc = code[pc]()
                except Exit:
                    left -= n + 1
                    break
                except Switch as switch:
                    left -= n + 1
                    self._current = switch.program
                    (code, blocks, lengths), pc = self._code_for(switch.program), switch.pc
                    continue
                raise BudgetExceeded(
                    f"the instruction budget of {budget} ran out before the program exited "
                    f"(an endless loop?); {budget} instructions were executed",
                    self._stepped_to[id(self._current)].get(pc, pc))
        except EbpfError as exc:
            if self.trace:
                exc.trace = list(self._trace)  # what ran up to the failure, for the CLI
            raise
        executed = budget - left + self._callback_insns
        return RunResult(R[0], executed, list(self._trace) if self.trace else None)

    def _call_function(self, target: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
                       r5: int = 0) -> int:
        """Run the function at ``target`` as a callback of a helper (bpf_loop,
        for_each_map_elem), in a new frame, and return its r0.

        Helpers reach it through ``env.world.call_function``. The caller's
        registers are left as they were; the callback's instructions count
        against the same budget.
        """
        machine, env, program = self._machine, self.env, self._current
        R, frames = machine.regs, machine.frames
        code, blocks, lengths = self._code_for(program)
        depth = len(frames) + 1
        limit = min(MAX_CALL_DEPTH, env.stack.depth)
        if depth >= limit:
            raise CallDepthExceeded(f"callback at pc {target} would nest {depth + 1} frames; "
                                    f"at most {limit} are allowed")
        if not 0 <= target < program.nslots:
            raise ExecutionError(f"callback address {target} is outside program {program.name!r}")
        saved = R[:]
        frames.append((self._callback_return[id(program)], R[6], R[7], R[8], R[9], R[10], program))
        R[1:6] = [r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64]
        R[10] = env.stack.frame_pointer(depth)
        budget = env.budget if env.budget is not None else sys.maxsize
        pc, n = target, -1
        left = start = max(budget - self._callback_insns, 0)
        try:  # the loop of run(); the callback's exit returns to _callback_done
            while (length := lengths[pc]) <= left:
                left -= length
                pc = blocks[pc]()
            for n in range(left):  # noqa: B007
                pc = code[pc]()
        except _CallbackDone:
            self._callback_insns += start - left + n + 1
            result = R[0]
            R[:] = saved
            return result
        except Switch:
            raise ExecutionError("a tail call or program switch inside a callback is not allowed", pc) from None
        raise BudgetExceeded(f"the instruction budget of {budget} ran out inside a callback "
                             "(an endless loop?)", pc)


class _LddwTail:
    """Marker for the second slot of an lddw while compiling."""


_LDDW_TAIL: Any = _LddwTail()


class _CallbackDone(Exception):
    """Raised when a callback run by :meth:`Interpreter._call_function` exits."""


def _callback_done() -> int:
    raise _CallbackDone


def _fail(pc: int, message: str) -> Handler:
    def handler() -> int:
        raise ExecutionError(message, pc)
    return handler


def _changed(before: list[int], after: list[int]) -> dict[str, int]:
    return {f"r{i}": new for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new}


# --- the conformance suite's convention -----------------------------------------------------


def _identity_helper(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Helper 5 of the conformance suite: returns its first argument."""
    return r1


CONFORMANCE_HELPERS: dict[int, HelperFn] = {5: _identity_helper}


def conformance_environment(mem: bytes | None) -> tuple[Environment, int, int]:
    """An environment for one suite test, and (r1, r2): the memory's address and length."""
    env = Environment.minimal(helpers=CONFORMANCE_HELPERS)
    if not mem:
        return env, 0, 0
    buf = low_alloc(len(mem))
    buf[:] = memoryview(bytes(mem)).cast("B")
    region = env.memory.add(Region("mem", buf, "mem"))
    return env, region.start, len(mem)
