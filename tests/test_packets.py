"""Packet builders, decoder and diff (ebpflite.packets).

Checksums are checked against an independent, word-by-word RFC 1071
implementation written here (and against published vectors); header fields
are checked at their wire offsets with struct, not through our own decoder.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebpflite.errors import PacketError
from ebpflite.packets import (
    ARP,
    ICMP,
    TCP,
    UDP,
    Dot1AD,
    Dot1Q,
    Ether,
    Frame,
    ICMPv6,
    IPv4,
    IPv6,
    IPv6DestOpts,
    IPv6Fragment,
    IPv6HopByHop,
    IPv6Routing,
    Padding,
    Raw,
    checksum_errors,
    decode,
    diff,
    explain,
    hexdiff,
    internet_checksum,
    make,
)


def naive_checksum(data: bytes) -> int:
    """RFC 1071, the textbook way: add 16-bit words with end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def sums_to_zero(data: bytes) -> bool:
    """A region that includes its own correct checksum verifies to zero."""
    return naive_checksum(data) == 0


# --- the checksum ----------------------------------------------------------------------


def test_checksum_published_vectors():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF
    # the IPv4 header example on Wikipedia's "Internet checksum" page (checksum field zeroed)
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861


@given(st.binary(max_size=3000))
def test_checksum_matches_the_textbook_algorithm(data):
    assert internet_checksum(data) == naive_checksum(data)


def test_checksum_of_all_zero_and_all_ones():
    assert internet_checksum(b"\x00" * 10) == 0xFFFF
    assert internet_checksum(b"\xff" * 10) == 0x0000


# --- headers at their wire offsets --------------------------------------------------------


def test_ethernet_ipv4_udp_fields_and_checksums():
    data = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:aa:bb:cc:dd:ee") /
                 IPv4(src="192.168.1.10", dst="8.8.8.8", ttl=17, id=0x1234, flags=2) /
                 UDP(sport=5353, dport=53) / b"query")
    assert data[0:6] == b"\xff" * 6 and data[6:12] == bytes.fromhex("02aabbccddee")
    assert data[12:14] == b"\x08\x00"
    ip = data[14:34]
    assert ip[0] == 0x45 and struct.unpack("!H", ip[2:4])[0] == 20 + 8 + 5
    assert struct.unpack("!H", ip[4:6])[0] == 0x1234 and ip[6] >> 5 == 2 and ip[8] == 17 and ip[9] == 17
    assert ip[12:16] == ipaddress.ip_address("192.168.1.10").packed
    assert sums_to_zero(ip)
    udp = data[34:]
    assert struct.unpack("!HHH", udp[:6]) == (5353, 53, 13) and udp[8:] == b"query"
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    assert sums_to_zero(pseudo + udp)


def test_tcp_over_ipv6_pseudo_header_checksum():
    data = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") /
                 TCP(sport=443, dport=50000, flags="PA", seq=7, ack=9) / b"hello, world")
    assert data[12:14] == b"\x86\xdd" and data[14 + 6] == 6  # next header: TCP
    seg = data[54:]
    assert struct.unpack("!H", data[18:20])[0] == len(seg)
    assert seg[13] == 0x18  # PSH|ACK
    pseudo = (ipaddress.ip_address("2001:db8::1").packed + ipaddress.ip_address("2001:db8::2").packed +
              struct.pack("!I3xB", len(seg), 6))
    assert sums_to_zero(pseudo + seg)


def test_icmp_and_icmpv6_checksums():
    v4 = bytes(Ether() / IPv4() / ICMP(type=8, id=3, seq=4) / b"ping")
    assert sums_to_zero(v4[34:])  # ICMPv4 covers the message only
    v6 = bytes(Ether() / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6(type=135) / bytes(20))
    msg = v6[54:]
    pseudo = (ipaddress.ip_address("fe80::1").packed + ipaddress.ip_address("ff02::1").packed +
              struct.pack("!I3xB", len(msg), 58))
    assert v6[20] == 58 and msg[0] == 135 and sums_to_zero(pseudo + msg)


def test_vlan_and_qinq_tags():
    data = bytes(Ether() / Dot1AD(vid=100, prio=5) / Dot1Q(vid=4094, dei=1) / IPv4() / UDP())
    assert data[12:14] == b"\x88\xa8"
    assert struct.unpack("!HH", data[14:18]) == (5 << 13 | 100, 0x8100)
    assert struct.unpack("!HH", data[18:22]) == (1 << 12 | 4094, 0x0800)
    frame = decode(data)
    assert [type(layer) for layer in frame] == [Ether, Dot1AD, Dot1Q, IPv4, UDP]
    assert frame[Dot1AD].vid == 100 and frame[Dot1AD].prio == 5 and frame[Dot1Q].vid == 100


def test_ipv4_options_are_padded_and_counted():
    data = bytes(Ether() / IPv4(options=b"\x94\x04\x00\x00\x01") / UDP())  # router alert + NOP
    ip = data[14:]
    assert ip[0] & 0xF == 7  # 20 + 5 padded to 8 bytes of options = 28 bytes
    assert ip[20:28] == b"\x94\x04\x00\x00\x01\x00\x00\x00"
    assert sums_to_zero(ip[:28])
    assert decode(data)[UDP].dport == 53


def test_ipv6_extension_header_chain():
    frame = (Ether() / IPv6(dst="2001:db8::2") / IPv6HopByHop(options=b"\x05\x02\x00\x00") /
             IPv6DestOpts() / IPv6Routing(addresses=["2001:db8::9"]) / IPv6Fragment(id=77) / UDP() / b"x")
    data = bytes(frame)
    assert data[20] == 0  # IPv6 -> hop-by-hop
    hbh = data[54:62]
    assert hbh[0] == 60 and hbh[1] == 0 and hbh[2:6] == b"\x05\x02\x00\x00" and hbh[6:8] == b"\x01\x00"  # PadN
    dst = data[62:70]
    assert dst[0] == 43 and dst[1] == 0
    rt = data[70:94]
    assert rt[0] == 44 and rt[1] == 2 and rt[3] == 1 and rt[8:24] == ipaddress.ip_address("2001:db8::9").packed
    frag = data[94:102]
    assert frag[0] == 17 and struct.unpack("!I", frag[4:8])[0] == 77
    udp = data[102:]
    # RFC 8200 8.1: with segments left, the pseudo header uses the final destination
    pseudo = (ipaddress.ip_address("fd00::1").packed + ipaddress.ip_address("2001:db8::9").packed +
              struct.pack("!I3xB", len(udp), 17))
    assert sums_to_zero(pseudo + udp)
    decoded = decode(data)
    assert [type(layer) for layer in decoded] == [Ether, IPv6, IPv6HopByHop, IPv6DestOpts, IPv6Routing,
                                                 IPv6Fragment, UDP, Raw]
    assert checksum_errors(decoded) == []


def test_non_first_fragments_carry_raw_payload():
    v6 = decode(bytes(Ether() / IPv6() / IPv6Fragment(offset=10, nh=17) / bytes(16)))
    assert isinstance(v6[-1], Raw) and UDP not in v6
    v4 = decode(bytes(Ether() / IPv4(frag=3, proto=6) / bytes(20)))
    assert isinstance(v4[-1], Raw) and TCP not in v4


def test_arp_request_and_reply():
    data = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, psrc="10.1.1.1", hwsrc="02:00:00:00:00:07"))
    assert data[12:14] == b"\x08\x06"
    assert struct.unpack("!HHBBH", data[14:22]) == (1, 0x0800, 6, 4, 2)
    assert data[22:28] == bytes.fromhex("020000000007") and data[28:32] == bytes([10, 1, 1, 1])
    assert decode(data + bytes(18))[ARP].summary() == "ARP 10.1.1.1 is-at 02:00:00:00:00:07"
    assert isinstance(decode(data + bytes(18))[-1], Padding)


def test_tcp_flags_and_options():
    data = bytes(Ether() / IPv4() / TCP(flags="SAEC", options=b"\x02\x04\x05\xb4\x01"))
    tcp = data[34:]
    assert tcp[12] >> 4 == 7 and tcp[13] == 0x02 | 0x10 | 0x40 | 0x80
    assert decode(data)[TCP].flags == "SAEC"
    assert decode(bytes(Ether() / IPv4() / TCP(flags=0x11)))[TCP].flags == "FA"


def test_udp_checksum_that_computes_to_zero_is_sent_as_ffff():
    base = bytes(Ether() / IPv4() / UDP() / b"\x00\x00")
    needed = struct.unpack("!H", base[40:42])[0]  # the checksum with a zero payload word
    data = bytes(Ether() / IPv4() / UDP() / needed.to_bytes(2, "big"))
    assert data[40:42] == b"\xff\xff"
    assert checksum_errors(data) == []


def test_explicit_fields_are_written_as_given():
    data = bytes(Ether(type=0x1234) / IPv4(chksum=0xBEEF, len=99, proto=200) / UDP(chksum=0, len=3))
    assert data[12:14] == b"\x12\x34" and data[24:26] == b"\xbe\xef" and data[16:18] == b"\x00\x63"
    assert data[23] == 200 and data[38:40] == b"\x00\x03"


# --- round trips -----------------------------------------------------------------------

ports = st.integers(0, 0xFFFF)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)


@st.composite
def frames(draw) -> Frame:
    frame = Frame([Ether(src=draw(st.binary(min_size=6, max_size=6)))])
    for _ in range(draw(st.integers(0, 2))):
        frame = frame / Dot1Q(vid=draw(st.integers(0, 4095)), prio=draw(st.integers(0, 7)))
    if draw(st.booleans()):
        frame = frame / IPv4(src=draw(v4), dst=draw(v4), ttl=draw(st.integers(0, 255)),
                             options=draw(st.binary(max_size=12)))
        icmp = ICMP
    else:
        frame = frame / IPv6(src=draw(v6), dst=draw(v6), fl=draw(st.integers(0, 0xFFFFF)))
        if draw(st.booleans()):
            frame = frame / IPv6HopByHop(options=draw(st.binary(max_size=10)))
        icmp = ICMPv6
    l4 = draw(st.sampled_from([TCP, UDP, icmp]))
    if l4 is TCP:
        frame = frame / TCP(sport=draw(ports), dport=draw(ports), flags=draw(st.integers(0, 255)),
                            seq=draw(st.integers(0, 2**32 - 1)))
    elif l4 is UDP:
        frame = frame / UDP(sport=draw(ports), dport=draw(ports))
    else:
        frame = frame / l4(type=draw(st.integers(0, 255)), id=draw(ports))
    return frame / draw(st.binary(max_size=64))


@given(frames())
def test_built_frames_decode_to_the_same_fields_with_valid_checksums(frame):
    data = bytes(frame)
    decoded = decode(data)
    assert bytes(decoded) == data
    assert decoded == frame
    assert [type(layer) for layer in decoded] == [type(layer) for layer in frame if
                                                 not (isinstance(layer, Raw) and not layer.load)]
    assert checksum_errors(decoded) == []
    assert diff(frame, decoded) == []


@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_never_raises_and_round_trips(data):
    frame = decode(data)
    assert bytes(frame) == data


@given(frames(), st.data())
def test_corrupted_frames_decode_and_round_trip(frame, data):
    raw = bytearray(bytes(frame))
    cut = data.draw(st.integers(0, len(raw)))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    corrupted = bytes(raw[:cut])
    assert bytes(decode(corrupted)) == corrupted


def test_decode_notes_truncation_and_length_mismatch():
    data = bytes(Ether() / IPv6() / UDP() / b"abcdef")
    short = decode(data[:30])
    assert isinstance(short[-1], Raw)
    assert short.notes == ["IPv6 header at offset 14 is truncated: it needs 40 bytes, 16 remain"]
    cut = decode(bytes(Ether() / IPv4() / UDP() / b"abcdef")[:40])
    assert cut.notes == ["IPv4 at offset 14 states 14 payload bytes but 6 follow",
                         "UDP header at offset 34 is truncated: it needs 8 bytes, 6 remain"]
    bad_ihl = bytearray(bytes(Ether() / IPv4() / UDP()))
    bad_ihl[14] = 0x43
    assert decode(bytes(bad_ihl)).notes == ["IPv4 header at offset 14: IPv4 header length field (IHL) is 3, "
                                            "below the minimum 5"]


# --- the frame API -----------------------------------------------------------------------


def test_frame_lookup_and_recompute():
    frame = decode(bytes(Ether() / IPv4(ttl=64) / UDP() / b"data"))
    assert frame[0] is frame[Ether] and IPv4 in frame and TCP not in frame
    with pytest.raises(KeyError, match="no TCP layer in Ether .* / IPv4 10.0.0.1 > 10.0.0.2 / UDP 1234 > 53"):
        frame[TCP]
    frame[IPv4].ttl = 63
    data = bytes(frame)
    header = data[14:24] + bytes(2) + data[26:34]
    assert checksum_errors(frame) == [f"IPv4.chksum is {frame[IPv4].chksum:#06x}, "
                                      f"should be {naive_checksum(header):#06x}"]
    fixed = frame.recompute()
    assert checksum_errors(fixed) == [] and decode(bytes(fixed))[IPv4].ttl == 63
    assert "IPv4:\n    src        = 10.0.0.1" in frame.describe()


def test_make_builds_layers_by_name():
    assert bytes(make("Ether") / make("IPv4") / make("UDP", dport=7)) == bytes(Ether() / IPv4() / UDP(dport=7))


# --- diffs -------------------------------------------------------------------------------


def test_diff_names_the_fields_that_differ():
    expected = Ether() / IPv4(ttl=63) / UDP(dport=53) / b"payload"
    actual = Ether() / IPv4(ttl=64) / UDP(dport=54) / b"payload"
    paths = [d.path for d in diff(expected, actual)]
    assert paths == ["IPv4.ttl", "IPv4.chksum", "UDP.dport", "UDP.chksum"]
    assert str(diff(expected, actual)[0]) == "IPv4.ttl: expected 63, got 64"


def test_diff_reports_a_different_layer_structure():
    result = diff(Ether() / IPv4() / UDP(), Ether() / IPv4() / TCP())
    assert [str(d) for d in result][-1] == "layer 2: expected UDP, got TCP"
    shorter = diff(Ether() / IPv4() / UDP() / b"x", Ether() / IPv4() / UDP())
    assert "layer 3: expected Raw, got (none)" in [str(d) for d in shorter]


def test_explain_shows_fields_checksums_and_hex():
    good = bytes(Ether() / IPv4(ttl=64) / UDP() / b"payload")
    bad = bytearray(good)
    bad[22] = 63  # decrement TTL without fixing the checksum: the classic rewrite bug
    text = explain(good, bytes(bad))
    assert "IPv4.ttl: expected 64, got 63" in text
    assert "wrong checksums in the actual packet:\n  IPv4.chksum is" in text
    assert "*0010" in text and "^^" in text
    assert explain(good, good) == ""


def test_hexdiff_elides_identical_rows_and_marks_bytes():
    a = bytes(64)
    b = bytearray(a)
    b[50] = 1
    text = hexdiff(a, bytes(b))
    lines = text.splitlines()
    assert lines[1] == "  ..." and lines[2].startswith(" 0020") and lines[3].startswith("*0030")
    assert lines[4].index("^^") == lines[3].index("01", 60)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: Ether(src="02:00:00:00:00"), "Ether.src='02:00:00:00:00' is not a MAC address"),
    (lambda: Ether(dst=b"\x01"), "Ether.dst: a MAC address is 6 bytes, got 1"),
    (lambda: IPv4(src="10.0.0.300"), "IPv4.src='10.0.0.300' is not an IPv4 address"),
    (lambda: IPv6(dst="10.0.0.1"), "IPv6.dst='10.0.0.1' is not an IPv6 address"),
    (lambda: IPv4(ttl=300), r"IPv4.ttl=300 does not fit in 8 bits \(0..255\)"),
    (lambda: Dot1Q(vid=4096), "Dot1Q.vid=4096 does not fit in 12 bits"),
    (lambda: UDP(dport="53"), "UDP.dport='53' must be an int"),
    (lambda: TCP(flags="SX"), "TCP.flags='SX': 'X' is not one of FSRPAUEC"),
    (lambda: bytes(Ether() / IPv4(options=bytes(41)) / UDP()), "IPv4.options is 41 bytes; at most 40 fit"),
    (lambda: bytes(Ether() / b"x"), r"Ether.type: cannot infer it from the next layer \(Raw\)"),
    (lambda: bytes(Ether() / IPv4()), r"IPv4.proto: cannot infer it from the next layer \(nothing\)"),
    (lambda: bytes(TCP()), "TCP.chksum: no IPv4/IPv6 layer before it"),
    (lambda: Ether() / 5, "cannot stack int onto a packet"),
    (lambda: bytes(Ether() / IPv4() / UDP() / bytes(70000)), "UDP datagram of 70008 bytes exceeds 65535"),
    (lambda: make("Foo"), "no layer named 'Foo'"),
    (lambda: make("UDP", port=1), "UDP has fields sport, dport, len, chksum; got port"),
])
def test_bad_fields_raise_packet_error(build, message):
    with pytest.raises(PacketError, match=message):
        build()


def test_field_changed_after_construction_is_checked_when_building():
    frame = Ether() / IPv4() / UDP()
    frame[IPv4].ttl = 256
    with pytest.raises(PacketError, match="IPv4.ttl=256 does not fit"):
        bytes(frame)


def test_against_scapy_when_installed():
    scapy = pytest.importorskip("scapy.all", reason="scapy is not installed (optional cross-check)")
    data = bytes(Ether() / IPv4(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="S") / b"abc")
    rebuilt = scapy.Ether(data)
    del rebuilt["IP"].chksum, rebuilt["TCP"].chksum
    assert bytes(rebuilt) == data
