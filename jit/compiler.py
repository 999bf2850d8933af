"""``JitProgram``: a program compiled to native code, with the interpreter's API.

>>> jit = JitProgram(program, env)           # checked mode unless program.verified
>>> jit.run(r1=ctx_address).r0

Checked mode (the default for unverified code) bounds-checks every memory
access against the environment's region table and enforces the instruction
budget; unchecked mode trusts the verifier and runs at full speed. Unchecked
code with no budget (``env.budget is None``, as the runtime gives verified
programs) also drops the executed-instruction count, so that LLVM can
vectorise loops: ``RunResult.insns_executed`` is then 0 (pass ``count=True``
to keep it). Either
way, whatever stops a program early comes back from native code as a status
in the run context and is raised here as the exception the interpreter
raises for the same fault (:class:`MemoryFault`, :class:`BudgetExceeded`,
:class:`CallDepthExceeded`, helper errors...), with the same pc and fields.
"""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

from ebpflite.jit import fastcall as fastcall_builtin
from ebpflite.jit.abi import CTX_WORDS, Ctx, Status, signed_word
from ebpflite.jit.budget import budget_exceeded
from ebpflite.jit.cache import CompiledCode, compile_program
from ebpflite.jit.callbacks import Trampoline
from ebpflite.jit.lower import LowerOptions
from ebpflite.jit.native import map_table_rows, map_types_of, native_helper_numbers
from ebpflite.vm.env import Environment, RunResult
from ebpflite.vm.errors import CallDepthExceeded, EbpfError, ExecutionError
from ebpflite.vm.insn import check_program
from ebpflite.vm.isa import MAX_CALL_DEPTH, Kind
from ebpflite.vm.program import Program

M64 = (1 << 64) - 1
_ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_CTX_ARRAY = ctypes.c_uint64 * CTX_WORDS
# plain ints for the hot path of run(): indexing with an IntEnum member costs a __index__ call
_REG0, _COUNT, _BUDGET, _REMAINING = int(Ctx.REG0), int(Ctx.COUNT), int(Ctx.BUDGET), int(Ctx.CALL_REMAINING)
_OK, _PROGRAM_EXIT = int(Status.OK), int(Status.PROGRAM_EXIT)
_NO_BUDGET = sys.maxsize
_BLOCK_ARRAY = ctypes.c_uint64 * fastcall_builtin.BLOCK_WORDS
_CALLBACK_INSNS = int(fastcall_builtin.Word.CALLBACK_INSNS)
#: instructions that call back into Python (helpers, kfuncs, legacy packet loads)
_CALLING_KINDS = frozenset({Kind.CALL, Kind.CALLX, Kind.CALL_KFUNC, Kind.LD_ABS, Kind.LD_IND})


class TraceUnsupported(EbpfError):
    """The JIT cannot record instruction traces: native code has no per-instruction hook."""


class JitProgram:
    """One program compiled for one environment.

    ``checked`` defaults to ``not program.verified``. ``count`` (keep the
    executed-instruction count) defaults to ``checked or env.budget is not
    None``. ``native_helpers=False`` keeps every helper a Python callback
    (benchmarks compare the two). ``opt_level`` is the LLVM pipeline level (0-3). ``cache``
    shares compiled code between instances (in memory, and on disk: jit/diskcache.py, under
    ``cache_dir`` if given). ``fastcall=False`` runs through ctypes instead of the native
    builtin of jit/fastcall.py (benchmarks compare the two; the builtin is used where
    CPython's C API is reachable).
    """

    def __init__(self, program: Program, env: Environment | None = None, *, checked: bool | None = None,
                 opt_level: int = 2, cache: bool = True, cache_dir: str | os.PathLike | None = None,
                 count: bool | None = None, trace: bool = False, native_helpers: bool = True,
                 fastcall: bool = True):
        if trace:
            raise TraceUnsupported(
                "the JIT cannot record instruction traces (native code runs without a per-instruction "
                "hook); traces come from the interpreter: use engine 'interp' with trace=True")
        if not program.insns:
            raise ExecutionError(f"program {program.name!r} is empty: it has no instructions to run")
        check_program(program.insns)  # hand-built programs skip the decoder's register checks
        self.program = program
        self.env = env if env is not None else Environment.minimal()
        self.checked = (not program.verified) if checked is None else bool(checked)
        self.opt_level = opt_level
        self._cache = cache
        self._cache_dir = cache_dir
        if count is None:
            count = self.checked or self.env.budget is not None
        calls = (insn.imm for insn in program.insns if insn.kind is Kind.CALL)
        native = {} if self.checked or not native_helpers else native_helper_numbers(self.env.helpers,
                                                                                     program.platform, calls)
        reachable = list(self.env.world.maps_by_address.values()) or [m for m in self.env.maps if m]
        self.options = LowerOptions(checked=self.checked, count=bool(count) or self.checked,
                                    native=tuple(sorted(native.items())),
                                    map_types=map_types_of(reachable) if native else None)
        self.code: CompiledCode = compile_program(program, self.options, opt_level, cache=cache,
                                                  cache_dir=cache_dir)
        self._entry = _ENTRY_TYPE(self.code.entry)
        self._trampoline = Trampoline(self)
        self._lddw_slots = self.code.layout.lddw_slots
        self._lddw = np.zeros(max(1, 2 * len(self._lddw_slots)), dtype=np.uint64)
        #: the maps native helpers may write (jit/native.py map_table_rows), refilled with the lddw table
        self._map_table = np.zeros(1, dtype=np.uint64)
        #: the skb record native skb helpers read (jit/native_skb.py; set by native_context)
        self._skb_record = 0
        self._contexts: list[np.ndarray] = []  # one per nesting level (tail calls into this program)
        self._depth = 0
        self._tail_targets: dict[int, JitProgram] = {}
        self._callfn = _ENTRY_TYPE(self.code.callfn)
        #: (frame, run context) of the function whose helper call is running
        self.helper_frame: tuple[int, np.ndarray] | None = None
        self._run_native = _ENTRY_TYPE(self.code.run)
        self._call_function = self.call_function  # one bound method, not one per run
        self._lddw_maps: tuple | None = None  # env.maps the lddw table was filled from
        top = self._context()  # the outermost run context, with a ctypes view for cheap word access
        self._top_address = top.ctypes.data
        self._top = _CTX_ARRAY.from_address(self._top_address)
        #: the fastcall block (jit/fastcall.py): run context, native ebpf_run, callback instructions
        self._block = _BLOCK_ARRAY()
        self._block[fastcall_builtin.Word.CTX] = self._top_address
        self._block[fastcall_builtin.Word.RUN] = self.code.run
        self._fast = fastcall_builtin.make(ctypes.addressof(self._block)) \
            if fastcall and fastcall_builtin.available() else self._run_ctypes
        #: nothing in the program can call back into Python, so a run needs no Python-side frame
        self._calls_back = bool(self._lddw_slots) or any(i.kind in _CALLING_KINDS for i in program.insns)
        loops = any(i.kind in (Kind.JUMP, Kind.JA) and i.target is not None and i.target <= i.pc
                    for i in program.insns)
        self._block[fastcall_builtin.Word.RELEASE_GIL] = int(loops or self._calls_back)

    # -- running ---------------------------------------------------------------
    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> RunResult:
        """Run from pc 0 with r1..r5 set, like ``Interpreter.run``.

        The hot path of the per-call benchmark: one call of the fastcall builtin
        (jit/fastcall.py), which writes the arguments and the budget into the run
        context, runs ``ebpf_run`` (it clears the stack and resets the counters
        natively) and returns the RunResult, or the status when the run stopped
        early. A program that cannot call back into Python needs nothing else; one
        that can gets the world's callback hook, the lddw table and the nesting level.
        """
        env = self.env
        env.reset_run()
        budget = env.budget
        if budget is None:
            budget = _NO_BUDGET
        if not self._calls_back:
            res = self._fast(r1, r2, r3, r4, r5, budget)
            return res if res.__class__ is RunResult else self._stopped(res)
        env.world.call_function = self._call_function
        self._block[_CALLBACK_INSNS] = 0
        if self._depth:  # a run nested in a helper of this same program: the general path
            env.stack.clear()
            regs, count = self.execute((0, r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0), 0, 0)
            return RunResult(int(regs[0]), count + self._callback_insns, None)
        if self._lddw_slots:
            self._fill_lddw()
        self._depth = 1
        try:
            res = self._fast(r1, r2, r3, r4, r5, budget)
        finally:
            self._depth = 0
        return res if res.__class__ is RunResult else self._stopped(res)

    def _run_ctypes(self, r1: int, r2: int, r3: int, r4: int, r5: int, budget: int) -> RunResult | int:
        """What the fastcall builtin does, through ctypes (``fastcall=False``, or no C API)."""
        top = self._top
        top[_BUDGET] = budget
        top[1] = r1 & M64
        top[2] = r2 & M64
        top[3] = r3 & M64
        top[4] = r4 & M64
        top[5] = r5 & M64
        status = self._run_native(self._top_address)
        if status == _OK:
            return RunResult(top[_REG0], top[_COUNT] + self._block[_CALLBACK_INSNS], None)
        return status

    def _stopped(self, status: int) -> RunResult:
        """The result of a run that did not end with an exit of the entry function:
        a program exit (legacy packet load out of bounds) or the interpreter's exception."""
        top = self._top
        if status == _PROGRAM_EXIT:
            return RunResult(top[_REG0], top[_COUNT] - top[_REMAINING] + self._callback_insns, None)
        raise self.error(Status(status), self._contexts[0])

    @property
    def _callback_insns(self) -> int:
        """Instructions run by helper callbacks (bpf_loop...) in this run (a fastcall block word)."""
        return self._block[_CALLBACK_INSNS]

    @_callback_insns.setter
    def _callback_insns(self, value: int) -> None:
        self._block[_CALLBACK_INSNS] = value

    def call_function(self, target: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
                      r5: int = 0) -> int:
        """Run the function at ``target`` natively for a helper's callback
        (bpf_loop, for_each_map_elem) in the frame below the helper's caller;
        returns its r0. Same contract as ``Interpreter._call_function``."""
        caller_depth, outer = self.helper_frame if self.helper_frame is not None else (0, None)
        depth = caller_depth + 1
        if depth >= MAX_CALL_DEPTH:
            raise CallDepthExceeded(f"callback at pc {target} would nest {depth + 1} frames; "
                                    f"at most {MAX_CALL_DEPTH} are allowed")
        if target not in self.code.layout.functions:
            raise ExecutionError(f"callback address {target} is not a function of program "
                                 f"{self.program.name!r}")
        used = (int(outer[Ctx.COUNT]) if outer is not None else 0) + self._callback_insns
        ctx = self.prepare(0, depth)
        try:
            if self.env.budget is not None:
                ctx[Ctx.BUDGET] = max(self.env.budget - used, 0)
            ctx[Ctx.REG0:Ctx.REG0 + 10] = (0, r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0)
            ctx[Ctx.CALL_TARGET] = target
            status = self._callfn(ctx.ctypes.data)
            self._callback_insns += int(ctx[Ctx.COUNT])
            if status != Status.OK:
                raise self.error(Status(status), ctx)
            return int(ctx[Ctx.REG0])
        finally:
            self.release()
            self.helper_frame = (caller_depth, outer)

    def execute(self, regs: tuple[int, ...], depth: int, count: int) -> tuple[tuple[int, ...], int]:
        """Run native code from pc 0 in frame ``depth`` with registers r0..r9 and ``count``
        instructions already executed; returns (r0..r5 at exit, instructions executed)."""
        ctx = self.prepare(count, depth)
        try:
            ctx[Ctx.REG0:Ctx.REG0 + 10] = regs
            status = self._entry(ctx.ctypes.data)
            if status == Status.OK:
                return tuple(int(v) for v in ctx[Ctx.REG0:Ctx.REG0 + 6]), int(ctx[Ctx.COUNT])
            if status == Status.PROGRAM_EXIT:
                return ((int(ctx[Ctx.REG0]),) + (0,) * 5,
                        int(ctx[Ctx.COUNT]) - int(ctx[Ctx.CALL_REMAINING]))
            raise self.error(Status(status), ctx)
        finally:
            self.release()

    def prepare(self, count: int, depth: int) -> np.ndarray:
        """The run context for one native call (pair with :meth:`release`)."""
        ctx = self._context()
        self._depth += 1
        ctx[Ctx.STATUS] = 0
        ctx[Ctx.COUNT] = count
        ctx[Ctx.DEPTH] = depth
        budget = self.env.budget
        ctx[Ctx.BUDGET] = budget if budget is not None else sys.maxsize
        if self._lddw_slots:
            self._fill_lddw()
        return ctx

    def release(self) -> None:
        self._depth -= 1

    def run_batch(self, packets):
        """Run over many packets in one native call: see :func:`ebpflite.jit.batch.run_batch`."""
        from ebpflite.jit.batch import run_batch

        return run_batch(self, packets)

    def _context(self) -> np.ndarray:
        """The run context for the current nesting level (allocated once, reused)."""
        if self._depth < len(self._contexts):
            return self._contexts[self._depth]
        ctx = np.zeros(CTX_WORDS, dtype=np.uint64)
        env = self.env
        ctx[Ctx.REGIONS] = env.memory.table().ctypes.data
        ctx[Ctx.STACK_TOP] = env.stack.frame_pointer(0)
        ctx[Ctx.STACK_LO] = env.stack.region.start
        ctx[Ctx.STACK_HI] = env.stack.region.end
        ctx[Ctx.CALLBACK] = self._trampoline.address
        ctx[Ctx.LDDW] = self._lddw.ctypes.data
        ctx[Ctx.MAPS] = self._map_table.ctypes.data
        ctx[Ctx.SKB] = self._skb_record
        self._contexts.append(ctx)
        self._trampoline.contexts[ctx.ctypes.data] = ctx
        return ctx

    def _fill_lddw(self) -> None:
        """Resolve map lddws now (maps may have been attached after compiling); skipped
        while ``env.maps`` holds the same maps as last time (a map's address is fixed)."""
        maps = tuple(self.env.maps)  # holding the maps keeps their identities unique
        if maps == self._lddw_maps:
            return
        self._lddw_maps = maps
        self._fill_map_table(maps)
        by_pc = self.program.by_pc()
        for pc, slot in self._lddw_slots.items():
            insn = by_pc[pc]
            try:
                value = self.env.lddw_value(insn.src, insn.imm, insn.imm_hi, pc)
            except Exception:  # noqa: BLE001 - raised again, at the lddw, if it runs
                self._lddw[2 * slot:2 * slot + 2] = (0, 0)
            else:
                self._lddw[2 * slot:2 * slot + 2] = (int(value) & M64, 1)

    def _fill_map_table(self, maps: tuple) -> None:
        """Point every run context at a new map table for ``maps`` (native update/delete)."""
        rows = map_table_rows((m for m in maps if m is not None), self.env.world.maps_by_address)
        table = np.zeros(1 + 2 * len(rows), dtype=np.uint64)
        table[0] = len(rows)
        for i, (descriptor, freelist) in enumerate(rows):
            table[1 + 2 * i:3 + 2 * i] = (descriptor, freelist)
        self._map_table = table
        for ctx in self._contexts:
            ctx[Ctx.MAPS] = table.ctypes.data

    def native_context(self, record: int) -> None:
        """Give the native skb helpers (jit/native_skb.py) the skb record of the runs that
        follow: the address of three u64 words the runtime's __sk_buff context keeps current
        (``SkbContext.record``), or 0 (the helpers then call the Python ones). Tail-call
        targets share it: they run on the caller's packet."""
        self._skb_record = record
        for ctx in self._contexts:
            ctx[Ctx.SKB] = record
        for target in self._tail_targets.values():
            if target is not self:
                target.native_context(record)

    def for_tail_call(self, program: Program) -> JitProgram:
        """The compiled target of a tail call (same environment and mode)."""
        if program is self.program:
            return self
        target = self._tail_targets.get(id(program))
        if target is None or target.program is not program:
            target = JitProgram(program, self.env, checked=self.checked, opt_level=self.opt_level,
                                cache=self._cache, cache_dir=self._cache_dir)
            target.native_context(self._skb_record)
            self._tail_targets[id(program)] = target
        return target

    # -- faults ------------------------------------------------------------------
    def error(self, status: Status, ctx: np.ndarray) -> BaseException:
        """The exception the interpreter raises for what stopped native code."""
        pc = int(ctx[Ctx.FAULT_PC])
        name = self.program.name
        if status == Status.CALLBACK_RAISED:
            exc, self._trampoline.raised = self._trampoline.raised, None
            return exc if exc is not None else ExecutionError("a helper call failed", pc)
        if status == Status.MEMORY_FAULT:
            address, size, write = int(ctx[Ctx.FAULT_ADDR]), int(ctx[Ctx.FAULT_SIZE]), bool(ctx[Ctx.FAULT_WRITE])
            try:
                self.env.memory.resolve(address, size, write, pc)  # raises the interpreter's fault
            except ExecutionError as exc:
                return exc
            return self.env.memory.fault(address, size, write, pc)
        if status == Status.BUDGET:
            return budget_exceeded(self, ctx)
        if status == Status.CALL_DEPTH:  # the call asked for one frame beyond the limit
            target = int(ctx[Ctx.FAULT_EXTRA])
            return CallDepthExceeded(f"call to pc {target} would nest {MAX_CALL_DEPTH + 1} frames; "
                                     f"at most {MAX_CALL_DEPTH} are allowed", pc)
        if status == Status.FELL_OFF:
            if pc >= self.program.nslots:
                return ExecutionError(f"execution fell off the end of program {name!r} "
                                      "(the last instruction is not exit or a jump)", pc)
            if any(i.slots == 2 and i.pc + 1 == pc for i in self.program.insns):
                return ExecutionError("execution reached the second slot of an lddw", pc)
            return ExecutionError("no instruction starts at this slot", pc)
        if status == Status.BAD_JUMP:
            target = signed_word(int(ctx[Ctx.FAULT_EXTRA]))
            return ExecutionError(f"jump to {target} is outside program {name!r} "
                                  f"(0..{self.program.nslots - 1}) or inside an lddw", pc)
        if status == Status.LDDW:
            insn = self.program.by_pc()[pc]
            try:
                self.env.lddw_value(insn.src, insn.imm, insn.imm_hi, pc)
            except ExecutionError as exc:
                return exc
            return ExecutionError("lddw could not be resolved", pc)
        return ExecutionError(f"native code stopped with unknown status {int(status)}", pc)
