"""Where the time of one ``ebpflite xdp OBJ --pcap CAPTURE --engine jit`` goes, phase by phase.

    python bench/replay_phases.py OBJ CAPTURE [ebpflite xdp options...]

Runs the real command (``ebpflite.cli.main``) in this process with timers
wrapped around the functions each phase calls, and prints one JSON object:
for each phase its wall and CPU milliseconds. Phases:

- ``imports``: importing the modules the command uses (the CLI, the API, the
  loader, the verifier, the JIT, numpy, llvmlite, rich), done up front here so
  that the phases below time work, not imports (the ELF parser's own import
  is in ``load``);
- ``load``: parsing the object (``ebpflite.loader.load_object``) and creating
  its maps (``ebpflite.api.Object``);
- ``verify``: the verifier (``ebpflite.api._verified``);
- ``compile``: the JIT engine (``ebpflite.runtime.engines.create``: lowering,
  LLVM, or the disk cache when ``EBPFLITE_JIT_CACHE`` points at a warm one);
- ``replay``: ``Replayer.run``, split into ``read`` (file reads and the native
  record walker), ``native loop`` (the batch calls) and ``replay other`` (the
  Python around them per chunk);
- ``report``: the summary table (rich);
- ``other``: the rest (argument parsing, map entries, exit).

Python's own start-up is not in here: bench/replay_e2e.py measures ``python
-c pass`` beside it. The numbers are one process's; the machine is shared,
so compare CPU times.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

_STARTED = (time.perf_counter(), time.process_time())
_SPANS: dict[str, list[float]] = {}


def _add(name: str, wall: float, cpu: float) -> None:
    span = _SPANS.setdefault(name, [0.0, 0.0])
    span[0] += wall
    span[1] += cpu


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - w, time.process_time() - c)

    return wrapper


def _patch(owner: Any, attr: str, name: str) -> None:
    setattr(owner, attr, _timed(name, getattr(owner, attr)))


def main(argv: list[str]) -> dict[str, dict[str, float]]:
    w, c = time.perf_counter(), time.process_time()
    import llvmlite.binding  # noqa: F401
    import numpy  # noqa: F401
    import rich.console  # noqa: F401
    import rich.table  # noqa: F401

    import ebpflite.api as api
    import ebpflite.cli as cli
    import ebpflite.cli.world as world
    import ebpflite.helpers.pcap as pcap
    import ebpflite.helpers.pcapscan as pcapscan
    import ebpflite.jit.batch as batch
    import ebpflite.jit.compiler  # noqa: F401
    import ebpflite.loader as loader
    import ebpflite.runtime.engines as engines
    import ebpflite.runtime.replay as replay
    import ebpflite.verifier  # noqa: F401

    _add("imports", time.perf_counter() - w, time.process_time() - c)
    _patch(loader, "load_object", "load")
    _patch(api.Object, "__init__", "load")
    _patch(api, "_verified", "verify")
    _patch(engines, "create", "compile")
    _patch(replay.Replayer, "run", "replay")
    _patch(pcap.CaptureStream, "_read_more", "read")
    _patch(pcapscan.Walker, "walk", "read")
    _patch(batch.BatchRunner, "run", "native loop")
    _patch(world, "_report", "report")
    sys.argv = ["ebpflite", "xdp", *argv]
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code:
            raise
    total = (time.perf_counter() - _STARTED[0], time.process_time() - _STARTED[1])
    spans = {name: {"wall_ms": 1e3 * v[0], "cpu_ms": 1e3 * v[1]} for name, v in _SPANS.items()}
    inner = [spans.get(k, {"wall_ms": 0, "cpu_ms": 0}) for k in ("read", "native loop")]
    if "replay" in spans:
        spans["replay other"] = {k: spans["replay"][k] - sum(s[k] for s in inner) for k in ("wall_ms", "cpu_ms")}
    outer = [spans[k] for k in ("imports", "load", "verify", "compile", "replay", "report") if k in spans]
    spans["other"] = {"wall_ms": 1e3 * total[0] - sum(s["wall_ms"] for s in outer),
                      "cpu_ms": 1e3 * total[1] - sum(s["cpu_ms"] for s in outer)}
    spans["total"] = {"wall_ms": 1e3 * total[0], "cpu_ms": 1e3 * total[1]}
    return spans


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.stdout.flush()
    print("PHASES " + json.dumps(result))
