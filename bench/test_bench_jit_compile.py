"""JIT compile time on real objects: the xdp-tools filters and the examples, checked (as
unverified code runs) and unchecked (verified, xlated), cold and from the disk cache.

Run: ``pytest bench/test_bench_jit_compile.py --benchmark-only -p no:ebpflite
--benchmark-json=out.json`` then ``python bench/jit_report.py out.json`` for the
milliseconds per 1,000 instructions. xdp-tools objects come from the distribution
(``apt-get install xdp-tools``: /usr/lib/*/bpf/xdpfilt_*.o); the examples are compiled
with clang or zig. Each benchmark checks r0: the object's program, run by the JIT on a
frame through the runtime, returns what the interpreter returns (or fails the same way).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

import ebpflite
from ebpflite.errors import CompileError, EbpfError
from ebpflite.jit import cache
from ebpflite.jit.compiler import JitProgram

ROOT = Path(__file__).resolve().parents[1]
XDP_TOOLS = sorted(glob.glob("/usr/lib/*/bpf/xdpfilt_*.o") + glob.glob("/usr/lib/*/bpf/xdpdump_xdp.o"))
EXAMPLES = sorted(ROOT.glob("examples/*/*.c"))
FRAME = (ROOT / "examples" / "data" / "frame.bin").read_bytes()


def _objects() -> list:
    return [pytest.param(("xdp-tools", path), id=Path(path).stem) for path in XDP_TOOLS] + \
        [pytest.param(("example", path), id=path.stem) for path in EXAMPLES]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """example source -> object file (compiled once per session)."""
    return {}


def _object_path(kind_path, built, tmp_path_factory) -> Path:
    kind, path = kind_path
    if kind == "xdp-tools":
        return Path(path)
    if path not in built:
        from ebpflite.loader.cc import compile_c

        try:
            built[path] = compile_c(path, tmp_path_factory.mktemp("examples") / f"{path.stem}.o")
        except CompileError as exc:
            pytest.skip(f"{path.name} does not compile here (zig or clang): {exc}")
    return built[path]


def _outcome(path: Path, name: str, verify: bool, engine: str):
    handle = ebpflite.load(path, verify=verify).programs[name]
    packet = FRAME if handle.prog_type in ("xdp", "sched_cls", "sched_act") else None
    try:
        return handle.run(packet=packet, engine=engine).return_value
    except EbpfError as exc:
        return type(exc).__name__


def _programs(path: Path, verify: bool):
    obj = ebpflite.load(path, verify=verify)
    return [(name, obj.programs[name].runner("interp")) for name in obj.programs]


@pytest.mark.parametrize("source", _objects())
@pytest.mark.parametrize("mode", ["checked", "unchecked"])
@pytest.mark.parametrize("start", ["cold", "disk"])
def test_compile_real_object(benchmark, built, tmp_path_factory, source, mode, start):
    if source[0] == "xdp-tools" and not XDP_TOOLS:
        pytest.skip("xdp-tools objects not installed (apt-get install xdp-tools)")
    path = _object_path(source, built, tmp_path_factory)
    verify = mode == "unchecked"
    try:
        programs = _programs(path, verify)
    except EbpfError as exc:
        pytest.skip(f"{path.name} does not load{' verified' if verify else ''} here: {exc}")
    directory = tmp_path_factory.mktemp("jitcache")

    def compile_all() -> list[JitProgram]:
        if start == "disk":
            cache.clear_memory_cache()
            return [JitProgram(r.program, r.env, checked=not verify, cache_dir=directory) for _, r in programs]
        return [JitProgram(r.program, r.env, checked=not verify, cache=False) for _, r in programs]

    if start == "disk":
        compile_all()  # fill the cache
    insns = sum(len(r.program.insns) for _, r in programs)
    benchmark.group = f"compile {path.stem} ({insns} insns)"
    benchmark.extra_info.update(object=path.stem, mode=mode, start=start, insns=insns,
                                programs=len(programs))
    jits = benchmark.pedantic(compile_all, rounds=3 if start == "cold" else 10, iterations=1)
    assert all(j.code.from_disk == (start == "disk") for j in jits)
    for name, _ in programs:
        assert _outcome(path, name, verify, "jit") == _outcome(path, name, verify, "interp"), name
