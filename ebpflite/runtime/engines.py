"""Choosing an execution engine by name: ``interp`` (reference) or ``jit``.

Both take the same (xlated) :class:`~ebpflite.vm.program.Program` and the
same :class:`~ebpflite.vm.env.Environment`, and return the same
:class:`~ebpflite.vm.env.RunResult`, so they can be compared exactly. The
engines are imported when first chosen: the JIT pulls in llvmlite, which a
process that only interprets (or only lists sections) should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

from ebpflite.vm.env import Environment
from ebpflite.vm.program import Program

#: engine name -> (module, class): each class takes (program, env, **options) and has run(r1..r5)
ENGINE_CLASSES = {"interp": ("ebpflite.vm.interp", "Interpreter"),
                  "jit": ("ebpflite.jit.compiler", "JitProgram")}
ENGINES = tuple(ENGINE_CLASSES)


def unavailable(name: str) -> str | None:
    """Why engine ``name`` cannot run here (its module does not import: llvmlite missing
    for the JIT), or None when it can."""
    if name not in ENGINE_CLASSES:
        return f"unknown engine {name!r} (choose from {', '.join(ENGINES)})"
    try:
        importlib.import_module(ENGINE_CLASSES[name][0])
    except ImportError as exc:
        return str(exc)
    return None


def create(name: str, program: Program, env: Environment | None = None, **options: Any):
    """An engine instance with a ``run(r1=0, ..., r5=0) -> RunResult`` method."""
    if name not in ENGINE_CLASSES:
        raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    module, cls = ENGINE_CLASSES[name]
    return getattr(importlib.import_module(module), cls)(program, env, **options)


def run_conformance(prog: bytes, mem: bytes | None, engine: str = "interp") -> int:
    """r0 of a conformance-suite program (r1 = copy of ``mem``, r2 = its length).

    Raises :class:`~ebpflite.errors.DecodeError` for invalid bytecode and an
    :class:`~ebpflite.errors.ExecutionError` when the program fails.
    """
    from ebpflite.vm.insn import decode
    from ebpflite.vm.interp import conformance_environment

    program = Program(decode(prog), name="conformance")
    env, r1, r2 = conformance_environment(mem)
    return create(engine, program, env).run(r1, r2).r0
