"""The streaming capture reader (helpers/pcap.py ``CaptureStream``, helpers/pcapscan.py walkers).

The per-packet reader (``iter_packets``) is the reference: every capture here
is streamed with chunk sizes from one packet up and must give exactly its
packets (bytes, timestamps, wire lengths, interfaces). Bad input gives a
PcapError naming the packet and the offset, or a counted skip.
"""

from __future__ import annotations

import io
import struct

import pytest
from test_pcap import FRAMES, block, epb, idb, pcap_bytes, shb, spb

from ebpflite.errors import PcapError
from ebpflite.helpers.pcap import CaptureStream, Packet, iter_packets, write_pcap, write_pcapng
from ebpflite.packets import UDP, Ether, IPv4

#: (chunk_bytes, chunk_packets): tiny buffers force records across chunk boundaries
CHUNKINGS = [(64, 1), (100, 2), (257, 3), (4096, 7), (1 << 20, 1 << 15)]


def streamed(source, **options) -> list[Packet]:
    with CaptureStream(source, **options) as stream:
        return [p for chunk in stream for p in chunk.packets()]


def same(a: list[Packet], b: list[Packet]) -> None:
    assert [(bytes(p.data), p.ts_ns, p.orig_len, p.interface) for p in a] == \
           [(bytes(p.data), p.ts_ns, p.orig_len, p.interface) for p in b]


def varied_frames(n: int) -> list[bytes]:
    return [bytes(Ether() / IPv4(id=i) / UDP(dport=i % 1000) / bytes(i * 37 % 1400)) for i in range(n)]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_pcap_streams_exactly_what_the_reader_reads(order, nanosecond, chunking):
    frames = varied_frames(40)
    records = [(1_700_000_000 + i, 999_999 - i, f, len(f) + (i % 3)) for i, f in enumerate(frames)]
    capture = pcap_bytes(order, nanosecond, records)
    got = streamed(capture, chunk_bytes=chunking[0], chunk_packets=chunking[1])
    same(got, list(iter_packets(capture)))
    assert len(got) == 40


def test_snaplen_cut_records_keep_their_wire_length():
    frame = varied_frames(3)[2]
    capture = pcap_bytes("<", False, [(1, 2, frame[:60], len(frame))])
    (packet,) = streamed(capture)
    assert packet.data == frame[:60] and packet.orig_len == len(frame)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_pcapng_streams_exactly_what_the_reader_reads(order, chunking):
    opb = block(order, 2, struct.pack(order + "HHIIII", 1, 0, 0, 7, len(FRAMES[4]), len(FRAMES[4])) + FRAMES[4])
    capture = (shb(order) + idb(order) + idb(order, tsresol=9) + idb(order, tsresol=0x80 | 10, tsoffset=100)
               + idb(order, snaplen=20)
               + block(order, 4, b"\x00\x00\x00\x00")
               + epb(order, 0, 1_500_000, FRAMES[0]) + epb(order, 1, 2_000_000_007, FRAMES[1], orig=999)
               + epb(order, 2, 2048, FRAMES[2]) + spb(order, FRAMES[3]) + opb
               + block(order, 0x40000BAD, b"custom block") + block(order, 5, bytes(20))
               + shb(order) + idb(order, tsresol=3, tsoffset=-5) + spb(order, FRAMES[4])
               + epb(order, 0, 12_345, FRAMES[0]))
    got = streamed(capture, chunk_bytes=chunking[0], chunk_packets=chunking[1])
    same(got, list(iter_packets(capture)))
    assert [p.ts_ns for p in got] == [1_500_000_000, 2_000_000_007, 102_000_000_000, 0, 7, 0, 7_345_000_000]


def test_written_captures_round_trip_through_the_stream(tmp_path):
    packets = [Packet(f, ts_ns=1_700_000_000_123_456_789 + 1000 * i, interface=i % 2)
               for i, f in enumerate(varied_frames(300))]
    for name, write in (("a.pcap", write_pcap), ("b.pcapng", write_pcapng)):
        path = tmp_path / name
        write(path, packets)
        same(streamed(path, chunk_bytes=3000), list(iter_packets(path)))


def test_chunks_are_arrays_over_one_buffer_and_memory_stays_bounded(tmp_path):
    path = tmp_path / "many.pcap"
    frames = varied_frames(2000)  # ~1.4 MB
    write_pcap(path, frames, nanosecond=True)
    stream = CaptureStream(path, chunk_bytes=64 << 10, chunk_packets=500)
    sizes, firsts = [], []
    for chunk in stream:
        sizes.append(len(chunk))
        firsts.append(chunk.first_index)
        assert chunk.buf is stream._buf and len(chunk.buf) == 64 << 10
        i = len(chunk) - 1
        assert chunk.data(i) == frames[chunk.first_index + i]
        assert chunk.record_offset(0) >= 24
    assert sum(sizes) == 2000 and max(sizes) <= 500 and firsts == sorted(firsts)
    assert stream.packets == 2000 and stream.skipped == {}


def test_a_record_larger_than_the_chunk_grows_the_buffer_once():
    big = bytes(Ether() / IPv4() / UDP() / bytes(9000))
    capture = pcap_bytes("<", False, [(0, 0, FRAMES[0], 0), (0, 0, big, 0), (0, 0, FRAMES[1], 0)])
    assert [p.data for p in streamed(capture, chunk_bytes=1024)] == [FRAMES[0], big, FRAMES[1]]


def test_file_objects_and_pipes_stream_front_to_back():
    capture = pcap_bytes("<", True, [(i, i, f, len(f)) for i, f in enumerate(FRAMES)])

    class Pipe(io.RawIOBase):  # gives at most 7 bytes per read, like a slow pipe
        def __init__(self, data: bytes):
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self.data.read(min(7, len(b)))
            b[:len(chunk)] = chunk
            return len(chunk)

    assert [p.data for p in streamed(Pipe(capture), chunk_bytes=80)] == FRAMES
    assert [p.data for p in streamed(io.BytesIO(capture))] == FRAMES


# --- bad input ------------------------------------------------------------------------------------

GOOD = pcap_bytes("<", False, [(0, 0, f, len(f)) for f in FRAMES[:3]])
CUT_AT = 24 + 2 * 16 + len(FRAMES[0]) + len(FRAMES[1])  # offset of the third record


@pytest.mark.parametrize("cut", [5, 16 + 3])
def test_a_last_record_cut_short_is_skipped_and_counted(cut):
    capture = GOOD[:CUT_AT + cut]
    stream = CaptureStream(capture)
    assert [p.data for c in stream for p in c.packets()] == FRAMES[:2]
    assert stream.skipped == {"truncated record": 1}
    assert stream.warnings == [f"<capture bytes>: offset {CUT_AT}: truncated record of packet 2: "
                               + ("5 bytes of its header remain" if cut == 5 else
                                  f"it says {16 + len(FRAMES[2])} bytes, {cut} remain") + " (skipped)"]


def test_strict_streams_refuse_a_cut_record_naming_packet_and_offset():
    with pytest.raises(PcapError, match=rf"offset {CUT_AT} \(0x{CUT_AT:x}\): truncated record of packet 2: it says "
                                        rf"{16 + len(FRAMES[2])} bytes, 19 remain"):
        streamed(GOOD[:CUT_AT + 19], strict=True)


def test_a_corrupt_record_length_names_the_packet_and_offset():
    capture = bytearray(GOOD)
    struct.pack_into("<I", capture, CUT_AT + 8, 0x7FFFFFFF)
    with CaptureStream(bytes(capture), chunk_packets=1) as stream:
        chunks = iter(stream)
        assert next(chunks).data(0) == FRAMES[0] and next(chunks).data(0) == FRAMES[1]
        with pytest.raises(PcapError, match=rf"offset {CUT_AT} \(0x{CUT_AT:x}\): corrupt record of packet 2: it says "
                                            r"2147483647 captured bytes, more than the 262144 any record may hold"):
            next(chunks)


@pytest.mark.parametrize("data, message", [
    (b"", "not a capture: the file is 0 bytes long"),
    (b"\x00\x01", "not a capture: the file is 2 bytes long"),
    (b"GIF89a....", r"offset 0 \(0x0\): not a pcap or pcapng file \(magic bytes 47 49 46 38\)"),
    (GOOD[:20], "truncated pcap file header: 24 bytes needed, 20 present"),
    (pcap_bytes("<", False, [], version=(3, 0)), "unsupported pcap version 3.0"),
    (pcap_bytes("<", False, [(0, 0, b"\x45" + bytes(19), 20)], linktype=113),
     r"offset 20 \(0x14\): link type 113 \(LINUX_SLL \(Linux cooked capture\)\) is not Ethernet"),
    (shb("<") + struct.pack("<II", 1, 13) + bytes(8), "block of type 0x1 has an invalid length 13"),
    (shb("<")[:8] + b"\x01\x02\x03\x04" + shb("<")[12:], r"offset 8 \(0x8\): section header with an invalid "
                                                         r"byte-order magic \(01 02 03 04\)"),
    (shb("<")[:-4] + struct.pack("<I", 999), "ends with length 999, but starts with"),
    (shb("<") + epb("<", 0, 0, FRAMES[0]), "packet 0 refers to interface 0, but the section describes 0"),
    (shb("<") + idb("<") + block("<", 6, struct.pack("<IIIII", 0, 0, 0, 500, 500) + bytes(8)),
     "truncated packet 0: its block says 500 captured bytes, the block holds 8"),
    (shb("<") + idb("<") + block("<", 6, bytes(8)), r"packet block \(packet 0\) is too short"),
    (shb("<") + struct.pack("<II", 6, 0x7FFFFFF0) + bytes(4), "block of type 0x6 says it is 2147483632 bytes long"),
    (shb("<") + idb("<")[:-6], r"offset 52 \(0x34\): truncated block of type 0x1: it says 32 bytes, 26 remain"),
    (shb("<") + idb("<")[:10], r"offset 52 \(0x34\): truncated block at the end of the file: 10 bytes of a header"),
    (shb("<") + idb("<", linktype=101) + epb("<", 0, 0, b"E" + bytes(19)),
     r"packet 0 is on interface 0 of link type 101 \(RAW \(IP\)\), not Ethernet"),
])
def test_bad_captures_raise_pcap_error_naming_the_offset(data, message):
    with pytest.raises(PcapError, match=message):
        streamed(data)


def test_non_ethernet_pcapng_interface_packets_are_skipped_when_another_is_ethernet():
    capture = (shb("<") + idb("<") + idb("<", linktype=101) + epb("<", 0, 0, FRAMES[0]) + epb("<", 1, 0, b"E")
               + epb("<", 0, 0, FRAMES[1]))
    stream = CaptureStream(capture)
    assert [p.data for c in stream for p in c.packets()] == FRAMES[:2]
    assert stream.skipped == {"non-Ethernet interface": 1}
    with pytest.raises(PcapError, match=r"packet 1 is on interface 1 of link type 101"):
        streamed(capture, strict=True)


def test_a_capture_without_packets_gives_no_chunks():
    assert streamed(pcap_bytes(">", True, [])) == []
    assert streamed(shb("<") + idb("<")) == []


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(PcapError, match=r"nope.pcap: cannot read the capture: No such file"):
        CaptureStream(tmp_path / "nope.pcap")
    with pytest.raises(PcapError, match=r"chunk_bytes must be at least 64 and chunk_packets at least 1 \(got 8, 0\)"):
        CaptureStream(GOOD, chunk_bytes=8, chunk_packets=0)


def _fuzz_inputs():
    pcap = pcap_bytes("<", False, [(i, i, f, len(f)) for i, f in enumerate(FRAMES)])
    ng = (shb(">") + idb(">") + idb(">", linktype=101) + epb(">", 0, 5, FRAMES[0]) + spb(">", FRAMES[1])
          + epb(">", 1, 0, b"E" * 20) + epb(">", 0, 9, FRAMES[2]))
    return [pcap, ng]


@pytest.mark.parametrize("base", _fuzz_inputs(), ids=["pcap", "pcapng"])
def test_damaged_captures_give_packets_or_pcap_errors_never_anything_else(base):
    """Random byte damage: the stream either raises PcapError or gives packets; when neither side
    skipped or refused anything, they are exactly the per-packet reader's."""
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), max_size=4),
                      st.integers(0, len(base)), st.sampled_from([(64, 1), (200, 3), (1 << 16, 1000)]))
    def check(edits, cut, chunking):
        data = bytearray(base)
        for at, value in edits:
            data[at] = value
        data = bytes(data[:cut])
        try:
            stream = CaptureStream(data, chunk_bytes=chunking[0], chunk_packets=chunking[1])
            got = [p for chunk in stream for p in chunk.packets()]
        except PcapError:
            return
        if stream.skipped:
            return
        try:
            ref = list(iter_packets(data, ethernet_only=False))
        except PcapError:
            return
        same(got, ref)

    check()


def test_walkers_machine_code_is_kept_and_loaded_from_a_cache(tmp_path, monkeypatch):
    """With an object cache (the runtime gives the JIT's disk cache), the first process stores
    the walkers' object code and a later one loads it instead of building: the same packets."""
    from ebpflite.helpers import pcapscan
    from ebpflite.jit.diskcache import DiskCache, toolchain_fingerprint

    capture = pcap_bytes("<", True, [(i, i, f, len(f)) for i, f in enumerate(varied_frames(30))])
    cache = DiskCache(tmp_path)
    monkeypatch.setattr(pcapscan, "object_cache", (cache, toolchain_fingerprint()))
    monkeypatch.setattr(pcapscan, "_compiled", {})
    built = streamed(capture, chunk_bytes=512)
    (entry,) = tmp_path.glob("pcapscan-*.o")
    monkeypatch.setattr(pcapscan, "_compiled", {})
    loads = []
    monkeypatch.setattr(cache, "load", lambda key, load=cache.load: loads.append(key) or load(key))
    same(streamed(capture, chunk_bytes=512), built)
    assert loads == [entry.stem] and pcapscan._compiled["engine"] is not None
    same(built, list(iter_packets(capture)))
    entry.write_bytes(entry.read_bytes()[:-7])  # a damaged entry is refused and rebuilt
    monkeypatch.setattr(pcapscan, "_compiled", {})
    same(streamed(capture, chunk_bytes=512), built)
