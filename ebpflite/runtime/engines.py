"""Choosing an execution engine by name: ``interp`` (reference) or ``jit``.

Both take the same (xlated) :class:`~ebpflite.vm.program.Program` and the
same :class:`~ebpflite.vm.env.Environment`, and return the same
:class:`~ebpflite.vm.env.RunResult`, so they can be compared exactly. The
engines are imported when first chosen: the JIT pulls in llvmlite, which a
process that only interprets (or only lists sections) should not pay for.

Besides objects' programs (``runtime/runner.py``), engines run bare bytecode
on a block of memory, the conformance suite's convention (r1 = the memory,
r2 = its length): :func:`on_memory` (``ebpflite run``, ``ebpflite bench`` on
raw bytecode, :func:`run_conformance`). What an engine makes of a program
(the JIT's IR and native code) is asked by name too: :func:`view`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from ebpflite.vm.env import Environment, RunResult
from ebpflite.vm.limits import DEFAULT_BUDGET
from ebpflite.vm.program import Program


class Engine(Protocol):
    """What the runtime asks of an engine (the interpreter and the JIT both are one)."""

    #: every memory access checked at run time (False: native code that trusts the verifier,
    #: so the runtime must hand it only the context the verifier assumed)
    checked: bool

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> RunResult:
        """One run from the program's first instruction with r1..r5 set."""

    def native_context(self, record: int) -> None:
        """The address of the run's native context record (0: none), for native helpers."""


#: engine name -> (module, class): each class takes (program, env, **options) and is an Engine
ENGINE_CLASSES = {"interp": ("ebpflite.vm.interp", "Interpreter"),
                  "jit": ("ebpflite.jit.compiler", "JitProgram")}
ENGINES = tuple(ENGINE_CLASSES)

#: view name -> (module, function(program) -> str): what an engine generates for a program
VIEWS = {"ir": ("ebpflite.jit.views", "ir_text"),  # the optimised LLVM IR
         "jited": ("ebpflite.jit.views", "native_asm")}  # the host assembly, with eBPF pcs


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


def create(name: str, program: Program, env: Environment | None = None, **options: Any) -> Engine:
    """An :class:`Engine` instance running ``program`` in ``env``."""
    if name not in ENGINE_CLASSES:
        raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    module, cls = ENGINE_CLASSES[name]
    return getattr(importlib.import_module(module), cls)(program, env, **options)


def view(kind: str, program: Program) -> str:
    """What an engine generates for ``program`` as text (``kind`` in :data:`VIEWS`)."""
    if kind not in VIEWS:
        raise ValueError(f"unknown view {kind!r} (choose from {', '.join(VIEWS)})")
    module, function = VIEWS[kind]
    return getattr(importlib.import_module(module), function)(program)


@dataclass
class MemoryRun:
    """An engine ready to run a program on a copy of some memory (r1 = its address, r2 = its
    length), as the conformance suite and ``ebpflite run`` do; :func:`on_memory` makes one."""

    engine: Any
    env: Environment
    r1: int
    r2: int

    def run(self) -> RunResult:
        return self.engine.run(self.r1, self.r2)

    def memory(self) -> bytes:
        """The memory as the runs so far left it."""
        return self.env.memory.read_bytes(self.r1, self.r2) if self.r2 else b""


def on_memory(program: Program, mem: bytes | None, engine: str = "interp", *,
              budget: int | None = DEFAULT_BUDGET, **options: Any) -> MemoryRun:
    """``engine`` set up to run ``program`` on a fresh copy of ``mem`` (the conformance
    suite's helpers; ``budget`` instructions per run, None for no limit; ``options`` go to
    the engine, e.g. ``trace=True`` for the interpreter)."""
    from ebpflite.vm.interp import conformance_environment

    env, r1, r2 = conformance_environment(mem)
    env.budget = budget
    return MemoryRun(create(engine, program, env, **options), env, r1, r2)


def run_conformance(prog: bytes, mem: bytes | None, engine: str = "interp") -> int:
    """r0 of a conformance-suite program (r1 = copy of ``mem``, r2 = its length).

    Raises :class:`~ebpflite.errors.DecodeError` for invalid bytecode and an
    :class:`~ebpflite.errors.ExecutionError` when the program fails.
    """
    from ebpflite.vm.insn import decode

    return on_memory(Program(decode(prog), name="conformance"), mem, engine).run().r0
