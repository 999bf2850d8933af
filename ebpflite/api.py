"""The public Python API: load an object, run its programs, read its maps.

    obj = ebpflite.load("xdp_prog.o")
    res = obj.programs["xdp_main"].run(packet=frame)
    res.return_value, res.action, res.packet, res.trace_output, res.insns_executed
    obj.maps["counters"][0]

``load`` parses the ELF (``ebpflite.loader``), verifies each program when
``verify`` is true (``ebpflite.verifier.check``, which returns the xlated
program engines may run without runtime checks), and instantiates the maps
once for the whole object (``runtime.runner.ObjectRuntime``). Running goes
through the runtime layer (``ebpflite.runtime``): one run with :meth:`ProgramHandle.run`,
many packets with :meth:`ProgramHandle.replay`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from typing import Any

from ebpflite.helpers.contexts import BindRequest
from ebpflite.runtime.replay import PacketLike, PacketRecord, Replay, Replayer
from ebpflite.runtime.runner import ObjectRuntime, ProgramRunner, Result
from ebpflite.vm.errors import LoaderError
from ebpflite.vm.program import Program
from ebpflite.vm.world import Clock, Process

__all__ = ["load", "Object", "ProgramHandle", "Result", "Replay", "BindRequest", "Process", "Clock"]


class ProgramHandle:
    """One program of a loaded object; :meth:`run` runs it like BPF_PROG_TEST_RUN."""

    def __init__(self, obj: Object, name: str, program: Program, prog_id: int):
        self.object = obj
        self.name = name
        self.program = program
        self.id = prog_id
        self._runners: dict[str, ProgramRunner] = {}

    @property
    def prog_type(self) -> str:
        return self.program.prog_type

    def runner(self, engine: str | None = None) -> ProgramRunner:
        engine = engine or self.object.engine
        runner = self._runners.get(engine)
        if runner is None:
            runner = self._runners[engine] = self.object.runtime.runner(self.name, engine)
        return runner

    def run(self, packet: bytes | None = None, ctx: bytes | None = None, *, repeat: int = 1,
            bind: BindRequest | None = None, engine: str | None = None, trace: bool = False) -> Result:
        """Run on ``packet`` (XDP: the frame) and/or ``ctx`` (the context bytes, ctx_in).

        ``trace=True`` fills ``result.trace`` with every executed instruction."""
        return self.runner(engine).run(packet, ctx, repeat=repeat, bind=bind, trace=trace)

    def replayer(self, engine: str | None = None, *, records: bool = False,
                 batch: bool | None = None) -> Replayer:
        """How :meth:`replay` would run (``.mode`` is ``"batch"`` or ``"per-packet"``)."""
        return Replayer(self.runner(engine), records=records, batch=batch)

    def replay(self, packets: Iterable[PacketLike], *, engine: str | None = None, records: bool = False,
               batch: bool | None = None, on_record: Callable[[PacketRecord], None] | None = None) -> Replay:
        """Run every packet of ``packets`` (bytes or captured packets, any iterable) through the program.

        Returns action counts, the packets that go on (XDP_PASS/XDP_TX, rewritten, timestamps
        kept) and with ``records=True`` one record per packet. With the JIT, batch-safe
        Linux XDP programs run in the native batch loop (``batch=False`` forbids it); see
        :mod:`ebpflite.runtime.replay`."""
        return self.replayer(engine, records=records, batch=batch).run(packets, on_record=on_record)

    def __repr__(self) -> str:
        return f"<program {self.name} ({self.prog_type}, {len(self.program)} insns)>"


class Object:
    """A loaded object: ``programs`` by name, live ``maps`` by name."""

    def __init__(self, path: str, platform: str, programs: dict[str, Program], map_specs: list[Any], *,
                 engine: str = "interp", cpus: int = 4, pin_dir: str | None = None, seed: int | None = None,
                 process: Process | None = None, clock: Clock | None = None, btf: Any = None):
        self.path = path
        self.platform = platform
        self.engine = engine
        self.runtime = ObjectRuntime(programs, map_specs, platform=platform, cpus=cpus, pin_dir=pin_dir,
                                     seed=seed, process=process, clock=clock, btf=btf)
        self.maps = self.runtime.maps
        #: the simulated network: devices, routes, sockets (helpers/net.py)
        self.net = self.runtime.net
        self.programs = {name: ProgramHandle(self, name, prog, i + 1)
                         for i, (name, prog) in enumerate(programs.items())}

    def __repr__(self) -> str:
        return f"<object {self.path}: programs {', '.join(self.programs)}; maps {', '.join(self.maps)}>"


def _verified(program: Program) -> Program:
    from ebpflite import verifier

    return verifier.check(program)


def load(path: str | os.PathLike | bytes, *, platform: str | None = None, prog_type: str | None = None,
         verify: bool | Collection[str] = True, engine: str = "interp", cpus: int = 4, pin_dir: str | None = None,
         seed: int | None = None, process: Process | None = None, clock: Clock | None = None,
         btf: str | os.PathLike | bytes | None = None) -> Object:
    """Load an eBPF object file (path or bytes) and make its programs runnable.

    ``engine`` is ``"interp"``, ``"jit"`` or ``"both"`` (each run goes through
    both engines from the same maps, clock and random state, and raises
    :class:`~ebpflite.errors.EngineMismatch` at the first difference; see
    runtime/both.py). ``cpus`` is the number of CPUs per-CPU maps have; ``pin_dir`` backs maps
    with files there; ``seed`` makes bpf_get_prandom_u32 reproducible;
    ``process``/``clock`` set what the process and time helpers report.
    ``btf`` is the target BTF for CO-RE relocations (default: the running kernel's
    ``/sys/kernel/btf/vmlinux``; see docs/loader.md). ``verify`` may name the
    programs to verify (the one you will run, say); the others load unverified
    and run with runtime checks.
    """
    from ebpflite.loader import load_object

    objfile = load_object(path, platform=platform, prog_type=prog_type, btf=btf)
    programs = dict(objfile.programs)
    if verify:
        chosen = set(programs) if isinstance(verify, bool) else set(verify)
        unknown = chosen - set(programs)
        if unknown:
            raise LoaderError(f"no program {', '.join(sorted(unknown))} to verify (the object has "
                              f"{', '.join(programs) or 'none'})", str(path) if not isinstance(path, bytes) else None)
        programs = {name: _verified(prog) if name in chosen else prog for name, prog in programs.items()}
        # the verifier returns copies: keep prog_array names resolvable and maps shared
    name = str(path) if not isinstance(path, (bytes, bytearray)) else "<bytes>"
    return Object(name, objfile.platform, programs, list(objfile.maps), engine=engine, cpus=cpus,
                  pin_dir=pin_dir, seed=seed, process=process, clock=clock, btf=objfile.btf)
