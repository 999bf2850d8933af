"""The runtime joins loader, maps and engines: map-in-map initialisers,
BTF-typed map values and instruction traces through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

import ebpflite
from ebpflite.loader.cc import compile_c
from ebpflite.pytest_plugin import make_compiler

LOADER_CORPUS = Path(__file__).resolve().parents[1] / "loader" / "c"


@pytest.fixture(scope="module")
def maps_object(tmp_path_factory, ebpf_cache_dir):
    out = tmp_path_factory.mktemp("maps") / "maps_btf.o"
    try:
        return compile_c(LOADER_CORPUS / "maps_btf.c", out, cache_dir=ebpf_cache_dir / "cc")
    except ebpflite.CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def test_map_in_map_slots_hold_the_maps_the_object_names(maps_object):
    obj = ebpflite.load(maps_object, verify=False)
    outer = obj.maps["outer"]
    # the initialiser `.values = { [0] = &inner1, [2] = &inner2 }` fills those slots with live maps
    assert len(outer) == 2
    assert outer.lookup_address((0).to_bytes(4, "little")) == obj.maps["inner1"].address
    assert outer.lookup_address((1).to_bytes(4, "little")) == 0
    assert outer.lookup_address((2).to_bytes(4, "little")) == obj.maps["inner2"].address


XDP_COUNTER = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int two_paths(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 20 > end)
        return XDP_DROP;
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def xdp_object(tmp_path_factory, ebpf_cache_dir):
    return make_compiler(ebpf_cache_dir, tmp_path_factory.mktemp("xdp"))(XDP_COUNTER, name="two_paths")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_trace_records_every_executed_instruction(xdp_object, engine):
    prog = ebpflite.load(xdp_object, engine=engine).programs["two_paths"]
    short = prog.run(packet=bytes(14), trace=True)
    long = prog.run(packet=bytes(64), trace=True)
    assert short.action == "XDP_DROP" and long.action == "XDP_PASS"
    for result in (short, long):
        assert result.trace is not None
        assert len(result.trace) == result.insns_executed
        assert result.trace[-1].insn.spec.name == "exit"
        assert result.trace[-1].changed == {}
    plain = prog.run(packet=bytes(64))
    assert plain.trace is None
