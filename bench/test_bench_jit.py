"""JIT benchmarks (pytest-benchmark; numbers, never asserts on time; every one checks r0).

Run: ``pytest bench/test_bench_jit.py bench/test_bench_jit_compile.py --benchmark-only
-p no:ebpflite --benchmark-json=out.json`` then ``python bench/jit_report.py out.json``
for the tables of bench/jit_results.md.

- compute suite (bench/c/kernels.c, 10 programs: loops over memory, branches, byte
  loads, 64-bit ALU, a packet parser) compiled to eBPF with clang and run by the
  JIT unchecked (as for verified code) and checked (as for unverified code: these
  programs read their bounds from memory, so the verifier cannot prove them),
  against the same C built with gcc -O2 and called through ctypes (same call
  overhead on both sides); every run's r0 must equal the gcc build's;
- per-call overhead from Python, through the fastcall builtin and through ctypes;
- batch XDP throughput over packets held in memory;
- compile time for 100 / 1,000 / 10,000 instruction programs, cache hits
  (real objects: bench/test_bench_jit_compile.py);
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
KERNELS = ["primes", "ilog2", "copy", "strcmp_loop", "dense_switch", "checksum", "fnv", "sort", "parse", "mix64"]


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


def frames(count: int = 512, size: int = 64) -> bytes:
    """The parse kernel's input: Ethernet frames, a quarter VLAN-tagged, IPv4 (some with
    options, a few with a bad header length), IPv6 or ARP, carrying TCP, UDP or ICMP."""
    rng = np.random.default_rng(7)
    out = bytearray()
    for _ in range(count):
        frame = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        at = 12
        if rng.random() < 0.25:
            frame[at:at + 4] = b"\x81\x00\x00\x05"
            at += 4
        kind = rng.choice(["ipv4", "ipv6", "arp"], p=[0.5, 0.35, 0.15])
        frame[at:at + 2] = {"ipv4": b"\x08\x00", "ipv6": b"\x86\xdd", "arp": b"\x08\x06"}[kind]
        l3 = at + 2
        proto = int(rng.choice([6, 17, 1]))
        if kind == "ipv4":
            ihl = int(rng.choice([5, 5, 6, 7, 3]))
            frame[l3] = 0x40 | ihl
            frame[l3 + 9] = proto
        elif kind == "ipv6":
            frame[l3] = 0x60
            frame[l3 + 6] = proto
        out += frame
    return bytes(out)


def _memory(kernel: str = ""):
    env = Environment.minimal(budget=None)
    buf = low_alloc(65536)
    buf[:32768] = np.random.default_rng(1).integers(1, 256, 32768, dtype=np.uint8)
    if kernel == "parse":
        buf[:32768] = np.frombuffer(frames(), dtype=np.uint8)
    return env, env.memory.add(Region("mem", buf))


def _native(lib, kernel: str):
    fn = getattr(lib, kernel)
    fn.restype, fn.argtypes = ctypes.c_uint64, [ctypes.c_void_p]
    return fn


@pytest.fixture(scope="module")
def expected(built):
    """r0 of each kernel, from the gcc build and the checked JIT, which must agree."""
    obj, lib = built
    answers = {}
    for kernel in KERNELS:
        _, region = _memory(kernel)
        native = _native(lib, kernel)(region.start)
        env, region = _memory(kernel)
        jit = JitProgram(obj.programs[kernel], env, checked=True).run(region.start).r0
        assert jit == native, f"{kernel}: checked JIT r0 {jit:#x} != gcc r0 {native:#x}"
        answers[kernel] = native
    return answers


def _jit(built, kernel: str, checked: bool, **options):
    obj, _ = built
    prog = obj.programs[kernel]
    if not checked:
        prog = Program(prog.insns, name=prog.name, verified=True)  # as the verifier would hand it over
    env, region = _memory(kernel)
    return JitProgram(prog, env, checked=checked, **options), region


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("mode", ["unchecked", "checked"])
def test_kernel_jit(benchmark, built, expected, kernel, mode):
    jit, region = _jit(built, kernel, mode == "checked", opt_level=3 if mode == "unchecked" else 2)
    benchmark.group = f"kernel-{kernel}"
    benchmark.extra_info.update(kernel=kernel, engine=f"jit-{mode}")
    assert benchmark(jit.run, region.start).r0 == expected[kernel]


def test_kernel_jit_without_switch_recovery(benchmark, built, expected, monkeypatch):
    """dense_switch as before jit/switches.py: clang's compare tree lowered jump by jump."""
    from ebpflite.jit import lower

    monkeypatch.setattr(lower, "recover_switch", lambda blocks, block: None)
    jit, region = _jit(built, "dense_switch", False, opt_level=3, cache=False)
    assert "switch_default" not in str(jit.code.lowering.module)
    benchmark.group = "kernel-dense_switch"
    assert benchmark(jit.run, region.start).r0 == expected["dense_switch"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_native(benchmark, built, expected, kernel):
    _, lib = built
    fn = _native(lib, kernel)
    env, region = _memory(kernel)
    benchmark.group = f"kernel-{kernel}"
    benchmark.extra_info.update(kernel=kernel, engine="gcc-O2")
    assert benchmark(fn, region.start) == expected[kernel]


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_jit_vs_interpreter(benchmark, built, expected, engine):
    obj, _ = built
    prog = obj.programs["fnv"]
    env, region = _memory()
    runner = JitProgram(prog, env, checked=True) if engine == "jit" else Interpreter(prog, env)
    benchmark.group = "jit-vs-interp (fnv, checked)"
    res = benchmark.pedantic(runner.run, args=(region.start,), rounds=3 if engine == "interp" else 20)
    assert res.r0 == expected["fnv"]


SUM = Program.of(make("mov", dst=0, src=1), make("add", dst=0, src=2), make("exit"), verified=True)


@pytest.mark.parametrize("path", ["fastcall", "ctypes"])
def test_per_call_overhead(benchmark, path):
    """A one-instruction program from Python: the fastcall builtin (jit/fastcall.py) against
    the ctypes call it replaced (``fastcall=False``), same run."""
    jit = JitProgram(Program([make("exit")], verified=True), fastcall=path == "fastcall")
    benchmark.group = "per-call"
    benchmark.extra_info.update(path=path)
    assert benchmark(jit.run).r0 == 0


@pytest.mark.parametrize("path", ["fastcall", "ctypes"])
def test_per_call_overhead_with_arguments(benchmark, path):
    jit = JitProgram(SUM, fastcall=path == "fastcall")
    benchmark.group = "per-call (2 args)"
    benchmark.extra_info.update(path=path)
    assert benchmark(jit.run, 40, 2).r0 == 42


def _straight_line(n: int) -> Program:
    insns = []
    for i in range(n - 1):
        insns.append(make("add" if i % 3 else "xor", dst=i % 9, imm=i).with_fields(pc=i))
    insns.append(make("exit").with_fields(pc=n - 1))
    return Program(insns)


def _interp_r0(prog: Program) -> int:
    return Interpreter(prog, Environment.minimal()).run().r0


@pytest.mark.parametrize("size", [100, 1000, 10000])
@pytest.mark.parametrize("level", [1, 2, 3])
def test_compile_time(benchmark, size, level):
    prog = _straight_line(size)
    benchmark.group = f"compile-{size}"
    jit = benchmark.pedantic(lambda: JitProgram(prog, cache=False, opt_level=level), rounds=3 if size > 1000 else 5)
    assert jit.run().r0 == _interp_r0(prog)


def test_compile_cache_hit(benchmark):
    prog = _straight_line(1000)
    JitProgram(prog)
    benchmark.group = "compile-1000"
    assert benchmark(JitProgram, prog).run().r0 == _interp_r0(prog)


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
    expected = np.array([2, 1] * 50000)  # XDP_PASS for IPv4 (ethertype 0x0800), else XDP_DROP
    benchmark.group = "batch-xdp (100k packets)"
    result = benchmark(lambda: jit.run_batch(PacketBatch.from_packets(packets)))
    assert np.array_equal(result.verdicts, expected)


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


def _first_verdicts_agree(path, name: str, jit, packets: list[bytes], setup=lambda obj: None) -> None:
    """r0 check of a batch benchmark: the first batch's verdicts (from fresh maps) are the
    interpreter's, run packet by packet on a separately loaded copy of the object."""
    import ebpflite
    from ebpflite.jit.batch import PacketBatch

    reference = ebpflite.load(path, engine="interp")
    setup(reference)
    handle = reference.programs[name]
    expected = [handle.run(packet=p).return_value for p in packets]
    assert jit.run_batch(PacketBatch.from_packets(packets)).verdicts.tolist() == expected


@pytest.mark.parametrize("native", [True, False], ids=["native-lookup", "callback-lookup"])
def test_batch_xdp_map_throughput(benchmark, tmp_path_factory, native):
    """Map-heavy XDP (a hash and an array lookup per packet) over 10k packets in one batch call."""
    import ebpflite
    from ebpflite.loader.cc import compile_c

    if shutil.which("clang") is None:
        pytest.skip("clang (BPF target) is needed to build the XDP program")
    src = tmp_path_factory.mktemp("mapxdp") / "count.c"
    src.write_text(MAP_XDP)
    path = compile_c(src)

    def setup(obj):
        for key in range(0, 1024, 2):
            obj.maps["flows"][key] = 0

    obj = ebpflite.load(path, engine="interp")
    runner = obj.programs["count"].runner()
    setup(obj)
    jit = JitProgram(runner.program, runner.env, checked=False, native_helpers=native)
    rng = np.random.default_rng(2)
    from ebpflite.jit.batch import PacketBatch

    packets = [bytes(rng.integers(0, 256, 64, dtype=np.uint8)) for _ in range(10000)]
    _first_verdicts_agree(path, "count", jit, packets, setup)
    batch = PacketBatch.from_packets(packets)
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
    path = compile_c(src)
    obj = ebpflite.load(path, engine="interp")
    runner = obj.programs["track"].runner()
    jit = JitProgram(runner.program, runner.env, checked=False, native_helpers=native)
    rng = np.random.default_rng(3)
    from ebpflite.jit.batch import PacketBatch

    packets = [bytes(rng.integers(0, 256, 64, dtype=np.uint8)) for _ in range(10000)]
    _first_verdicts_agree(path, "track", jit, packets)
    batch = PacketBatch.from_packets(packets)
    benchmark.group = "batch-xdp-map-writes (10k packets)"
    benchmark(jit.run_batch, batch)
