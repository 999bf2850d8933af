"""Choosing an execution engine by name: ``interp`` (reference) or ``jit``.

Both take the same (xlated) :class:`~ebpflite.vm.program.Program` and the
same :class:`~ebpflite.vm.env.Environment`, and return the same
:class:`~ebpflite.vm.env.RunResult`, so they can be compared exactly.
"""

from __future__ import annotations

from typing import Any

from ebpflite.vm.env import Environment
from ebpflite.vm.program import Program

ENGINES = ("interp", "jit")


def create(name: str, program: Program, env: Environment | None = None, **options: Any):
    """An engine instance with a ``run(r1=0, ..., r5=0) -> RunResult`` method."""
    if name == "interp":
        from ebpflite.vm.interp import Interpreter

        return Interpreter(program, env, **options)
    if name == "jit":
        from ebpflite.jit.compiler import JitProgram

        return JitProgram(program, env, **options)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
