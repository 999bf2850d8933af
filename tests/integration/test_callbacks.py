"""Helpers that call back into the program (bpf_loop, bpf_for_each_map_elem)
run the callback subprogram in a new frame of the same engine run."""

from __future__ import annotations

import pytest

import ebpflite
from ebpflite.pytest_plugin import make_compiler

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} totals SEC(".maps");

struct sum_ctx { __u64 sum; __u64 calls; };

static long add_index(__u32 index, void *data)
{
    struct sum_ctx *c = data;
    c->sum += index;
    c->calls += 1;
    return index == 9;          /* stop after the tenth call */
}

static long add_value(void *map, __u32 *key, __u64 *value, void *data)
{
    struct sum_ctx *c = data;
    c->sum += *value;
    return 0;
}

SEC("xdp")
int loops(struct xdp_md *ctx)
{
    struct sum_ctx c = {0, 0};
    long iterations = bpf_loop(100, add_index, &c, 0);
    __u32 key = 0;
    __u64 *slot = bpf_map_lookup_elem(&totals, &key);
    if (slot)
        *slot = c.sum;              /* 0 + 1 + ... + 9 = 45 */
    struct sum_ctx m = {0, 0};
    bpf_for_each_map_elem(&totals, add_value, &m, 0);
    return (int)(iterations * 1000 + m.sum);   /* 10 loops, then 45 summed over the map */
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj_path(tmp_path_factory, ebpf_cache_dir):
    return make_compiler(ebpf_cache_dir, tmp_path_factory.mktemp("cb"))(SOURCE, name="loops")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_bpf_loop_and_for_each_map_elem_run_callbacks(obj_path, engine):
    obj = ebpflite.load(obj_path, engine=engine, verify=False)
    result = obj.programs["loops"].run(packet=bytes(64))
    assert result.return_value == 10 * 1000 + 45
    assert obj.maps["totals"][0] == 45


def test_callback_counts_against_the_budget(obj_path):
    obj = ebpflite.load(obj_path, engine="interp", verify=False)
    result = obj.programs["loops"].run(packet=bytes(64))
    # the callback's instructions are counted too: far more than the main body alone
    assert result.insns_executed > 100
