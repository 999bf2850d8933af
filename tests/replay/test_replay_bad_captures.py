"""Bad captures through the one replay path, with both engines, and through ``ebpflite bench --pcap``.

The issue's cases: a truncated record, a corrupt record, a link type other
than Ethernet, an empty capture. Each ends in a :class:`PcapError` naming the
file, the packet and its byte offset, or in a skip the replay counts (the
packets before it replayed); frames the XDP context refuses count as
``invalid``. Nothing else escapes (tests/test_pcap_stream.py fuzzes the
reader itself; tests/cli/test_cli_xdp_captures.py covers ``ebpflite xdp``).
"""

from __future__ import annotations

import struct

import pytest
from click.testing import CliRunner

from ebpflite.api import load
from ebpflite.cli import cli
from ebpflite.errors import PcapError
from ebpflite.helpers.pcap import Packet, write_pcap, write_pcapng

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int by_length(struct xdp_md *ctx)
{
    return ctx->data_end - ctx->data > 40 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

FRAMES = [bytes(14 + 10 * k) for k in range(8)]  # 14..84 bytes: four pass, four drop
#: offset of packet 3's record in the capture written by :func:`capture`
AT3 = 24 + sum(16 + len(f) for f in FRAMES[:3])


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    src = tmp_path_factory.mktemp("bad") / "by_length.c"
    src.write_text(SOURCE)
    try:
        return compile_c(src)
    except CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


def capture(tmp_path, frames=FRAMES, name="in.pcap"):
    path = tmp_path / name
    write_pcap(path, [Packet(f, ts_ns=1000 * i) for i, f in enumerate(frames)])
    return path


def replay(obj, path, engine):
    handle = next(iter(load(obj, engine=engine).programs.values()))
    return handle.replayer(engine).run(path, keep=False)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_a_good_capture_and_refused_frames(obj, tmp_path, engine):
    result = replay(obj, capture(tmp_path, FRAMES + [bytes(5)]), engine)
    assert result.mode == ("batch" if engine == "jit" else "per-packet")
    assert dict(result.counts) == {"XDP_PASS": 3, "XDP_DROP": 5, "invalid": 1}


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_a_corrupt_record_stops_the_replay_naming_packet_and_offset(obj, tmp_path, engine):
    path = capture(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, AT3 + 8, 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    with pytest.raises(PcapError, match=rf"{path}: offset {AT3} \(0x{AT3:x}\): corrupt record of packet 3: it says "
                                        r"2147483647 captured bytes"):
        replay(obj, path, engine)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_a_last_record_cut_short_is_skipped_and_counted(obj, tmp_path, engine):
    path = capture(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])
    result = replay(obj, path, engine)
    assert result.packets == 7 and sum(result.counts.values()) == 7
    assert result.skipped == {"truncated record": 1}
    at = path.stat().st_size + 5 - 16 - len(FRAMES[-1])
    assert result.warnings == [f"{path}: offset {at}: truncated record of packet 7: it says "
                               f"{16 + len(FRAMES[-1])} bytes, {16 + len(FRAMES[-1]) - 5} remain (skipped)"]


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_a_non_ethernet_link_type_is_refused_by_name(obj, tmp_path, engine):
    path = capture(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 20, 101)
    path.write_bytes(bytes(data))
    with pytest.raises(PcapError, match=r"offset 20 \(0x14\): link type 101 \(RAW \(IP\)\) is not Ethernet"):
        replay(obj, path, engine)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_packets_of_a_non_ethernet_pcapng_interface_are_skipped_and_counted(obj, tmp_path, engine):
    path = tmp_path / "mixed.pcapng"
    write_pcapng(path, [Packet(FRAMES[0]), Packet(b"E" + bytes(19), linktype=101, interface=1), Packet(FRAMES[7])])
    result = replay(obj, path, engine)
    assert dict(result.counts) == {"XDP_PASS": 1, "XDP_DROP": 1}
    assert result.skipped == {"non-Ethernet interface": 1}


@pytest.mark.parametrize("engine", ["jit", "interp"])
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_an_empty_capture_replays_nothing(obj, tmp_path, engine, kind):
    path = tmp_path / f"empty.{kind}"
    (write_pcap if kind == "pcap" else write_pcapng)(path, [])
    result = replay(obj, path, engine)
    assert result.packets == 0 and not result.counts and not result.skipped


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_a_zero_byte_file_is_no_capture(obj, tmp_path, engine):
    path = tmp_path / "zero.pcap"
    path.write_bytes(b"")
    with pytest.raises(PcapError, match=rf"{path}: not a capture: the file is 0 bytes long"):
        replay(obj, path, engine)


def test_bench_pcap_names_the_bad_record_without_a_traceback(obj, tmp_path):
    path = capture(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, AT3 + 8, 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["bench", str(obj), "--pcap", str(path), "-n", "2", "--engine", "jit"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"offset {AT3} (0x{AT3:x}): corrupt record of packet 3" in " ".join(result.output.split())


def test_bench_pcap_on_an_empty_capture_says_so(obj, tmp_path):
    path = capture(tmp_path, frames=[])
    result = CliRunner().invoke(cli, ["bench", str(obj), "--pcap", str(path), "-n", "2", "--engine", "jit"])
    assert result.exit_code == 2 and "holds no packets" in result.output
