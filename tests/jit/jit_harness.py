"""Shared helpers of the JIT tests: building programs and running both engines.

:func:`agree` is the heart of the JIT tests: it runs one program with the
interpreter and with the JIT (checked, and unchecked when asked), each on a
fresh environment from the same factory, and checks they agree exactly: the
same r0 and instruction count, the same memory afterwards, or the same
exception type with the same message and pc.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np

from ebpflite.errors import EbpfError
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.program import Program
from ebpflite.vm.world import World

M64 = (1 << 64) - 1
EnvFactory = Callable[[], tuple[Environment, dict[str, int]]]


#: ``insn("add", dst=0, src=1)`` is the register form, ``insn("add", dst=0, imm=1)`` the immediate one
insn = make


def program(*insns: Insn, name: str = "prog") -> Program:
    return Program.of(*insns, name=name)


def lddw(dst: int, value: int) -> Insn:
    return insn("lddw", dst=dst, imm=value & 0xFFFFFFFF, imm_hi=(value >> 32) & 0xFFFFFFFF)


EXIT = insn("exit")


def minimal() -> tuple[Environment, dict[str, int]]:
    return Environment.minimal(), {}


def outcome(engine, env: Environment, regs: dict[str, int]):
    """What one run produced: ("ok", r0, count, memory) or ("error", type, message, pc)."""
    try:
        res = engine.run(**regs)
    except EbpfError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None))
    memory = tuple(region.buf.tobytes() for region in env.memory.regions)
    storage = tuple(buf.tobytes() for buf in _map_storage(env))  # free lists, counters too
    return ("ok", res.r0, res.insns_executed, memory, storage)


def _map_storage(env: Environment) -> list[np.ndarray]:
    """The whole storage buffer of each live map (tests may give stand-ins without one)."""
    return [live.storage.buf for live in env.maps if hasattr(getattr(live, "storage", None), "buf")]


def _world_copy(world: World) -> World:
    """A copy of ``world`` with containers of its own (records, held locks, ...), so a run
    on the copy leaves ``world`` as it was."""
    copied = copy.copy(world)
    for f in dataclasses.fields(world):
        value = getattr(world, f.name)
        if isinstance(value, (list, dict, set)):
            setattr(copied, f.name, copy.copy(value))
    return copied


def agree(prog: Program, make_env: EnvFactory = minimal, *, unchecked: bool = False,
          **jit_options) -> tuple:
    """Run ``prog`` on both engines and assert identical outcomes; returns the outcome.

    Both engines run in the same environment (so addresses in results and
    messages compare equal), with every region's bytes restored in between.
    ``unchecked=True`` adds the JIT's unchecked mode when the interpreter ran
    the program without a fault in this environment.
    """
    env, regs = make_env()
    snapshot = [(region.buf, region.buf.copy()) for region in env.memory.regions]
    snapshot += [(buf, buf.copy()) for buf in _map_storage(env)]
    world = _world_copy(env.world)

    def restore():
        for buf, saved in snapshot:
            buf[:] = saved
        env.world = _world_copy(world)

    expected = outcome(Interpreter(prog, env), env, regs)
    # Unchecked native code trusts every access, so it only runs a program the
    # interpreter has just run without a fault *in this same environment*: a
    # random program may compute addresses from pointer values, and in another
    # environment (other addresses) the same program can stray outside every
    # region, which unchecked code would not catch.
    safe_here = expected[0] == "ok"
    for checked in ((True, False) if unchecked and safe_here else (True,)):
        restore()
        got = outcome(JitProgram(prog, env, checked=checked, **jit_options), env, regs)
        assert got == expected, f"checked={checked}: JIT {got[:3]} != interpreter {expected[:3]}"
    return expected


def buffer(env: Environment, data: bytes, name: str = "buf", writable: bool = True):
    """Add a low-memory region holding ``data``; returns the Region."""
    from ebpflite.vm.memory import Region, low_alloc

    buf = low_alloc(max(1, len(data)))
    buf[:len(data)] = np.frombuffer(data, dtype=np.uint8)
    return env.memory.add(Region(name, buf[:len(data)] if data else buf, "mem", writable=writable))
