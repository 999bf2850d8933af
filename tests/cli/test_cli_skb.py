"""``ebpflite tc``, ``ebpflite socket`` and ``prog run`` on tc and socket programs (the __sk_buff commands)."""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.helpers.pcap import Packet, read_packets, write_pcap
from ebpflite.packets import TCP, UDP, Ether, IPv4, IPv6, decode

TC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u8);
         __type(value, __u32); } verdicts SEC(".maps");
/* the verdict for an IPv4 protocol comes from the map (default OK); passing packets get their TTL - 1 */
SEC("classifier")
int by_protocol(struct __sk_buff *skb)
{
    __u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    if (data + 34 > end || skb->protocol != bpf_htons(0x0800))
        return TC_ACT_UNSPEC;
    __u8 proto = data[23];
    __u32 *verdict = bpf_map_lookup_elem(&verdicts, &proto);
    if (verdict)
        return *verdict;
    data[22] -= 1;
    return TC_ACT_OK;
}
char _license[] SEC("license") = "GPL";
"""

SOCKET = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
/* keep the IP header only for UDP, everything for TCP, nothing else */
SEC("socket")
int trim(struct __sk_buff *skb)
{
    __u8 proto;
    if (bpf_skb_load_bytes(skb, 9, &proto, 1))
        return 0;
    return proto == 17 ? 20 : proto == 6 ? skb->len : 0;
}
char _license[] SEC("license") = "GPL";
"""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ebpflite.loader.cc import compile_c, find_compilers

    if not find_compilers():
        pytest.skip("no eBPF C compiler (pip install ebpflite[cc] or install clang)")
    tmp = tmp_path_factory.mktemp("skbcli")
    objs = {}
    for name, text in (("tc", TC), ("socket", SOCKET)):
        (tmp / f"{name}.c").write_text(text)
        objs[name] = compile_c(tmp / f"{name}.c", tmp / f"{name}.o")
    frames = [bytes(Ether() / IPv4(src="10.0.0.1", ttl=9) / UDP(sport=1, dport=2) / (b"u" * 30)),
              bytes(Ether() / IPv4(src="10.0.0.2", ttl=9) / TCP(dport=22) / (b"t" * 10)),
              bytes(Ether() / IPv6() / UDP()), bytes(12)]
    write_pcap(tmp / "in.pcap", [Packet(f, 1_000_000 * (i + 1)) for i, f in enumerate(frames)])
    return tmp, objs, frames


def test_tc_replays_a_capture_counting_tc_actions(world):
    tmp, objs, frames = world
    res = run("tc", objs["tc"], "--pcap", tmp / "in.pcap", "--out", tmp / "out.pcap", "--map", "verdicts", "6", "2")
    assert res.exit_code == 0, res.output
    for row in ("TC_ACT_OK │ 1", "TC_ACT_SHOT │ 1", "TC_ACT_UNSPEC │ 1", "invalid │ 1"):
        assert row in " ".join(res.output.split()).replace("│ ", "│ "), res.output
    kept = read_packets(tmp / "out.pcap")
    assert len(kept) == 2  # OK and UNSPEC go on; SHOT does not; the 12-byte frame never ran
    assert decode(kept[0].data)[IPv4].ttl == 8 and kept[0].ts_ns == 1_000_000  # rewritten, timestamp kept
    assert kept[1].data == frames[2]


def test_tc_json_has_one_record_per_packet_and_the_errno_text_for_refused_frames(world):
    tmp, objs, _ = world
    res = run("tc", objs["tc"], "--pcap", tmp / "in.pcap", "--json", "--engine", "jit")
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.output.splitlines()]
    assert [r.get("action") for r in records] == ["TC_ACT_OK", "TC_ACT_OK", "TC_ACT_UNSPEC", None]
    assert "12 bytes: an skb test run takes 14 to 3712 bytes" in records[3]["error"]


def test_tc_loads_sections_as_actions_when_asked(world):
    tmp, objs, _ = world
    res = run("tc", objs["tc"], "--pcap", tmp / "in.pcap", "--type", "sched_act", "--engine", "both")
    assert res.exit_code == 0 and "TC_ACT_OK" in res.output, res.output


def test_socket_filters_keep_trim_or_drop(world):
    tmp, objs, frames = world
    res = run("socket", objs["socket"], "--pcap", tmp / "in.pcap", "--out", tmp / "kept.pcap")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for row in ("trimmed │ 1", "kept │ 1", "dropped │ 1", "invalid │ 1"):
        assert row in text, res.output
    kept = [p.data for p in read_packets(tmp / "kept.pcap")]
    assert kept == [frames[0][:14 + 20], frames[1]]  # the Ethernet header and the bytes kept
    res = run("socket", objs["socket"], "--pcap", tmp / "in.pcap", "--json")
    records = [json.loads(line) for line in res.output.splitlines()]
    assert [(r.get("action"), r.get("length")) for r in records[:3]] == \
        [("trimmed", 34), ("kept", len(frames[1])), ("dropped", 0)]


def test_prog_run_takes_data_in_and_ctx_in_as_bpftool_does(world):
    tmp, objs, frames = world
    (tmp / "frame.bin").write_bytes(frames[0])
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 8, 0x77)  # mark
    (tmp / "ctx.bin").write_bytes(bytes(ctx))
    res = run("prog", "run", objs["tc"], "--data-in", tmp / "frame.bin", "--data-out", tmp / "out.bin",
              "--ctx-in", tmp / "ctx.bin", "--ctx-out", tmp / "ctxout.bin")
    assert res.exit_code == 0 and res.output.startswith("Return value: 0, duration: "), res.output
    assert decode((tmp / "out.bin").read_bytes())[IPv4].ttl == 8
    out = (tmp / "ctxout.bin").read_bytes()
    assert struct.unpack_from("<I", out, 8)[0] == 0x77 and struct.unpack_from("<I", out, 160)[0] == len(frames[0])
    res = run("prog", "run", objs["tc"], "--data-in", tmp / "frame.bin", "--ctx-out", tmp / "ctxout2.bin")
    assert res.exit_code == 0, res.output  # ctx_out alone: the kernel starts from a zeroed __sk_buff
    assert struct.unpack_from("<I", (tmp / "ctxout2.bin").read_bytes(), 160)[0] == len(frames[0])


@pytest.mark.parametrize("data, ctx, message", [
    (bytes(13), None, "failed to run program: Invalid argument: data_in of 13 bytes"),
    (None, struct.pack("<44xI144x", 1), "failed to run program: Invalid argument: ctx_in sets field tc_index"),
    (None, struct.pack("<40xI148x", 77), "failed to run program: No such device: ctx_in.ifindex 77"),
    (None, bytes(5000), "failed to run program: Argument list too long: ctx_in of 5000 bytes"),
], ids=["short-frame", "tc_index-set", "no-device", "ctx-too-big"])
def test_prog_run_refuses_what_the_kernel_refuses_with_its_error(world, data, ctx, message):
    tmp, objs, frames = world
    (tmp / "d.bin").write_bytes(data if data is not None else frames[0])
    args = ["prog", "run", objs["tc"], "--data-in", tmp / "d.bin"]
    if ctx is not None:
        (tmp / "c.bin").write_bytes(ctx)
        args += ["--ctx-in", tmp / "c.bin"]
    res = run(*args)
    assert res.exit_code == 1 and message in res.output, res.output
    assert "Traceback" not in res.output
