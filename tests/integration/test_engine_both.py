"""``engine="both"``: the two engines run from the same world and must agree."""

from __future__ import annotations

import pytest

import ebpflite
from ebpflite.errors import EngineMismatch
from ebpflite.pytest_plugin import make_compiler

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32);
         __type(value, __u64); } seen SEC(".maps");
SEC("xdp")
int count(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 2 > end)
        return XDP_ABORTED;
    __u32 key = *(__u8 *)data;
    __u64 one = 1, *n = bpf_map_lookup_elem(&seen, &key);
    if (n)
        *n += 1;
    else
        bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
    *(__u8 *)(data + 1) = key + 1;                     /* rewrite the packet */
    bpf_printk("key %d prandom %u", key, bpf_get_prandom_u32() & 0xff);
    return key & 1 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj_path(tmp_path_factory, ebpf_cache_dir):
    return make_compiler(ebpf_cache_dir, tmp_path_factory.mktemp("both"))(SOURCE, name="count")


def test_both_engines_agree_and_the_world_changes_once(obj_path):
    obj = ebpflite.load(obj_path, engine="both", seed=3)
    for _ in range(3):
        res = obj.programs["count"].run(packet=b"\x05\x00" + bytes(30))
        assert res.action == "XDP_DROP" and res.packet[1] == 6
    assert obj.maps["seen"][5] == 3  # each run counted once, not once per engine
    assert len(res.trace_output) == 1 and res.trace_output[0].startswith("key 5 prandom ")


def _sabotage(obj, change):
    runner = obj.programs["count"].runner()
    real = runner.jit_engine.run

    def run(*regs):
        result = real(*regs)
        return change(runner, result) or result

    runner.jit_engine.run = run
    return obj.programs["count"]


def test_different_return_value_is_reported(obj_path):
    obj = ebpflite.load(obj_path, engine="both")
    prog = _sabotage(obj, lambda runner, result: type(result)(result.r0 ^ 1, result.insns_executed))
    with pytest.raises(EngineMismatch, match=r"return value: interpreter 0x1 \(XDP_DROP\), JIT 0x0"):
        prog.run(packet=b"\x05\x00" + bytes(30))


def test_different_map_contents_are_reported_by_key(obj_path):
    obj = ebpflite.load(obj_path, engine="both")

    def extra_entry(runner, result):
        obj.maps["seen"][9] = 42

    prog = _sabotage(obj, extra_entry)
    with pytest.raises(EngineMismatch, match=r"contents of map 'seen': key 09000000: interpreter None"):
        prog.run(packet=b"\x05\x00" + bytes(30))


def test_different_trace_output_is_reported(obj_path):
    obj = ebpflite.load(obj_path, engine="both")

    def print_more(runner, result):
        runner.env.trace_output.append("extra")

    prog = _sabotage(obj, print_more)
    with pytest.raises(EngineMismatch, match=r"trace output line 2: interpreter '\(nothing\)', JIT 'extra'"):
        prog.run(packet=b"\x05\x00" + bytes(30))


def test_different_packet_is_reported(obj_path):
    obj = ebpflite.load(obj_path, engine="both")

    def scribble(runner, result):
        memory = runner.env.memory
        md = runner.env.world.ctx.registers()[0]  # xdp_md: u32 data first
        memory.write_bytes(int.from_bytes(memory.read_bytes(md, 4), "little"), b"\xee")

    prog = _sabotage(obj, scribble)
    with pytest.raises(EngineMismatch, match=r"output packet: first at byte 0: interpreter 0x05, JIT 0xee"):
        prog.run(packet=b"\x05\x00" + bytes(30))
