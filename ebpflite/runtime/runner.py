"""Running loaded programs: live maps per object, an Environment per program, runs and results.

:class:`ObjectRuntime` instantiates an object's maps once (so all its
programs share them, as in the kernel), hooks prog_array slots up to the
object's programs, and builds one :class:`~ebpflite.vm.env.Environment`
per program: the live maps in the program's lddw order, their storage
regions, the platform's helper table. Building it checks every ``call`` of
the program: a helper number the platform does not have fails here, at load,
naming the pc; a helper it has but ebpflite does not implement (every Linux
helper has a prototype, so such programs verify) raises a HelperError naming
it and the pc when a run reaches the call, in both engines.

:class:`ProgramRunner` runs one program on a packet or a context like
``BPF_PROG_TEST_RUN``: it builds the context (``runtime.contexts``), runs an
engine ``repeat`` times on the same buffer (the kernel also reuses it), and
returns a :class:`Result`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ebpflite.helpers import contexts, registry
from ebpflite.helpers.impl import sockets
from ebpflite.helpers.net import Net
from ebpflite.helpers.skb import SkbContext
from ebpflite.loader.progtypes import require_type
from ebpflite.runtime import engines
from ebpflite.runtime.both import WorldSnapshot, compare_maps, compare_results
from ebpflite.runtime.contexts import build as build_context
from ebpflite.vm.env import DEFAULT_BUDGET, Environment
from ebpflite.vm.errors import ExecutionError, HelperError, LoaderError
from ebpflite.vm.isa import Kind
from ebpflite.vm.program import Program
from ebpflite.vm.world import Clock, Process, World


@dataclass
class Result:
    """What one ``run`` gives back (the last of ``repeat`` runs; duration is the average)."""

    return_value: int  #: r0 truncated to 32 bits, as BPF_PROG_TEST_RUN reports it
    r0: int  #: the full 64-bit r0
    action: str | None  #: XDP_PASS, BIND_DENY... when the program type names its return values
    packet: bytes | None  #: the output packet (XDP: data_meta..data_end)
    ctx: bytes | None  #: the context afterwards (ctx_out)
    trace_output: list[str] = field(default_factory=list)
    insns_executed: int = 0
    duration_ns: float = 0.0
    repeat: int = 1
    redirect: dict | None = None  #: where bpf_redirect/redirect_map sent the packet
    #: with ``run(trace=True)``: the executed instructions (vm.env.TraceEntry), from the interpreter
    trace: list | None = None

    def as_dict(self) -> dict:
        return {"retval": self.return_value, "r0": self.r0, "action": self.action,
                "packet": self.packet.hex() if self.packet is not None else None,
                "ctx": self.ctx.hex() if self.ctx is not None else None,
                "trace_output": list(self.trace_output), "insns_executed": self.insns_executed,
                "duration_ns": self.duration_ns, "repeat": self.repeat, "redirect": self.redirect}


def check_helpers(program: Program, platform: str) -> dict[int, Any]:
    """The helper table for ``program``; LoaderError for a helper number the platform does not have.

    A helper the platform has but ebpflite does not implement loads (the
    program verifies against its prototype) and raises a HelperError naming
    it, and the call's pc, if a run reaches the call."""
    table = registry.profile(platform)
    poisoned = (program.meta or {}).get("core", {}).get("poisoned", {})
    extra: dict[int, Any] = {}
    for insn in program.insns:
        if insn.kind is not Kind.CALL:
            continue
        spec = table.get(insn.imm)
        where = f"instruction {insn.pc}"
        if spec is None and insn.pc in poisoned:  # an unresolved CO-RE relocation: an error only if reached
            extra[insn.imm] = _poisoned_call(poisoned)
            continue
        if spec is None:
            raise LoaderError(f"{where}: call to unknown helper #{insn.imm}: {platform} has no helper "
                              "with that number", program.name, program.section or None)
        if spec.impl is None:
            extra[insn.imm] = _unimplemented(spec.name, insn.imm)
    return {number: spec.impl for number, spec in table.items() if spec.impl is not None} | extra


def _unimplemented(name: str, number: int):
    """What a call to a helper ebpflite does not implement does when it runs: a typed error naming it
    (the engines add the pc of the call)."""

    def called(env, *args) -> int:
        raise HelperError(f"{name} (helper #{number}) is not implemented by ebpflite, so this call cannot run")
    return called


def _poisoned_call(poisoned: dict[int, str]):
    """What a poisoned instruction (loader/core.py) does when it runs: a typed error naming it."""
    text = next(iter(poisoned.values())) if len(poisoned) == 1 else \
        "one of these CO-RE relocations: " + "; ".join(poisoned.values())

    def reached(env, *args) -> int:
        raise HelperError(f"reached an instruction the loader could not relocate: {text}")
    return reached


class ObjectRuntime:
    """Live maps and environments for the programs of one object."""

    def __init__(self, programs: Mapping[str, Program], map_specs: list[Any], *, platform: str = "linux",
                 cpus: int = 4, pin_dir: str | None = None, seed: int | None = None,
                 process: Process | None = None, clock: Clock | None = None, btf: Any = None):
        from ebpflite.helpers import maps as mapsmod

        self.platform = platform
        self.programs = dict(programs)
        self.cpus = cpus
        self.seed = seed
        self.process = process or Process()
        #: devices, routes and sockets tc and socket programs see (helpers/net.py)
        self.net = Net()
        self.clock = clock or Clock()
        self.maps: dict[str, Any] = {}
        self._by_spec: dict[int, Any] = {}
        for spec in map_specs:
            live = mapsmod.create(spec, cpus=cpus, pin_dir=pin_dir)
            self.maps[live.name] = live
            self._by_spec[id(spec)] = live
        for live in self.maps.values():
            live.resolve_programs(self.programs)  # prog_array initialisers name programs
            live.resolve_maps(self.maps)  # map-in-map initialisers name other maps of the object
            if btf is not None:  # values read as numpy records built from the BTF types
                live.use_btf(btf)
        self.by_address = {live.address: live for live in self.maps.values()}
        self._program_maps = {id(p): self.live_maps(p) for p in self.programs.values()}

    def live_maps(self, program: Program) -> list[Any]:
        """The live maps in ``program``'s lddw index order."""
        out = []
        for spec in program.maps:
            live = self._by_spec.get(id(spec))
            if live is None and spec is not None:
                live = self.maps.get(getattr(spec, "name", None))
            if live is None and spec is not None:
                raise LoaderError(f"program {program.name} refers to map {getattr(spec, 'name', spec)!r}, "
                                  "which the object does not define")
            out.append(live)
        return out

    def environment(self, program: Program, budget: int | None = DEFAULT_BUDGET) -> Environment:
        """A fresh environment for ``program`` (helper calls checked here)."""
        helpers = check_helpers(program, self.platform)
        env = Environment(helpers=helpers, maps=self._program_maps.get(id(program)) or self.live_maps(program),
                          budget=None if program.verified else budget)
        for live in self.maps.values():
            for region in live.regions():
                if len(region.buf) and region not in env.memory.regions:
                    env.memory.add(region)
        env.world = World(platform=self.platform, maps_by_address=self.by_address,
                          program_maps=self._program_maps, process=self.process, clock=self.clock,
                          seed=self.seed, net=self.net)
        return env

    def runner(self, name: str, engine: str = "interp", **options: Any) -> ProgramRunner:
        if name not in self.programs:
            raise KeyError(f"no program {name!r}; the object has {', '.join(self.programs) or 'none'}")
        return ProgramRunner(self, self.programs[name], engine, **options)


class ProgramRunner:
    """Runs one program repeatedly; the engine and environment are built once."""

    def __init__(self, runtime: ObjectRuntime, program: Program, engine: str = "interp", *, cpu: int = 0,
                 budget: int | None = DEFAULT_BUDGET):
        require_type(program)  # a section that names no type: its context is unknown (LoaderError)
        self.runtime = runtime
        self.program = program
        self.cpu = cpu
        self.env = runtime.environment(program, budget)
        self.engine_name = engine
        if engine == "both":  # the interpreter is the reference; the JIT is checked against it
            self.engine = engines.create("interp", program, self.env)
            self.jit_engine = engines.create("jit", program, self.env)
        else:
            self.engine = engines.create(engine, program, self.env)
        self._own_maps = self.env.maps
        #: the last packet's context, refilled by the next run instead of building a new one
        self._reusable_context: contexts.Context | None = None
        #: a checked JIT for contexts the verifier did not assume (built on first need)
        self._checked_jit: Any = None
        #: a tracing interpreter for ``run(trace=True)`` (built on first need)
        self._tracing_engine: Any = None

    def run(self, packet: bytes | None = None, ctx: bytes | None = None, *, repeat: int = 1,
            bind: contexts.BindRequest | None = None, trace: bool = False) -> Result:
        """Run like BPF_PROG_TEST_RUN. ``trace=True`` records every executed
        instruction; traces come from the reference interpreter (the engines
        agree by construction, and the differential tests check it)."""
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1, not {repeat}")

        def build() -> contexts.Context:
            reusable = self._reusable_context
            if reusable is not None and bind is None and packet is not None:
                # the same buffers as the last run: no new mappings per packet
                if isinstance(reusable, SkbContext):
                    reusable.load(packet, ctx)
                    return reusable
                if ctx is None:
                    reusable.load(packet)
                    return reusable
            context = build_context(self.program.prog_type, self.runtime.platform, packet=packet, ctx=ctx,
                                    bind=bind, net=self.runtime.net)
            plain = (type(context) is contexts.XdpContext and ctx is None) or isinstance(context, SkbContext)
            self._reusable_context = context if plain else None
            return context

        if self.engine_name == "both":
            return self._run_both(build, repeat, trace)
        return self.run_context(build(), repeat, trace=trace)

    def _run_both(self, build, repeat: int, trace: bool) -> Result:
        """Interpreter, then JIT from the same starting world (runtime/both.py); EngineMismatch
        at the first difference, else the interpreter's result."""

        before = WorldSnapshot.take(self.runtime, self.env)
        interp = self.run_context(build(), repeat, trace=trace)
        after_interp = WorldSnapshot.take(self.runtime, self.env)
        before.restore(self.runtime, self.env)
        jit = self.run_context(build(), repeat, engine=self.jit_engine)
        compare_results(interp, jit)
        compare_maps(self.runtime, after_interp, WorldSnapshot.take(self.runtime, self.env))
        return interp

    def _engine_for(self, context: contexts.Context, engine: Any) -> Any:
        """``engine``, or a checked JIT when ``engine`` is unchecked native code and the context
        is not the one the verifier assumed (``Context.exact``): the verifier's proof covers
        the fields of the program type's descriptor, not whatever bytes a caller passed."""
        if context.exact or engine.checked:
            return engine
        if self._checked_jit is None:
            self._checked_jit = engines.create("jit", self.program, self.env, checked=True)
        return self._checked_jit

    def _tracer(self):
        if self._tracing_engine is None:
            self._tracing_engine = engines.create("interp", self.program, self.env, trace=True)
        return self._tracing_engine

    def run_context(self, context: contexts.Context, repeat: int = 1, *, trace: bool = False,
                    engine: Any = None) -> Result:
        from ebpflite.helpers.maps import layout

        env = self.env
        layout.set_current_cpu(self.cpu)
        env.world.ctx = context
        context.attach(env.memory)
        printed: list[str] = []
        registers = context.registers()
        engine = self._tracer() if trace else self._engine_for(context, engine or self.engine)
        engine.native_context(context.native_record)  # the JIT's native skb helpers read it
        try:
            start = time.perf_counter_ns()
            for _ in range(repeat):
                env.maps = self._own_maps
                env.world.redirect = None
                outcome = engine.run(*registers)
                printed.extend(env.trace_output)
                self._check_released(env)
            elapsed = time.perf_counter_ns() - start
        finally:
            engine.native_context(0)
            context.detach()
            env.world.end_run()
            sockets.forget(env)
            env.maps = self._own_maps
        r0 = outcome.r0
        return Result(return_value=r0 & 0xFFFFFFFF, r0=r0, action=context.action(r0),
                      packet=context.packet_out(), ctx=context.ctx_out(), trace_output=printed,
                      insns_executed=outcome.insns_executed, duration_ns=elapsed / repeat, repeat=repeat,
                      redirect=env.world.redirect, trace=outcome.trace)

    @staticmethod
    def _check_released(env: Environment) -> None:
        """What the kernel's verifier enforces statically: no lock or ringbuf record left behind."""
        if env.world.spin_locks:
            raise ExecutionError("the program exited holding a bpf_spin_lock")
        held = sockets.held_references(env)
        if held:
            raise ExecutionError(f"the program exited holding {held} socket reference(s) from "
                                 "bpf_sk_lookup_*/bpf_skc_lookup_tcp; release each with bpf_sk_release")
        if env.world.ringbuf_reserved:
            n = len(env.world.ringbuf_reserved)
            raise ExecutionError(f"the program exited with {n} ring buffer record(s) reserved but neither "
                                 "submitted nor discarded")
