"""``--engine interp|jit|both`` on ``prog run`` and ``xdp`` (the JIT replays captures in batch mode)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.errors import EngineMismatch
from ebpflite.helpers.pcap import Packet, read_packets, write_pcap
from ebpflite.jit.compiler import JitProgram
from ebpflite.pytest_plugin import make_compiler

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __type(value, __u64); } hits SEC(".maps");
SEC("xdp")
int firewall(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 15 > end)
        return XDP_ABORTED;
    __u32 key = data[14] & 3;
    __u64 *n = bpf_map_lookup_elem(&hits, &key);
    if (n)
        *n += 1;
    data[0] ^= 0xff;                                   /* a rewrite the output capture must show */
    if (key == 3)
        return XDP_DROP;
    return key == 2 ? XDP_TX : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory, ebpf_cache_dir):
    tmp = tmp_path_factory.mktemp("engines")
    obj = make_compiler(ebpf_cache_dir, tmp)(SOURCE, name="fw")  # skips without a compiler
    packets = [Packet(bytes([i & 0xff]) + bytes(13) + bytes([i * 7 & 0xff]) + bytes(20), ts_ns=i * 1000)
               for i in range(40)] + [Packet(bytes(10), ts_ns=99)]  # the last is too short: invalid
    pcap = tmp / "in.pcap"
    write_pcap(pcap, packets)
    return obj, pcap, tmp


@pytest.mark.parametrize("engine", ["jit", "both"])
def test_xdp_engines_agree_with_the_interpreter(world, engine):
    obj, pcap, tmp = world
    reference = run("xdp", obj, "--pcap", pcap, "--out", tmp / "interp.pcap", "--engine", "interp")
    other = run("xdp", obj, "--pcap", pcap, "--out", tmp / f"{engine}.pcap", "--engine", engine)
    assert reference.exit_code == 0 and other.exit_code == 0, other.output
    rows = [line for line in reference.output.splitlines() if "XDP_" in line or "invalid" in line]
    assert rows and all(row in other.output for row in rows)  # same actions with the same counts
    assert ("batch mode" in other.output) == (engine == "jit")
    ours = [(p.data, p.ts_ns) for p in read_packets(tmp / f"{engine}.pcap")]
    assert ours == [(p.data, p.ts_ns) for p in read_packets(tmp / "interp.pcap")]
    assert ours and ours[0][0][0] == 0xff  # rewritten


def test_xdp_json_with_the_jit_runs_per_packet(world):
    obj, pcap, _ = world
    result = run("xdp", obj, "--pcap", pcap, "--engine", "jit", "--json")
    assert result.exit_code == 0 and result.output.count('"index"') == 41


@pytest.mark.parametrize("engine", ["interp", "jit", "both"])
def test_prog_run_with_each_engine(world, engine, tmp_path: Path):
    obj, _, _ = world
    data = tmp_path / "pkt.bin"
    data.write_bytes(bytes(14) + b"\x03" + bytes(20))
    result = run("prog", "run", obj, "--data-in", data, "--engine", engine)
    assert result.exit_code == 0, result.output
    assert "Return value: 1," in result.output  # XDP_DROP


def test_prog_run_both_reports_a_disagreement(world, tmp_path: Path, monkeypatch):
    obj, _, _ = world
    data = tmp_path / "pkt.bin"
    data.write_bytes(bytes(14) + b"\x03" + bytes(20))
    real = JitProgram.run
    monkeypatch.setattr(JitProgram, "run", lambda self, *regs: type(r := real(self, *regs))(r.r0 + 1))
    result = run("prog", "run", obj, "--data-in", data, "--engine", "both")
    assert isinstance(result.exception, EngineMismatch)
    assert "return value: interpreter 0x1 (XDP_DROP), JIT 0x2 (XDP_PASS)" in str(result.exception)
