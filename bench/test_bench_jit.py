"""JIT benchmarks (pytest-benchmark; numbers, never asserts on time).

Run: ``pytest bench/test_bench_jit.py --benchmark-only -p no:ebpflite``. Results are
summarised in bench/jit_results.md.

- compute kernels (bench/c/kernels.c) compiled to eBPF with clang and run by
  the JIT (unchecked, as for verified code), against the same C built with
  gcc -O2 and called through ctypes (same call overhead on both sides);
- per-call overhead of a one-instruction program from Python;
- batch XDP throughput over packets held in memory;
- compile time for 100 / 1,000 / 10,000 instruction programs, cache hits;
- JIT vs interpreter on the same kernel.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.memory import Region, low_alloc
from ebpflite.vm.program import Program

C_DIR = Path(__file__).resolve().parent / "c"
KERNELS = ["primes", "ilog2", "copy", "strcmp_loop", "dense_switch", "checksum", "fnv", "sort"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if shutil.which("clang") is None or shutil.which("gcc") is None:
        pytest.skip("clang (BPF target) and gcc are needed to build the kernels")
    out = tmp_path_factory.mktemp("kernels")
    bpf, native = out / "kernels.bpf.o", out / "kernels.so"
    src = C_DIR / "kernels.c"
    subprocess.run(["clang", "-O2", "-target", "bpf", "-fno-builtin", "-c", str(src), "-o", str(bpf)], check=True)
    subprocess.run(["gcc", "-O2", "-fno-builtin", "-shared", "-fPIC", str(src), "-o", str(native)], check=True)
    from ebpflite.loader import load_object

    return load_object(str(bpf)), ctypes.CDLL(str(native))


def _memory():
    env = Environment.minimal(budget=None)
    buf = low_alloc(65536)
    buf[:32768] = np.random.default_rng(1).integers(1, 256, 32768, dtype=np.uint8)
    return env, env.memory.add(Region("mem", buf))


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_jit(benchmark, built, kernel):
    obj, _ = built
    prog = obj.programs[kernel]
    prog.verified = True
    env, region = _memory()
    jit = JitProgram(prog, env, checked=False, opt_level=3)
    benchmark.group = f"kernel-{kernel}"
    benchmark(jit.run, region.start)


def test_kernel_jit_without_switch_recovery(benchmark, built, monkeypatch):
    """dense_switch as before jit/switches.py: clang's compare tree lowered jump by jump."""
    from ebpflite.jit import lower

    monkeypatch.setattr(lower, "recover_switch", lambda blocks, block: None)
    obj, _ = built
    prog = obj.programs["dense_switch"]
    prog.verified = True
    env, region = _memory()
    jit = JitProgram(prog, env, checked=False, opt_level=3, cache=False)
    assert "switch_default" not in str(jit.code.lowering.module)
    benchmark.group = "kernel-dense_switch"
    benchmark(jit.run, region.start)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_native(benchmark, built, kernel):
    _, lib = built
    fn = getattr(lib, kernel)
    fn.restype, fn.argtypes = ctypes.c_uint64, [ctypes.c_void_p]
    env, region = _memory()
    benchmark.group = f"kernel-{kernel}"
    benchmark(fn, region.start)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_jit_vs_interpreter(benchmark, built, engine):
    obj, _ = built
    prog = obj.programs["fnv"]
    env, region = _memory()
    runner = JitProgram(prog, env, checked=True) if engine == "jit" else Interpreter(prog, env)
    benchmark.group = "jit-vs-interp (fnv, checked)"
    benchmark.pedantic(runner.run, args=(region.start,), rounds=3 if engine == "interp" else 20)


def test_per_call_overhead(benchmark):
    jit = JitProgram(Program([make("exit")], verified=True))
    benchmark.group = "per-call"
    benchmark(jit.run)


def _straight_line(n: int) -> Program:
    insns = []
    for i in range(n - 1):
        insns.append(make("add" if i % 3 else "xor", dst=i % 9, imm=i).with_fields(pc=i))
    insns.append(make("exit").with_fields(pc=n - 1))
    return Program(insns)


@pytest.mark.parametrize("size", [100, 1000, 10000])
@pytest.mark.parametrize("level", [1, 2, 3])
def test_compile_time(benchmark, size, level):
    prog = _straight_line(size)
    benchmark.group = f"compile-{size}"
    benchmark.pedantic(lambda: JitProgram(prog, cache=False, opt_level=level), rounds=3 if size > 1000 else 5)


def test_compile_cache_hit(benchmark):
    prog = _straight_line(1000)
    JitProgram(prog)
    benchmark.group = "compile-1000"
    benchmark(JitProgram, prog)


def test_batch_xdp_throughput(benchmark):
    from ebpflite.jit.batch import PacketBatch

    insns = [("ldxw", 2, 1, 0, 0), ("ldxw", 3, 1, 4, 0), ("mov", 0, 0, 0, 1), ("mov", 4, 2, 0, None),
             ("add", 4, 0, 0, 14), ("jgt", 4, 3, 4, None), ("ldxh", 5, 2, 12, 0), ("jne", 5, 0, 2, 0x0008),
             ("mov", 0, 0, 0, 2), ("exit", 0, 0, 0, 0), ("exit", 0, 0, 0, 0)]
    from ebpflite.vm.isa import BY_NAME

    placed = []
    for pc, (name, dst, src, off, imm) in enumerate(insns):
        spec = next(s for s in BY_NAME[name] if s.source == ("X" if imm is None else "K")) \
            if name not in ("ldxw", "ldxh", "exit") else BY_NAME[name][0]
        placed.append(make(spec, dst=dst, src=src, off=off, imm=imm or 0).with_fields(pc=pc))
    prog = Program(placed, verified=True)
    jit = JitProgram(prog, Environment.minimal(budget=None))
    packets = [bytes(12) + b"\x08\x00" + bytes(50), bytes(12) + b"\x86\xdd" + bytes(50)] * 50000
    batch = PacketBatch.from_packets(packets)
    benchmark.group = "batch-xdp (100k packets)"
    benchmark(jit.run_batch, batch)


MAP_XDP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32);
         __type(value, __u64); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 256); __type(key, __u32);
         __type(value, __u64); } bytes_by_port SEC(".maps");
SEC("xdp")
int count(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 34 > end)
        return XDP_PASS;
    __u32 src = *(__u32 *)(data + 26) & 1023, port = *(__u8 *)(data + 33);
    __u64 *n = bpf_map_lookup_elem(&flows, &src);
    if (!n)
        return XDP_PASS;
    *n += 1;
    __u64 *b = bpf_map_lookup_elem(&bytes_by_port, &port);
    if (b)
        *b += end - data;
    return *n > 1000 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("native", [True, False], ids=["native-lookup", "callback-lookup"])
def test_batch_xdp_map_throughput(benchmark, tmp_path_factory, native):
    """Map-heavy XDP (a hash and an array lookup per packet) over 10k packets in one batch call."""
    import ebpflite
    from ebpflite.loader.cc import compile_c

    if shutil.which("clang") is None:
        pytest.skip("clang (BPF target) is needed to build the XDP program")
    src = tmp_path_factory.mktemp("mapxdp") / "count.c"
    src.write_text(MAP_XDP)
    obj = ebpflite.load(compile_c(src), engine="interp")
    runner = obj.programs["count"].runner()
    for key in range(0, 1024, 2):
        obj.maps["flows"][key] = 0
    jit = JitProgram(runner.program, runner.env, checked=False, native_helpers=native)
    rng = np.random.default_rng(2)
    from ebpflite.jit.batch import PacketBatch

    batch = PacketBatch.from_packets(bytes(rng.integers(0, 256, 64, dtype=np.uint8)) for _ in range(10000))
    benchmark.group = "batch-xdp-maps (10k packets)"
    benchmark(jit.run_batch, batch)


WRITE_XDP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32);
         __type(value, __u64); } flows SEC(".maps");
SEC("xdp")
int track(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 54 > end)
        return XDP_PASS;
    __u32 src = *(__u32 *)(data + 26) & 1023;
    if (*(__u8 *)(data + 33) & 1) {
        bpf_map_delete_elem(&flows, &src);
        return XDP_DROP;
    }
    __u64 csum = bpf_csum_diff(0, 0, (__be32 *)(data + 34), 20, 0);
    bpf_map_update_elem(&flows, &src, &csum, BPF_ANY);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("native", [True, False], ids=["native-helpers", "callback-helpers"])
def test_batch_xdp_map_write_throughput(benchmark, tmp_path_factory, native):
    """Write-heavy XDP (a hash update or delete and a csum_diff per packet) over 10k packets
    in one batch call: native update/delete/csum_diff against the Python callbacks."""
    import ebpflite
    from ebpflite.loader.cc import compile_c

    if shutil.which("clang") is None:
        pytest.skip("clang (BPF target) is needed to build the XDP program")
    src = tmp_path_factory.mktemp("writexdp") / "track.c"
    src.write_text(WRITE_XDP)
    obj = ebpflite.load(compile_c(src), engine="interp")
    runner = obj.programs["track"].runner()
    jit = JitProgram(runner.program, runner.env, checked=False, native_helpers=native)
    rng = np.random.default_rng(3)
    from ebpflite.jit.batch import PacketBatch

    batch = PacketBatch.from_packets(bytes(rng.integers(0, 256, 64, dtype=np.uint8)) for _ in range(10000))
    benchmark.group = "batch-xdp-map-writes (10k packets)"
    benchmark(jit.run_batch, batch)
