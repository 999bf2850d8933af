"""Map speed: lookup and update from Python and from programs.

Run: ``pytest bench/test_bench_maps.py --benchmark-only -p no:ebpflite``.

- ``python``: ``Map.lookup`` and ``Map.update`` on a hash map and an array
  map (u32 keys, u64 values), OPS operations per round;
- ``program``: bench/progs/map_ops.c, which makes 64 updates and 64 lookups
  in each of the two maps per run (256 helper calls), on each engine.

Each benchmark records ``ns/op`` and ``M ops/s`` in ``extra_info``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "progs" / "map_ops.c"
OPS = 1000  #: operations per round from Python
PROGRAM_OPS = 4 * 64  #: helper calls per run of map_ops.c
KEYS = [struct.pack("<I", i) for i in range(OPS)]
VALUE = struct.pack("<Q", 42)


def _map(kind: str):
    from ebpflite.helpers import maps
    from ebpflite.loader.maps import MapSpec

    live = maps.create(MapSpec(f"bench_{kind}", kind, 4, 8, OPS))
    for key in KEYS:
        live.update(key, VALUE)
    return live


def _record(benchmark, ops: int) -> None:
    per_op = benchmark.stats.stats.median / ops
    benchmark.extra_info["ops_per_round"] = ops
    benchmark.extra_info["ns/op"] = round(per_op * 1e9, 1)
    benchmark.extra_info["M ops/s"] = round(1e-6 / per_op, 3)


@pytest.mark.parametrize("kind", ["hash", "array"])
def test_python_lookup(benchmark, kind: str):
    live = _map(kind)
    benchmark.group = "maps-python"
    values = benchmark(lambda: [live.lookup(key) for key in KEYS])
    assert values.count(VALUE) == OPS
    _record(benchmark, OPS)


@pytest.mark.parametrize("kind", ["hash", "array"])
def test_python_update(benchmark, kind: str):
    live = _map(kind)
    benchmark.group = "maps-python"
    codes = benchmark(lambda: [live.update(key, VALUE) for key in KEYS])
    assert codes == [0] * OPS
    _record(benchmark, OPS)


@pytest.fixture(scope="module")
def map_ops_object(tmp_path_factory) -> Path:
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    try:
        return compile_c(SOURCE, tmp_path_factory.mktemp("maps") / "map_ops.o")
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_program_map_ops(benchmark, map_ops_object, engine: str):
    if engine == "jit":
        pytest.importorskip("ebpflite.jit.compiler", reason="the JIT is not available")
    import ebpflite

    runner = ebpflite.load(map_ops_object, engine=engine).programs["map_ops"].runner()
    benchmark.group = "maps-program"
    result = benchmark.pedantic(runner.run, kwargs={"packet": bytes(64)}, rounds=20, warmup_rounds=1)
    assert result.r0 == sum(6 * i for i in range(64))  # hash and array each hold i * 3
    _record(benchmark, PROGRAM_OPS)
