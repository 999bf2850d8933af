"""The trampoline through which JITed code calls back into Python.

Helper calls (``call imm``, ``callx``), legacy packet loads (``ld_abs``,
``ld_ind``) and kfunc calls are not worth compiling: they go through one
ctypes callback, ``u64 cb(ctx*, kind_pc, num, r1, ..., r5)``, which runs the
*interpreter's own handler* for that instruction (``vm.handlers``) on a
register file filled from the native registers. The two engines therefore
share one implementation of helper dispatch, unknown-helper errors, result
checking, tail-call bookkeeping and legacy packet semantics.

Python exceptions never unwind through native frames: the trampoline catches
everything, stashes the exception, sets ``STATUS`` in the run context and
returns; the native code then returns to Python, which re-raises it.

A tail call (the interpreter's handler raises ``Switch``) is run here, nested:
the target program is JIT-compiled (cached), started with the caller's
registers in the caller's frame, and when it exits the calling native
function returns its registers (``Status.TAIL_RETURN``), which is where the
interpreter's frame stack would have taken it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ebpflite.jit.abi import CALLBACK_ARGS, CallKind, Ctx, Status
from ebpflite.vm.handlers import Exit, HandlerBuilder, Machine, Switch

if TYPE_CHECKING:
    from ebpflite.jit.compiler import JitProgram

CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, *([ctypes.c_uint64] * (CALLBACK_ARGS - 1)))
_PC_MASK = 0xFFFFFFFF


class Trampoline:
    """The callback of one :class:`~ebpflite.jit.compiler.JitProgram`."""

    def __init__(self, jit: JitProgram):
        self.jit = jit
        self.env = jit.env
        self.machine = Machine(jit.env)
        self.builder = HandlerBuilder(self.machine, jit.program, lambda target, pc: target)
        self.by_pc = jit.program.by_pc()
        self.handlers: dict[int, Callable[[], int]] = {}
        #: run contexts by address (nested tail calls each have their own)
        self.contexts: dict[int, np.ndarray] = {}
        self.raised: BaseException | None = None
        #: callbacks made so far (tests use it to see that a native helper really ran natively)
        self.calls = 0
        self.cfunc = CALLBACK_TYPE(self._call)
        self.address = ctypes.cast(self.cfunc, ctypes.c_void_p).value

    def _handler(self, pc: int) -> Callable[[], int]:
        handler = self.handlers.get(pc)
        if handler is None:
            handler = self.handlers[pc] = self.builder.build(self.by_pc[pc])
        return handler

    def _call(self, ctx_address, kind_pc, num, r1, r2, r3, r4, r5):  # noqa: PLR0913 - the C signature
        ctx = self.contexts[ctx_address]
        self.calls += 1
        try:
            pc = kind_pc & _PC_MASK
            kind = kind_pc >> 32
            insn = self.by_pc[pc]
            R = self.machine.regs
            R[1], R[2], R[3], R[4], R[5] = r1, r2, r3, r4, r5
            R[6], R[7], R[8], R[9] = (int(v) for v in ctx[Ctx.REG0 + 6:Ctx.REG0 + 10])
            depth = int(ctx[Ctx.CALL_DEPTH])
            R[10] = self.env.stack.frame_pointer(depth)
            self.jit.helper_frame = (depth, ctx)  # for callbacks the helper may run
            if kind == CallKind.HELPER:
                R[insn.dst] = num  # callx reads its helper number from dst
            elif kind == CallKind.LEGACY_LOAD:
                R[insn.src] = num
            try:
                self._handler(pc)()
            except Exit:  # a legacy packet load out of bounds ends the whole program
                ctx[Ctx.REG0] = R[0]
                ctx[Ctx.STATUS] = Status.PROGRAM_EXIT
                return R[0]
            except Switch as switch:  # tail call
                # code compiled without a count (unchecked, no budget) keeps COUNT at 0: never below it
                count = max(0, int(ctx[Ctx.COUNT]) - int(ctx[Ctx.CALL_REMAINING]))
                target = self.jit.for_tail_call(switch.program)
                regs, count = target.execute(tuple(R[:10]), depth, count)
                ctx[Ctx.REG0:Ctx.REG0 + 6] = regs
                ctx[Ctx.COUNT] = count
                ctx[Ctx.STATUS] = Status.TAIL_RETURN
                return regs[0]
            return R[0]
        except BaseException as exc:  # noqa: BLE001 - must not unwind through native frames
            self.raised = exc
            ctx[Ctx.STATUS] = Status.CALLBACK_RAISED
            return 0
