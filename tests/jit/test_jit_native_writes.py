"""Native map updates and deletes, and native bpf_csum_diff (jit/native.py), against the interpreter.

Two verified XDP programs, compiled from C, are driven by seeded random
packets:

* ``ops`` performs eight map operations per packet, each chosen by four
  packet bytes (operation, key, value, flags): updates with BPF_ANY,
  BPF_NOEXIST, BPF_EXIST, an invalid flag and BPF_F_LOCK (the last two are
  declined by native code and run in Python), deletes, and lookups, on an
  array and a per-CPU array (index past the end: -E2BIG; delete: -EINVAL), a
  hash with a 6-byte key and a 12-byte value (more keys than entries: full
  table -E2BIG, deletions that shift probe runs back) and a per-CPU hash; each
  return code goes into a digest.
* ``csum`` returns bpf_csum_diff over packet bytes with sizes from 0 to 28
  (some not multiples of 4: -EINVAL) and a 64-bit seed.

The interpreter and the JIT (unchecked, with the native helpers) must give
the same r0 and output packet for every packet, on CPUs 0 to 3, and maps
that are identical *byte for byte*: the whole storage buffer of every map,
so slot order, free list and counters match too, not only the key/value
pairs. Separate tests check that the native path is really taken: with only
flags native code handles, the JIT makes no Python callback at all.
"""

from __future__ import annotations

import random

import pytest

import ebpflite
from ebpflite.jit.compiler import JitProgram
from ebpflite.loader.cc import compile_c

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAP(name, kind, n, k, v) struct { __uint(type, kind); __uint(max_entries, n); \
    __type(key, k); __type(value, v); } name SEC(".maps")
struct key6 { __u8 b[6]; };
struct v12 { __u32 w[3]; };               /* value_size 12: padded to 16 in storage */
MAP(arr, BPF_MAP_TYPE_ARRAY, 8, __u32, __u64);
MAP(parr, BPF_MAP_TYPE_PERCPU_ARRAY, 4, __u32, struct v12);
MAP(h, BPF_MAP_TYPE_HASH, 8, struct key6, struct v12);
MAP(ph, BPF_MAP_TYPE_PERCPU_HASH, 6, __u32, __u64);

static __always_inline __u64 op(__u8 *p)
{
    __u8 kind = p[0] & 7, k = p[1], v = p[2];
    __u64 flags = p[3] % 6;                /* 3: invalid, 4 and 5: BPF_F_LOCK */
    __u32 i;
    __u64 v64 = ((__u64)v << 40) | v;
    struct v12 v12 = {{v, v * 3u, 0x01000000u * v}};
    __u8 kk = k % 12;
    struct key6 k6 = {{kk % 6, 1, 2, 3, 4, kk / 6}};   /* home slots collide: probe runs */
    switch (kind) {
    case 0: i = k % 10; return bpf_map_update_elem(&arr, &i, &v64, flags);
    case 1: i = k % 10; return bpf_map_delete_elem(&arr, &i);
    case 2: i = k % 6; return bpf_map_update_elem(&parr, &i, &v12, flags);
    case 3: return bpf_map_update_elem(&h, &k6, &v12, flags);
    case 4: return bpf_map_delete_elem(&h, &k6);
    case 5: i = k % 9; return bpf_map_update_elem(&ph, &i, &v64, flags);
    case 6: i = k % 9; return bpf_map_delete_elem(&ph, &i);
    default: {
        struct v12 *got = bpf_map_lookup_elem(&h, &k6);
        return got ? got->w[0] + ((__u64)got->w[2] << 32) : 99;
    }
    }
}

SEC("xdp")
int ops(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 32 > end)
        return XDP_ABORTED;
    __u8 *p = data;
    __u64 digest = 0;
#pragma unroll
    for (int n = 0; n < 8; n++)
        digest = digest * 31 + op(p + 4 * n);
    return (int)(digest ^ (digest >> 32));
}

SEC("xdp")
int csum(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 80 > end)
        return XDP_ABORTED;
    __u8 *p = data;
    __u32 from_size = p[0] & 0x1f, to_size = p[1] & 0x1f;   /* 0..31: some not multiples of 4 */
    __u64 seed = *(__u64 *)(p + 8);
    if (from_size > 28) from_size = 28;
    if (to_size > 28) to_size = 28;
    __s64 r = bpf_csum_diff((__be32 *)(p + 16), from_size, (__be32 *)(p + 48), to_size, (__u32)seed);
    return (int)r ^ (int)(r >> 32);
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("native_writes") / "writes.c"
    src.write_text(SOURCE)
    try:
        return compile_c(src, src.with_suffix(".o"))
    except ebpflite.CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def _ops_packets(seed: int, count: int, flags: tuple[int, ...] = (0, 1, 2, 3, 4, 5)) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        body = bytearray()
        for _ in range(8):
            # bias towards the hash map so that it fills up and deletions shift probe runs
            kind = rng.choice([0, 1, 2, 3, 3, 3, 4, 4, 5, 6, 7])
            body += bytes([kind, rng.randrange(256), rng.randrange(256), rng.choice(flags)])
        packets.append(bytes(body) + bytes(32))
    return packets


def _csum_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    sizes = [0, 4, 8, 12, 16, 20, 24, 28, 3, 5, 30]
    return [bytes([rng.choice(sizes), rng.choice(sizes)]) + rng.randbytes(94) for _ in range(count)]


def _replay(path, engine: str, name: str, packets: list[bytes]):
    obj = ebpflite.load(path, engine=engine, verify=True, cpus=4)
    prog = obj.programs[name]
    runner = prog.runner()
    results = []
    for n, packet in enumerate(packets):
        runner.cpu = n % 4
        res = prog.run(packet=packet)
        results.append((res.r0, res.packet))
    storage = {m: live.storage.buf.tobytes() for m, live in obj.maps.items()}
    return results, storage, runner.engine


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_map_writes_match_the_interpreter_byte_for_byte(obj_path, seed):
    packets = _ops_packets(seed, 150)
    interp, interp_maps, _ = _replay(obj_path, "interp", "ops", packets)
    jit, jit_maps, engine = _replay(obj_path, "jit", "ops", packets)
    assert isinstance(engine, JitProgram) and not engine.checked
    assert engine.options.native_numbers >= {1, 2, 3}
    assert jit == interp
    assert jit_maps == interp_maps
    assert len({r0 for r0, _ in interp}) > 100  # the digests really depend on the return codes


def test_map_writes_reach_every_outcome(obj_path):
    """The packets above do exercise what the native code must get right: a full hash
    table, EEXIST/ENOENT, array E2BIG and EINVAL (checked on the Python map objects)."""
    obj = ebpflite.load(obj_path, engine="jit", verify=True, cpus=4)
    h = obj.maps["h"]
    seen_full = False
    for n, packet in enumerate(_ops_packets(1, 150)):
        obj.programs["ops"].runner().cpu = n % 4
        obj.programs["ops"].run(packet=packet)
        seen_full |= len(h) == h.max_entries
    assert seen_full
    assert 0 < len(obj.maps["ph"]) <= 6


def test_native_map_writes_make_no_callback(obj_path):
    packets = _ops_packets(7, 60, flags=(0, 1, 2))
    interp, interp_maps, _ = _replay(obj_path, "interp", "ops", packets)
    jit, jit_maps, engine = _replay(obj_path, "jit", "ops", packets)
    assert (jit, jit_maps) == (interp, interp_maps)
    assert engine._trampoline.calls == 0


def test_declined_flags_fall_back_to_python(obj_path):
    """BPF_F_LOCK and invalid flags are not native: the callback runs for them."""
    packets = [bytes([3, 1, 2, 4]) * 8 + bytes(32), bytes([0, 1, 2, 3]) * 8 + bytes(32)]
    _, _, engine = _replay(obj_path, "jit", "ops", packets)
    assert engine._trampoline.calls == 16


@pytest.mark.parametrize("seed", [1, 2])
def test_csum_diff_matches_the_interpreter(obj_path, seed):
    packets = _csum_packets(seed, 200)
    interp, _, _ = _replay(obj_path, "interp", "csum", packets)
    jit, _, engine = _replay(obj_path, "jit", "csum", packets)
    assert jit == interp
    assert engine._trampoline.calls == 0  # every call was native
    assert len({r0 for r0, _ in interp}) > 100


def test_csum_diff_agrees_with_the_python_helper_directly():
    """The native code against helpers/impl/csum.py on edge values (carries, all-ones words)."""
    from ebpflite.helpers.impl.csum import linux_csum_diff

    rng = random.Random(5)
    cases = [(b"\xff" * 28, b"\xff" * 28, 0xFFFFFFFF), (b"", b"", 0x1234_5678_9ABC), (b"\xff" * 8, b"", 0xFFFFFFFF),
             (b"", b"\x00\x00\xff\xff" * 7, 1)]
    cases += [(rng.randbytes(rng.choice([0, 4, 8, 12, 28])), rng.randbytes(rng.choice([0, 4, 16, 20])),
               rng.getrandbits(64)) for _ in range(200)]
    got = [_native_csum(frm, to, seed) for frm, to, seed in cases]
    assert got == [linux_csum_diff(frm, to, seed) for frm, to, seed in cases]


def _native_csum(frm: bytes, to: bytes, seed: int) -> int:
    """Call the compiled ``ebpf_native_csum_diff`` on two buffers through a tiny module."""
    import ctypes

    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    from ebpflite.jit.cache import new_target_machine
    from ebpflite.jit.native import NATIVE_FN_T, build_native_helpers

    module = ir.Module(name="csum")
    native = build_native_helpers(module, ["bpf_csum_diff"])["bpf_csum_diff"]
    wrapper = ir.Function(module, ir.FunctionType(ir.IntType(64), NATIVE_FN_T.args[1:]), "csum")
    b = ir.IRBuilder(wrapper.append_basic_block())
    b.ret(b.extract_value(b.call(native, [ir.Constant(ir.PointerType(), None)] + list(wrapper.args)), 1))
    engine = _engine(str(module), new_target_machine(2), llvm)
    fn = ctypes.CFUNCTYPE(*[ctypes.c_uint64] * 6)(engine.get_function_address("csum"))
    fbuf, tbuf = ctypes.create_string_buffer(frm, max(1, len(frm))), ctypes.create_string_buffer(to, max(1, len(to)))
    return fn(ctypes.addressof(fbuf), len(frm), ctypes.addressof(tbuf), len(to), seed)


_ENGINES = []


def _engine(text, machine, llvm):
    mod = llvm.parse_assembly(text)
    engine = llvm.create_mcjit_compiler(mod, machine)
    engine.finalize_object()
    _ENGINES.append(engine)  # keep the code alive
    return engine
