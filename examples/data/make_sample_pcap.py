"""Generate examples/data/sample.pcap: a few thousand mixed packets for the README's tour.

The mix (IPv4 and IPv6, TCP, UDP, ICMP/ICMPv6, ARP, 802.1Q VLANs and QinQ)
gives an XDP firewall something to count; a fixed seed makes the file
reproducible, so regenerating it produces identical bytes::

    python examples/data/make_sample_pcap.py [OUT] [--count N]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from ebpflite.helpers.pcap import Packet, write_pcap
from ebpflite.packets import ARP, ICMP, TCP, UDP, Dot1AD, Dot1Q, Ether, Frame, ICMPv6, IPv4, IPv6

START_NS = 1_700_000_000 * 1_000_000_000  #: 2023-11-14, any fixed time will do
CLIENTS_V4 = [f"10.0.{i // 50}.{i % 50 + 1}" for i in range(200)]
SERVERS_V4 = ["192.0.2.10", "192.0.2.20", "198.51.100.7", "203.0.113.53"]
CLIENTS_V6 = [f"2001:db8:1::{i + 1:x}" for i in range(50)]
SERVERS_V6 = ["2001:db8:ffff::10", "2001:db8:ffff::53"]
TCP_PORTS = [22, 80, 443, 8080]
UDP_PORTS = [53, 123, 443, 5353]


def _l4(rng: random.Random, v6: bool) -> Frame:
    """A transport header and payload, weighted like ordinary traffic."""
    kind = rng.choices(["tcp", "udp", "icmp"], weights=[6, 3, 1])[0]
    if kind == "tcp":
        flags = rng.choice(["S", "SA", "A", "PA", "FA", "R"])
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 20, 120, 500])))
        return Frame([TCP(sport=rng.randrange(32768, 61000), dport=rng.choice(TCP_PORTS), flags=flags,
                          seq=rng.getrandbits(32), ack=rng.getrandbits(32) if "A" in flags else 0)]) / payload
    if kind == "udp":
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([12, 40, 100])))
        return UDP(sport=rng.randrange(32768, 61000), dport=rng.choice(UDP_PORTS)) / payload
    icmp = ICMPv6(type=128) if v6 else ICMP(type=8)
    icmp.id, icmp.seq = rng.randrange(1 << 16), rng.randrange(1 << 16)
    return icmp / bytes(range(32))


def make_packet(rng: random.Random) -> bytes:
    """One random frame of the mix."""
    eth = Ether(src=f"02:00:00:00:{rng.randrange(256):02x}:{rng.randrange(256):02x}", dst="02:00:00:00:00:fe")
    kind = rng.choices(["ipv4", "ipv6", "vlan", "qinq", "arp"], weights=[55, 25, 10, 3, 7])[0]
    if kind == "arp":
        frame = Ether(src=eth.src, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=eth.src, psrc=rng.choice(CLIENTS_V4),
                                                                  pdst=rng.choice(SERVERS_V4))
        return bytes(frame) + bytes(18)  # padded to the 60-byte Ethernet minimum
    frame = Frame([eth])
    if kind == "vlan":
        frame = frame / Dot1Q(vid=rng.choice([10, 20, 30]), prio=rng.randrange(8))
    elif kind == "qinq":
        frame = frame / Dot1AD(vid=100) / Dot1Q(vid=rng.choice([10, 20]))
    if kind == "ipv6":
        frame = frame / IPv6(src=rng.choice(CLIENTS_V6), dst=rng.choice(SERVERS_V6), hlim=rng.choice([64, 255]))
        return bytes(frame / _l4(rng, True))
    frame = frame / IPv4(src=rng.choice(CLIENTS_V4), dst=rng.choice(SERVERS_V4), ttl=rng.choice([64, 128, 1]),
                         id=rng.randrange(1 << 16), flags=2)
    return bytes(frame / _l4(rng, False))


def make_sample(count: int = 3000, seed: int = 7) -> list[Packet]:
    rng = random.Random(seed)
    ts = START_NS
    packets = []
    for _ in range(count):
        ts += rng.randrange(1_000, 2_000_000)  # 1 us .. 2 ms apart
        packets.append(Packet(make_packet(rng), ts_ns=ts))
    return packets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(Path(__file__).with_name("sample.pcap")))
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    n = write_pcap(args.out, make_sample(args.count))
    print(f"wrote {n} packets to {args.out} ({Path(args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
