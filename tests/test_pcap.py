"""Capture files (helpers/pcap.py): pcap in both byte orders and resolutions,
pcapng with several interfaces and sections, bad files, and batch packing.

Reader tests assemble their files here with struct, independently of our
writers; the writers are then checked by reading back.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ebpflite.errors import PcapError
from ebpflite.helpers.pcap import (
    Packet,
    iter_packets,
    pack,
    read_packets,
    write_pcap,
    write_pcapng,
)
from ebpflite.packets import TCP, UDP, Ether, IPv4, IPv6

FRAMES = [bytes(Ether() / IPv4(id=i) / UDP(dport=1000 + i) / bytes(i)) for i in range(5)]


def pcap_bytes(order: str, nanosecond: bool, records: list[tuple[int, int, bytes, int]],
               linktype: int = 1, version: tuple[int, int] = (2, 4)) -> bytes:
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, *version, 0, 0, 65535, linktype)
    for sec, frac, data, orig in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), orig) + data
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_reads_pcap_in_either_byte_order_and_resolution(order, nanosecond):
    records = [(1_700_000_000 + i, 123 + i, FRAMES[i], len(FRAMES[i]) + i) for i in range(5)]
    packets = read_packets(pcap_bytes(order, nanosecond, records))
    assert [p.data for p in packets] == FRAMES
    scale = 1 if nanosecond else 1000
    assert [p.ts_ns for p in packets] == [(1_700_000_000 + i) * 10**9 + (123 + i) * scale for i in range(5)]
    assert [p.orig_len for p in packets] == [len(FRAMES[i]) + i for i in range(5)]
    assert packets[2].ts == pytest.approx(1_700_000_002 + 125 * scale / 1e9)
    assert all(p.linktype == 1 for p in packets)


def test_reads_from_a_file(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes("<", False, [(1, 2, FRAMES[0], len(FRAMES[0]))]))
    assert [p.data for p in iter_packets(path)] == [FRAMES[0]]
    assert read_packets(str(path))[0].data == FRAMES[0]


def test_header_only_pcap_has_no_packets():
    assert read_packets(pcap_bytes("<", False, [])) == []


# --- pcapng, assembled by hand -----------------------------------------------------------


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(order + "II", btype, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
                 + option(order, 4, b"ebpflite test") + option(order, 0, b""))


def idb(order: str, linktype: int = 1, snaplen: int = 0, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = option(order, 2, b"eth0")
    if tsresol is not None:
        opts += option(order, 9, bytes([tsresol]))
    if tsoffset:
        opts += option(order, 14, struct.pack(order + "q", tsoffset))
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts + option(order, 0, b""))


def epb(order: str, iface: int, ts: int, data: bytes, orig: int | None = None) -> bytes:
    body = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig or len(data))
    body += data + b"\x00" * (-len(data) % 4) + option(order, 1, b"a comment") + option(order, 0, b"")
    return block(order, 6, body)


def spb(order: str, data: bytes) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data)) + data)


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_block_kinds(order):
    capture = (shb(order)
               + idb(order)                                    # interface 0: microseconds (default)
               + idb(order, tsresol=9)                          # interface 1: nanoseconds
               + idb(order, tsresol=0x80 | 10, tsoffset=100)    # interface 2: 2^-10 s, +100 s offset
               + block(order, 4, b"\x00\x00\x00\x00")          # name resolution block: skipped
               + epb(order, 0, 1_500_000, FRAMES[0])
               + epb(order, 1, 2_000_000_007, FRAMES[1], orig=999)
               + epb(order, 2, 2048, FRAMES[2])
               + spb(order, FRAMES[3])
               + block(order, 0x40000BAD, b"custom block")     # custom block: skipped
               + block(order, 5, bytes(20)))                    # interface statistics: skipped
    packets = read_packets(capture)
    assert [p.data for p in packets] == FRAMES[:4]
    assert [p.interface for p in packets] == [0, 1, 2, 0]
    assert [p.ts_ns for p in packets] == [1_500_000_000, 2_000_000_007, 102_000_000_000, 0]
    assert packets[1].orig_len == 999


def test_pcapng_sections_may_change_byte_order_and_reset_interfaces():
    capture = (shb("<") + idb("<") + epb("<", 0, 1, FRAMES[0])
               + shb(">") + idb(">", tsresol=3) + epb(">", 0, 5, FRAMES[1]))
    packets = read_packets(capture)
    assert [(p.data, p.ts_ns) for p in packets] == [(FRAMES[0], 1000), (FRAMES[1], 5_000_000)]


def test_pcapng_obsolete_packet_block_and_simple_block_snaplen():
    opb = block("<", 2, struct.pack("<HHIIII", 0, 0, 0, 7, len(FRAMES[4]), len(FRAMES[4])) + FRAMES[4])
    capture = shb("<") + idb("<", snaplen=20) + opb + spb("<", FRAMES[4])
    packets = read_packets(capture)
    assert packets[0].data == FRAMES[4] and packets[0].ts_ns == 7000
    assert packets[1].data == FRAMES[4][:20] and packets[1].orig_len == len(FRAMES[4])


# --- writers ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_write_pcap_round_trips(tmp_path, order, nanosecond):
    packets = [Packet(f, ts_ns=1_700_000_000_123_456_789 + i, orig_len=len(f) + 4) for i, f in enumerate(FRAMES)]
    path = tmp_path / "out.pcap"
    assert write_pcap(path, packets, nanosecond=nanosecond, byteorder=order) == 5
    raw = path.read_bytes()
    assert raw[:4] == struct.pack(order + "I", 0xA1B23C4D if nanosecond else 0xA1B2C3D4)
    back = read_packets(path)
    assert [p.data for p in back] == FRAMES and [p.orig_len for p in back] == [len(f) + 4 for f in FRAMES]
    expect = [p.ts_ns if nanosecond else p.ts_ns // 1000 * 1000 for p in packets]
    assert [p.ts_ns for p in back] == expect


def test_write_pcap_accepts_frames_and_bytes(tmp_path):
    path = tmp_path / "mixed.pcap"
    write_pcap(path, [Ether() / IPv6() / TCP(), FRAMES[0]])
    assert [p.data for p in read_packets(path)] == [bytes(Ether() / IPv6() / TCP()), FRAMES[0]]


def test_write_pcapng_round_trips_with_interfaces(tmp_path):
    packets = [Packet(f, ts_ns=10**18 + i, interface=i % 2) for i, f in enumerate(FRAMES)]
    path = tmp_path / "out.pcapng"
    assert write_pcapng(path, packets, byteorder=">") == 5
    back = read_packets(path)
    assert [(p.data, p.ts_ns, p.interface) for p in back] == [(p.data, p.ts_ns, p.interface) for p in packets]


def test_many_packets(tmp_path):
    frames = [Packet(bytes(Ether() / IPv4() / UDP() / bytes(i % 64)), ts_ns=i) for i in range(20_000)]
    path = tmp_path / "big.pcap"
    write_pcap(path, frames, nanosecond=True)
    back = read_packets(path)
    assert len(back) == 20_000 and back[-1].data == frames[-1].data and back[-1].ts_ns == 19_999


# --- link types and bad files ---------------------------------------------------------------


def test_non_ethernet_pcap_is_refused_by_name():
    capture = pcap_bytes("<", False, [(0, 0, b"\x45" + bytes(19), 20)], linktype=113)
    with pytest.raises(PcapError, match=r"link type 113 \(LINUX_SLL \(Linux cooked capture\)\) is not Ethernet"):
        read_packets(capture)
    assert read_packets(capture, ethernet_only=False)[0].linktype == 113


def test_non_ethernet_pcapng_interface_is_refused_when_used():
    capture = shb("<") + idb("<") + idb("<", linktype=101) + epb("<", 0, 0, FRAMES[0]) + epb("<", 1, 0, b"E")
    packets = iter_packets(capture)
    assert next(packets).data == FRAMES[0]
    with pytest.raises(PcapError, match=r"link type 101 \(RAW \(IP\)\) is not Ethernet"):
        next(packets)


def test_fcs_bits_in_the_pcap_link_type_are_ignored():
    capture = pcap_bytes("<", False, [(0, 0, FRAMES[0], len(FRAMES[0]))], linktype=1 | 0x10000000)
    assert read_packets(capture)[0].linktype == 1


GOOD_PCAP = pcap_bytes("<", False, [(0, 0, FRAMES[0], len(FRAMES[0])), (0, 0, FRAMES[1], len(FRAMES[1]))])
GOOD_NG = shb("<") + idb("<") + epb("<", 0, 0, FRAMES[0])


@pytest.mark.parametrize("data, message", [
    (b"", "not a capture: the file is 0 bytes long"),
    (b"GIF89a....", r"offset 0 \(0x0\): not a pcap or pcapng file \(magic bytes 47 49 46 38\)"),
    (GOOD_PCAP[:20], "truncated pcap file header: 24 bytes needed, 20 present"),
    (pcap_bytes("<", False, [], version=(3, 0)), "unsupported pcap version 3.0"),
    (GOOD_PCAP[:24 + 10], r"offset 24 \(0x18\): truncated record header of packet 0: 16 bytes needed, 10 remain"),
    (GOOD_PCAP[:-5], rf"offset {24 + 16 + len(FRAMES[0])} .*: truncated packet 1: its record says "
                     rf"{len(FRAMES[1])} bytes, {len(FRAMES[1]) - 5} remain"),
    (GOOD_NG[:-3], r"truncated block of type 0x6: it says \d+ bytes, \d+ remain"),
    (GOOD_NG + b"\x06\x00\x00\x00", "truncated block header: 12 bytes needed, 4 remain"),
    (shb("<") + struct.pack("<II", 1, 13) + bytes(8), "block of type 0x1 has an invalid length 13"),
    (shb("<")[:8] + b"\x01\x02\x03\x04" + shb("<")[12:], r"offset 8 \(0x8\): section header with an invalid "
                                                         r"byte-order magic \(01 02 03 04\)"),
    (shb("<")[:-4] + struct.pack("<I", 999), "ends with length 999, but starts with"),
    (shb("<") + epb("<", 0, 0, FRAMES[0]), "packet 0 refers to interface 0, but the section describes 0"),
    (shb("<") + idb("<") + block("<", 6, struct.pack("<IIIII", 0, 0, 0, 500, 500) + bytes(8)),
     "truncated packet 0: its block says 500 captured bytes, the block holds 8"),
    (shb("<") + idb("<") + block("<", 6, bytes(8)), r"packet block \(packet 0\) is too short"),
    (shb("<") + block("<", 1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 2, 40) + b"eth0"),
     "option 2 of 40 bytes runs past the end of its block"),
])
def test_bad_captures_raise_pcap_error_naming_the_offset(data, message):
    with pytest.raises(PcapError, match=message):
        read_packets(data)


def test_missing_file(tmp_path):
    with pytest.raises(PcapError, match=r"nope.pcap: cannot read the capture: No such file"):
        read_packets(tmp_path / "nope.pcap")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "cut.pcap"
    path.write_bytes(GOOD_PCAP[:-5])
    with pytest.raises(PcapError, match=r"cut.pcap: offset \d+"):
        read_packets(path)


def test_bad_writer_arguments(tmp_path):
    with pytest.raises(PcapError, match="byteorder must be '<' or '>', not 'big'"):
        write_pcap(tmp_path / "x.pcap", [], byteorder="big")
    with pytest.raises(PcapError, match="byteorder must be"):
        write_pcapng(tmp_path / "x.pcapng", [], byteorder="little")


# --- packing for batch runs ------------------------------------------------------------------


def test_pack_lays_packets_out_with_headroom_and_alignment():
    packets = [Packet(f) for f in FRAMES]
    buf, offsets, lengths = pack(packets, headroom=256, align=64)
    assert buf.dtype == np.uint8 and offsets.dtype == np.int64 and lengths.dtype == np.int64
    assert lengths.tolist() == [len(f) for f in FRAMES]
    assert all((o - 256) % 64 == 0 for o in offsets.tolist())
    for f, o, n in zip(FRAMES, offsets.tolist(), lengths.tolist(), strict=True):
        assert bytes(buf[o:o + n]) == f and not buf[o - 256:o].any()
    assert len(buf) == offsets[-1] + lengths[-1] + (-(256 + lengths[-1]) % 64)


def test_pack_without_headroom_is_contiguous():
    buf, offsets, lengths = pack(FRAMES)
    assert bytes(buf) == b"".join(FRAMES)
    assert offsets.tolist() == np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
    empty = pack([])
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_pack_rejects_bad_layout():
    with pytest.raises(PcapError, match=r"headroom must be >= 0 and align >= 1 \(got -1, 1\)"):
        pack(FRAMES, headroom=-1)


def test_bundled_sample_capture_matches_its_generator(tmp_path):
    """examples/data/sample.pcap is exactly what make_sample_pcap.py writes (so it cannot go stale)."""
    import importlib.util
    from pathlib import Path

    data_dir = Path(__file__).resolve().parents[1] / "examples" / "data"
    spec = importlib.util.spec_from_file_location("make_sample_pcap", data_dir / "make_sample_pcap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = tmp_path / "sample.pcap"
    write_pcap(fresh, module.make_sample())
    assert fresh.read_bytes() == (data_dir / "sample.pcap").read_bytes()
    packets = read_packets(data_dir / "sample.pcap")
    assert len(packets) == 3000
    from ebpflite.packets import ARP, ICMP, Dot1AD, Dot1Q, ICMPv6, checksum_errors, decode

    decoded = [decode(p.data) for p in packets[:500]]
    kinds = {cls for frame in decoded for cls in (ARP, ICMP, Dot1AD, Dot1Q, ICMPv6, IPv6, TCP, UDP) if cls in frame}
    assert kinds == {ARP, ICMP, Dot1AD, Dot1Q, ICMPv6, IPv6, TCP, UDP}
    assert all(checksum_errors(frame) == [] for frame in decoded)
