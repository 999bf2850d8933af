"""``engine="both"``: run the interpreter and the JIT on copies of the same world.

:class:`~ebpflite.runtime.runner.ProgramRunner` uses this when created with
``engine="both"``. Before a run it takes a :class:`WorldSnapshot` (every map's
storage bytes, the clock, the prandom generator); it runs the interpreter,
records what the world looks like afterwards, puts the snapshot back, runs
the JIT on a freshly built context, and compares. The first difference (the
return value, the output packet, the context, the redirect target, the
trace_printk output, then each map's entries) is raised as
:class:`~ebpflite.errors.EngineMismatch` naming both sides. When they agree
the world is left as both engines left it and the interpreter's result
(which may carry a trace) is returned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from ebpflite.vm.errors import EngineMismatch


@dataclass
class WorldSnapshot:
    """What a run may change outside the context: map storage, clock, random generator."""

    maps: dict[str, np.ndarray]  #: map name -> a copy of its storage
    clock: dict[str, Any]  #: the Clock's fields
    prandom: tuple  #: the generator's getstate()

    @classmethod
    def take(cls, runtime: Any, env: Any) -> WorldSnapshot:
        rng = env.world.generator()  # created now (if unused so far) so both engines draw the same numbers
        return cls({name: live.storage.buf.copy() for name, live in runtime.maps.items()},
                   copy.deepcopy(vars(env.world.clock)), rng.getstate())

    def restore(self, runtime: Any, env: Any) -> None:
        for name, saved in self.maps.items():
            runtime.maps[name].storage.buf[:] = saved
        vars(env.world.clock).update(copy.deepcopy(self.clock))
        env.world.generator().setstate(self.prandom)


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.hex() if len(value) <= 64 else value[:64].hex() + f"... ({len(value)} bytes)"
    if isinstance(value, int):
        return f"{value:#x}"
    return repr(value)


def _first_byte_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first at byte {i}: interpreter {x:#04x}, JIT {y:#04x}"
    return f"lengths differ: interpreter {len(a)} bytes, JIT {len(b)} bytes"


def compare_results(interp: Any, jit: Any) -> None:
    """Raise EngineMismatch at the first difference between two runtime ``Result``s."""
    if interp.r0 != jit.r0:
        raise EngineMismatch(f"engines disagree on the return value: interpreter {interp.r0:#x} "
                             f"({interp.action}), JIT {jit.r0:#x} ({jit.action})")
    for field in ("packet", "ctx"):
        a, b = getattr(interp, field), getattr(jit, field)
        if a != b:
            where = _first_byte_difference(a, b) if a is not None and b is not None else \
                f"interpreter {_show(a)}, JIT {_show(b)}"
            what = "output packet" if field == "packet" else "context after the run"
            raise EngineMismatch(f"engines disagree on the {what}: {where}")
    if interp.redirect != jit.redirect:
        raise EngineMismatch(f"engines disagree on the redirect: interpreter {interp.redirect!r}, "
                             f"JIT {jit.redirect!r}")
    if interp.trace_output != jit.trace_output:
        i = next((i for i, (a, b) in enumerate(zip(interp.trace_output, jit.trace_output, strict=False)) if a != b),
                 min(len(interp.trace_output), len(jit.trace_output)))
        a = interp.trace_output[i] if i < len(interp.trace_output) else "(nothing)"
        b = jit.trace_output[i] if i < len(jit.trace_output) else "(nothing)"
        raise EngineMismatch(f"engines disagree on trace output line {i + 1}: interpreter {a!r}, JIT {b!r}")


def compare_maps(runtime: Any, interp: WorldSnapshot, jit: WorldSnapshot) -> None:
    """Raise EngineMismatch naming the first map (and key) whose contents differ."""
    for name, after_interp in interp.maps.items():
        after_jit = jit.maps[name]
        if np.array_equal(after_interp, after_jit):
            continue
        live = runtime.maps[name]
        detail = _first_byte_difference(after_interp.tobytes(), after_jit.tobytes())
        try:  # name the entry: read both versions through the map's own API
            current = live.storage.buf.copy()
            live.storage.buf[:] = after_interp
            a = dict(live.raw_items())
            live.storage.buf[:] = after_jit
            b = dict(live.raw_items())
            live.storage.buf[:] = current
        except Exception:  # noqa: BLE001 - the byte offset is still a useful report
            a = b = None
        if a is not None and a != b:
            key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            detail = (f"key {key.hex()}: interpreter {_show(a.get(key))}, JIT {_show(b.get(key))}")
        raise EngineMismatch(f"engines disagree on the contents of map {name!r}: {detail}")
