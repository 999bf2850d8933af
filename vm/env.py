"""What a run needs besides the instructions: memory, helpers, maps, limits.

Both engines take an :class:`Environment`. The ``helpers`` package builds
full ones (maps instantiated from a program's map specs, a platform's helper
table, a context region); the conformance suite and simple ``run`` use
:func:`Environment.minimal`.

Helper functions have the signature ``fn(env, r1, r2, r3, r4, r5) -> r0``
(all unsigned 64-bit ints). A helper that cannot proceed raises an
:class:`~ebpflite.errors.ExecutionError` subclass; a helper that wants a tail
call sets :attr:`Environment.pending_tail_call` and returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ebpflite.vm.errors import ExecutionError
from ebpflite.vm.isa import (
    DEFAULT_BUDGET,  # noqa: F401 - public here too (Environment default)
    PseudoSrc,
)
from ebpflite.vm.memory import AddressSpace, Stack
from ebpflite.vm.world import World

HelperFn = Callable[["Environment", int, int, int, int, int], int]



class LiveMap(Protocol):
    """What the engines need of a map (the ``helpers`` package implements it)."""

    address: int  #: address of the map's native descriptor (the value of ``r = map`` lddw)

    def value_address(self, offset: int) -> int:  # pragma: no cover - protocol
        """Address of the first value + offset (for lddw map-value forms)."""
        ...


@dataclass
class Environment:
    memory: AddressSpace = field(default_factory=AddressSpace)
    stack: Stack = field(default_factory=Stack)
    helpers: dict[int, HelperFn] = field(default_factory=dict)
    #: live maps by the index lddw instructions use (None where the program uses no map)
    maps: list[LiveMap | None] = field(default_factory=list)
    #: instructions per run; None for no limit (verified programs)
    budget: int | None = DEFAULT_BUDGET
    #: set by the tail_call helper: the Program to continue with
    pending_tail_call: Any = None
    tail_calls: int = 0
    #: lines printed by trace_printk/bpf_printk in this run
    trace_output: list[str] = field(default_factory=list)
    #: what the helpers read and leave besides memory: clock, process, random generator,
    #: context, redirect target, held records... (vm/world.py lists every field)
    world: World = field(default_factory=World)

    def __post_init__(self) -> None:
        if self.stack.region not in self.memory.regions:
            self.memory.add(self.stack.region)

    @classmethod
    def minimal(cls, helpers: dict[int, HelperFn] | None = None, budget: int | None = DEFAULT_BUDGET
                ) -> Environment:
        return cls(helpers=dict(helpers or {}), budget=budget)

    def lddw_value(self, src: int, imm: int, imm_hi: int, pc: int | None = None) -> int:
        """The 64-bit value an lddw with pseudo source ``src`` loads."""
        if src == PseudoSrc.IMM64:
            return (imm & 0xFFFFFFFF) | ((imm_hi & 0xFFFFFFFF) << 32)
        if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
            if not 0 <= imm < len(self.maps) or self.maps[imm] is None:
                raise ExecutionError(f"lddw refers to map {imm}, but the program has {len(self.maps)} maps",
                                     pc)
            live = self.maps[imm]
            if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX):
                return live.address
            return live.value_address(imm_hi & 0xFFFFFFFF)
        if src == PseudoSrc.CODE_ADDR and pc is not None:
            # a callback's address (bpf_loop, for_each_map_elem): the slot index of the
            # subprogram, which helpers hand to world.call_function (helpers/impl/loop.py)
            return pc + 1 + imm
        raise ExecutionError(f"lddw with pseudo source {src} ({PseudoSrc(src).name}) is not supported", pc)

    def reset_run(self) -> None:
        """Per-run state back to empty (the maps keep their contents)."""
        self.pending_tail_call = None
        self.tail_calls = 0
        self.trace_output.clear()


@dataclass
class TraceEntry:
    """One executed instruction in trace mode."""

    pc: int
    insn: Any
    changed: dict[str, int]  #: register name -> new value (and "mem" writes)


@dataclass
class RunResult:
    """What an engine returns from a run."""

    r0: int
    insns_executed: int = 0
    trace: list[TraceEntry] | None = None
