"""Native map lookups (jit/native.py) give what the Python helper gives.

One verified XDP program looks keys up in an array, a per-CPU array, a hash,
a per-CPU hash and an LRU hash (the last one is not native: the JIT calls the
Python helper), updates values through the returned pointers and returns a
digest; the interpreter and the JIT must agree on r0 and every map's contents,
packet after packet.
"""

from __future__ import annotations

import pytest

import ebpflite
from ebpflite.jit.compiler import JitProgram
from ebpflite.jit.native import native_helper_numbers
from ebpflite.loader.cc import compile_c

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAP(name, kind, n, k, v) struct { __uint(type, kind); __uint(max_entries, n); \
    __type(key, k); __type(value, v); } name SEC(".maps")
struct key6 { __u8 b[6]; };           /* a key size that is not a multiple of 4 */
MAP(arr, BPF_MAP_TYPE_ARRAY, 8, __u32, __u64);
MAP(pcpu, BPF_MAP_TYPE_PERCPU_ARRAY, 4, __u32, __u64);
MAP(flows, BPF_MAP_TYPE_HASH, 16, struct key6, __u64);
MAP(pflows, BPF_MAP_TYPE_PERCPU_HASH, 16, __u32, __u32);
MAP(lru, BPF_MAP_TYPE_LRU_HASH, 4, __u32, __u64);

SEC("xdp")
int lookups(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 8 > end)
        return XDP_ABORTED;
    __u8 *p = data;
    __u64 digest = 0;
    __u32 i = p[0] & 15;                      /* 8..15 are past the array's end */
    __u64 *a = bpf_map_lookup_elem(&arr, &i);
    if (a) { *a += p[1]; digest += *a; } else digest += 1000;
    __u32 c = p[0] & 3;
    __u64 *pc = bpf_map_lookup_elem(&pcpu, &c);
    if (pc) { *pc += 1; digest += *pc << 8; }
    struct key6 k = {{p[2] & 3, 1, 2, 3, 4, p[3] & 1}};
    __u64 *f = bpf_map_lookup_elem(&flows, &k);
    if (f) { *f += 1; digest += *f << 16; }
    else { __u64 one = 1; bpf_map_update_elem(&flows, &k, &one, BPF_NOEXIST); digest += 7; }
    __u32 pk = p[4] & 7;
    __u32 *pf = bpf_map_lookup_elem(&pflows, &pk);
    if (pf) { *pf += 3; digest += *pf << 24; }
    else { __u32 v = 5; bpf_map_update_elem(&pflows, &pk, &v, BPF_ANY); }
    __u32 lk = p[5] & 7;
    __u64 *l = bpf_map_lookup_elem(&lru, &lk);
    if (l) { *l += 1; digest += *l << 32; }
    else { __u64 v = 9; bpf_map_update_elem(&lru, &lk, &v, BPF_ANY); }
    if (p[6] == 0xff) { __u64 zero = 0; bpf_map_delete_elem(&flows, &k); digest ^= zero; }
    return (int)(digest % 3) + 1 + (int)((digest >> 3) & 0xfff0);
}
char _license[] SEC("license") = "GPL";
"""

PACKETS = [bytes([(i * 7) & 0xff, i & 0xff, (i * 5) & 0xff, (i >> 1) & 0xff, (i * 3) & 0xff,
                  (i * 11) & 0xff, 0xff if i % 9 == 8 else 0, 0]) + bytes(56) for i in range(120)]


@pytest.fixture(scope="module")
def obj_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("native") / "lookups.c"
    src.write_text(SOURCE)
    try:
        return compile_c(src, src.with_suffix(".o"))
    except ebpflite.CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def _replay(path, engine: str):
    obj = ebpflite.load(path, engine=engine, verify=True, cpus=4)
    prog = obj.programs["lookups"]
    runner = prog.runner()
    verdicts = []
    for n, packet in enumerate(PACKETS):
        runner.cpu = n % 3  # per-CPU values: not only CPU 0's copy
        verdicts.append(prog.run(packet=packet).return_value)
    maps = {name: sorted(live.raw_items()) for name, live in obj.maps.items()}
    return verdicts, maps, obj


def test_native_lookups_match_the_interpreter(obj_path):
    interp, interp_maps, _ = _replay(obj_path, "interp")
    jit, jit_maps, obj = _replay(obj_path, "jit")
    assert jit == interp
    assert jit_maps == interp_maps
    assert len(set(interp)) > 3  # the digest really depends on the map contents
    engine = obj.programs["lookups"].runner().engine
    assert isinstance(engine, JitProgram) and not engine.checked
    assert engine.options.native_numbers >= {1, 2, 3}  # the map helpers really are native here


def test_native_lookup_only_for_the_registry_helper():
    from ebpflite.helpers import registry

    impl = registry.by_name("bpf_map_lookup_elem", "linux").impl
    assert native_helper_numbers({1: impl}) == {1: "bpf_map_lookup_elem"}
    assert native_helper_numbers({1: lambda env, *a: 0}) == {}  # a test's own helper 1
    assert native_helper_numbers({5: impl}) == {}  # not under its own number
