"""The instruction budget running out in JITed code, exactly where the interpreter stops.

Checked code counts instructions per *segment* (jit/lower.py ``segments``: a
block cut after each call) and checks on entry that the whole segment fits
the budget, which keeps hot loops to one compare per segment. When it does
not fit, native code stops before running any of it and leaves, in the run
context, the segment's first pc (``FAULT_PC``), the count before it
(``FAULT_ADDR``), r0..r9 (``REG0..REG9``) and r10 (``FAULT_SIZE``).

The interpreter (the reference) would still run the instructions the budget
allows: their stores are visible afterwards and any of them may fault first.
:func:`budget_exceeded` runs exactly those through the interpreter's own
handlers (``vm.handlers``) on the native registers, in the same memory, then
returns the interpreter's error. A segment holds no call and no jump before
its last instruction, and its last never runs here (it did not fit), so the
prefix is straight-line code that needs no frames. Doing this in Python
rather than in a second, per-instruction-checked copy of every block keeps
the compiled code (and compile time) the size it was; it runs once per run
that exhausts its budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ebpflite.jit.abi import Ctx, signed_word
from ebpflite.vm.errors import BudgetExceeded, EbpfError
from ebpflite.vm.handlers import HandlerBuilder, Machine

if TYPE_CHECKING:
    from ebpflite.jit.compiler import JitProgram

def budget_exceeded(jit: JitProgram, ctx: np.ndarray) -> BaseException:
    """The error the interpreter raises for the stop native code left in ``ctx``
    (``Status.BUDGET``), after running the instructions the budget still allowed."""
    budget = int(ctx[Ctx.BUDGET])
    pc = signed_word(int(ctx[Ctx.FAULT_PC]))
    left = budget - int(ctx[Ctx.FAULT_ADDR])
    if left > 0:
        machine = Machine(jit.env)
        machine.regs[:] = [int(v) for v in ctx[Ctx.REG0:Ctx.REG0 + 10]] + [int(ctx[Ctx.FAULT_SIZE])]
        builder = HandlerBuilder(machine, jit.program, lambda target, at: target)
        by_pc = jit.program.by_pc()
        for _ in range(left):
            try:
                pc = builder.build(by_pc[pc])()
            except EbpfError as exc:
                return exc
    return BudgetExceeded(f"the instruction budget of {budget} ran out before the program exited "
                          f"(an endless loop?); {budget} instructions were executed", pc)
