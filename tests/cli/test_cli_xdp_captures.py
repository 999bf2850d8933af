"""``ebpflite xdp`` on captures of every kind, good and bad: streamed, never a traceback.

Bad captures end in one clear line naming the file, the byte offset and the
packet (a corrupt record, a link type other than Ethernet, a file that is no
capture), or, for a last record cut short, a warning and a ``skipped`` row
in the summary while the packets before it are replayed.
"""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.helpers.pcap import Packet, write_pcap, write_pcapng

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int split(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 15 > end)
        return XDP_ABORTED;
    if (data[14] & 1)
        return bpf_redirect(data[14], 0);
    if (bpf_xdp_adjust_head(ctx, -4))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    end = (void *)(long)ctx->data_end;
    if (data + 4 > end)
        return XDP_ABORTED;
    __builtin_memcpy(data, "TAG!", 4);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

FRAMES = [bytes(14) + bytes([k]) + bytes(k) for k in range(12)]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def flat(text: str) -> str:
    """The output with runs of white space as one space (rich wraps titles to the terminal)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    src = tmp_path_factory.mktemp("caps") / "split.c"
    src.write_text(SOURCE)
    try:
        return compile_c(src)
    except CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def pcap(tmp_path, frames=FRAMES, name="in.pcap"):
    path = tmp_path / name
    write_pcap(path, [Packet(f, ts_ns=1000 * i) for i, f in enumerate(frames)])
    return path


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_redirect_targets_and_rewrites_are_reported(obj, tmp_path, engine):
    out = tmp_path / "out.pcap"
    result = run("xdp", obj, "--pcap", pcap(tmp_path), "--engine", engine, "--out", out)
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "XDP_REDIRECT │ 6" in text and "XDP_PASS │ 6" in text
    assert "redirect targets" in text and "ifindex 11 │ 1" in text
    assert "wrote 6 packets to" in text
    assert out.read_bytes()[24 + 16:24 + 16 + 4] == b"TAG!"


def test_pcapng_captures_replay_too(obj, tmp_path):
    path = tmp_path / "in.pcapng"
    write_pcapng(path, [Packet(f, ts_ns=i) for i, f in enumerate(FRAMES)])
    result = run("xdp", obj, "--pcap", path, "--engine", "jit")
    assert result.exit_code == 0 and "12 packets (batch mode" in flat(result.output)


def test_a_last_record_cut_short_is_skipped_with_a_warning(obj, tmp_path):
    path = pcap(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    offset = len(data) - 16 - len(FRAMES[-1])
    result = run("xdp", obj, "--pcap", path, "--engine", "jit")
    assert result.exit_code == 0, result.output
    assert "11 packets" in flat(result.output) and "skipped (truncated record) │ 1" in flat(result.output)
    assert f"warning: {path}: offset {offset}: truncated record of packet 11: it says 42 bytes, 39 remain " \
           "(skipped)" in result.stderr


@pytest.mark.parametrize("damage, message", [
    ("corrupt", "offset {at} (0x{at:x}): corrupt record of packet 3: it says 2147483647 captured bytes"),
    ("linktype", r"offset 20 (0x14): link type 113 (LINUX_SLL (Linux cooked capture)) is not Ethernet"),
    ("empty_file", "not a capture: the file is 0 bytes long"),
    ("not_a_capture", "offset 0 (0x0): not a pcap or pcapng file (magic bytes 47 49 46 38)"),
])
@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_bad_captures_give_one_clear_error(obj, tmp_path, damage, message, engine):
    path = pcap(tmp_path)
    data = bytearray(path.read_bytes())
    at = 24 + sum(16 + len(f) for f in FRAMES[:3])
    if damage == "corrupt":
        struct.pack_into("<I", data, at + 8, 0x7FFFFFFF)
    elif damage == "linktype":
        struct.pack_into("<I", data, 20, 113)
    elif damage == "empty_file":
        data = bytearray()
    else:
        data[:10] = b"GIF89a...."
    path.write_bytes(bytes(data))
    result = run("xdp", obj, "--pcap", path, "--engine", engine)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert f"Error: {path}: " + message.format(at=at) in flat(result.output)


def test_a_capture_without_packets_replays_nothing(obj, tmp_path):
    result = run("xdp", obj, "--pcap", pcap(tmp_path, frames=[]), "--engine", "jit")
    assert result.exit_code == 0 and "0 packets" in flat(result.output)


def test_json_records_stream_from_the_batch_loop(obj, tmp_path):
    path = pcap(tmp_path, frames=FRAMES + [bytes(5)])
    lines = {}
    for engine in ("jit", "interp"):
        result = run("xdp", obj, "--pcap", path, "--engine", engine, "--json")
        assert result.exit_code == 0, result.output
        lines[engine] = [json.loads(line) for line in result.output.splitlines()]
    for record in lines["interp"]:
        record.pop("insns", None)  # the interpreter counts instructions, unchecked native code does not
    for record in lines["jit"]:
        record.pop("insns", None)
    assert lines["jit"] == lines["interp"] and len(lines["jit"]) == 13
    assert lines["jit"][1]["redirect"] == {"ifindex": 1, "flags": 0}
    assert lines["jit"][-1]["error"].startswith("packet of 5 bytes is shorter than an Ethernet header")
