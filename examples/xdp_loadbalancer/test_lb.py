"""The IP-in-IP load balancer (lb.c), tested without a kernel: read these tests as its documentation.

Run them with ``python -m pytest examples/xdp_loadbalancer``; each runs on
the interpreter and on the JIT (``[interp]``/``[jit]`` in the test ids).

The tests set up one service, VIP 192.0.2.80 TCP port 80, with three
backends, and check the exact bytes that leave: a new Ethernet header
towards the backend, an outer IPv4 header (protocol 4, IP-in-IP) and the
client's packet with its TTL decremented. ``assert_packet`` compares with a
frame built by ``ebpflite.packets``, which computes every checksum, so a
checksum the program got wrong shows up as a field difference.
"""

from __future__ import annotations

import ipaddress
import random
import struct

import pytest

from ebpflite.packets import ICMP, TCP, UDP, Ether, IPv4, IPv6, decode
from ebpflite.testing import assert_action, assert_packet

VIP, PORT, TCP_PROTO, UDP_PROTO = "192.0.2.80", 80, 6, 17
LB_IP, LB_MAC = "10.0.0.1", "02:00:00:00:00:aa"
BACKENDS = [("10.1.0.1", "02:00:00:00:01:01"), ("10.1.0.2", "02:00:00:00:01:02"),
            ("10.1.0.3", "02:00:00:00:01:03")]


def service_key(vip: str, port: int, protocol: int, slot: int = 0) -> bytes:
    """``{be32 vip; be16 port; u8 protocol; u8 slot}``."""
    return ipaddress.ip_address(vip).packed + struct.pack("!HBB", port, protocol, slot)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def flow_hash(saddr: str, sport: int, dport: int, protocol: int) -> int:
    """The same hash as lb.c's ``flow_hash``, to predict which backend a flow gets."""
    h = ((int(ipaddress.ip_address(saddr)) ^ (sport << 16 | dport) ^ protocol) * 0x9E3779B1) & 0xFFFFFFFF
    return h ^ (h >> 16)


def configure(obj, backends=BACKENDS) -> None:
    """What a control plane does: the LB's own address, the service, its backends."""
    obj.maps["lb_config"][0] = ipaddress.ip_address(LB_IP).packed + mac_bytes(LB_MAC) + bytes(2)
    obj.maps["services"][service_key(VIP, PORT, TCP_PROTO)] = len(backends)
    for slot, (ip, mac) in enumerate(backends):
        obj.maps["backends"][service_key(VIP, PORT, TCP_PROTO, slot)] = \
            ipaddress.ip_address(ip).packed + mac_bytes(mac) + bytes(2)


@pytest.fixture
def lb(ebpf_load):
    obj = ebpf_load("lb.c")
    configure(obj)
    return obj


def run(lb, frame):
    return lb.programs["xdp_lb"].run(frame)


def client_packet(src: str = "198.51.100.9", sport: int = 40000, ttl: int = 64, payload: bytes = b"GET /"):
    return Ether(src="02:00:00:00:00:c1", dst=LB_MAC) / IPv4(src=src, dst=VIP, ttl=ttl, id=777, flags=2) \
        / TCP(sport=sport, dport=PORT, flags="PA") / payload


def encapsulated(inner_src: str, sport: int, backend: tuple[str, str], ttl: int = 64, payload: bytes = b"GET /"):
    """The frame the balancer should send for ``client_packet(inner_src, sport, ttl)``."""
    ip, mac = backend
    inner = IPv4(src=inner_src, dst=VIP, ttl=ttl - 1, id=777, flags=2) / TCP(sport=sport, dport=PORT, flags="PA")
    return Ether(src=LB_MAC, dst=mac) / IPv4(src=LB_IP, dst=ip, ttl=64, id=0, flags=2) / inner / payload


# --- forwarding --------------------------------------------------------------------------------


def test_service_traffic_is_encapsulated_towards_the_hashed_backend(lb):
    backend = BACKENDS[flow_hash("198.51.100.9", 40000, PORT, TCP_PROTO) % len(BACKENDS)]

    res = run(lb, client_packet())

    assert_action(res, "XDP_TX")
    assert_packet(res, encapsulated("198.51.100.9", 40000, backend))
    assert len(res.packet) == len(bytes(client_packet())) + 20  # adjust_head added the outer header


def test_the_output_decodes_as_ip_in_ip_with_valid_checksums(lb):
    res = run(lb, client_packet(ttl=9))
    out = decode(res.packet)

    outer, inner = [layer for layer in out if isinstance(layer, IPv4)]
    assert (outer.proto, outer.src, inner.src, inner.ttl) == (4, LB_IP, "198.51.100.9", 8)
    assert out.recompute() == out  # every length and checksum as a correct builder would write it


def backend_of(res) -> tuple[str, str]:
    """(IP, MAC) the balancer sent a packet to."""
    out = decode(res.packet)
    return out[IPv4].dst, out[Ether].dst


def test_every_packet_of_a_flow_reaches_the_same_backend(lb):
    first = backend_of(run(lb, client_packet(payload=b"one")))
    for payload in (b"two", b"three" * 50, b""):
        assert backend_of(run(lb, client_packet(payload=payload))) == first


def test_flows_spread_over_all_backends_as_the_hash_predicts(lb):
    seen = {}
    for sport in range(40000, 40060):
        dst_ip = backend_of(run(lb, client_packet(sport=sport)))[0]
        predicted = BACKENDS[flow_hash("198.51.100.9", sport, PORT, TCP_PROTO) % len(BACKENDS)][0]
        assert dst_ip == predicted, f"source port {sport}"
        seen[dst_ip] = seen.get(dst_ip, 0) + 1
    assert set(seen) == {ip for ip, _ in BACKENDS}


def test_checksums_stay_valid_for_any_ttl_and_header(lb):
    """The incremental TTL update (RFC 1624) must hold for every checksum value, including
    the wrap-around cases: try many random headers."""
    rng = random.Random(1624)
    for _ in range(60):
        src = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        ttl = rng.randrange(2, 256)
        frame = Ether(dst=LB_MAC) / IPv4(src=src, dst=VIP, ttl=ttl, id=rng.getrandbits(16), tos=rng.getrandbits(8)) \
            / TCP(sport=rng.randrange(1024, 65536), dport=PORT)
        out = decode(run(lb, frame).packet)
        inner = [layer for layer in out if isinstance(layer, IPv4)][1]
        assert inner.ttl == ttl - 1
        assert out.recompute() == out, f"checksum wrong for {src} ttl {ttl}:\n{out.describe()}"


# --- what it leaves alone ---------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    Ether() / IPv4(dst=VIP) / TCP(dport=443),                        # a port with no service
    Ether() / IPv4(dst=VIP) / UDP(dport=PORT),                       # same port, other protocol
    Ether() / IPv4(dst="192.0.2.81") / TCP(dport=PORT),              # another address
    Ether() / IPv4(dst=VIP) / ICMP(),                                # not TCP/UDP
    Ether() / IPv4(dst=VIP, options=b"\x01\x01\x01\x01") / TCP(dport=PORT),  # IP options
    Ether() / IPv4(dst=VIP, flags=1) / TCP(dport=PORT),              # a fragment
    Ether() / IPv6() / TCP(dport=PORT),                              # IPv6
    Ether() / IPv4(dst=VIP, ttl=1) / TCP(dport=PORT),                # would expire: the stack answers
], ids=["other-port", "other-proto", "other-ip", "icmp", "ip-options", "fragment", "ipv6", "ttl-1"])
def test_other_traffic_passes_unchanged(lb, frame):
    res = run(lb, frame)

    assert_action(res, "XDP_PASS")
    assert_packet(res, frame)


def test_a_service_with_a_missing_backend_entry_aborts(ebpf_load):
    """services says 3 backends but only slot 0 exists: XDP_ABORTED (a control-plane bug
    shows up as the kernel's xdp:xdp_exception tracepoint would)."""
    obj = ebpf_load("lb.c")
    configure(obj)
    for slot in (1, 2):
        del obj.maps["backends"][service_key(VIP, PORT, TCP_PROTO, slot)]
    sport = next(p for p in range(40000, 41000) if flow_hash("198.51.100.9", p, PORT, TCP_PROTO) % 3 != 0)

    assert_action(run(obj, client_packet(sport=sport)), "XDP_ABORTED")


def test_engines_agree(ebpf_both):
    lb = ebpf_both("lb.c")
    for obj in lb.objects.values():
        configure(obj)
    for sport in range(50000, 50010):
        lb.programs["xdp_lb"].run(packet=client_packet(sport=sport))
