"""A large capture of realistic traffic for replay benchmarks, generated on demand, never committed.

    python bench/bigcapture.py [OUT] [--count 1000000]

The capture cycles a pool of distinct real-looking frames: every packet of
examples/data/sample.pcap (mixed IPv4/IPv6, TCP/UDP/ICMP, ARP, VLAN, QinQ)
plus synthetic flows built with ``ebpflite.packets``: TCP sessions (handshake,
full-size data segments, ACKs, teardown), DNS queries and answers, QUIC-sized
UDP, IPv6 with extension headers, VLAN-tagged frames, ICMP, and sources in
the firewall example's block list (10.0.1.0/24) and traffic to TCP/22 (its
port policy). The pool is laid out once as pcap records and repeated with
numpy, patching only the timestamps, so a million packets take seconds.

:func:`cached_capture` keeps the file in a cache directory
(``$EBPFLITE_BENCH_CACHE`` or ``~/.cache/ebpflite-bench``) keyed by the
packet count and :data:`VERSION`, so benchmarks regenerate it only when
the recipe changes.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "sample.pcap"
VERSION = 1  #: bump when the recipe changes (cached files are keyed on it)
START_NS = 1_700_000_000 * 1_000_000_000
SYNTHETIC_FLOWS = 1500
DEFAULT_COUNT = 1_000_000


def cache_dir() -> Path:
    return Path(os.environ.get("EBPFLITE_BENCH_CACHE") or Path.home() / ".cache" / "ebpflite-bench")


def _tcp_session(rng: random.Random, client: str, server: str, dport: int, v6: bool) -> list[bytes]:
    """One TCP connection: handshake, a few data segments each way, ACKs, FIN."""
    from ebpflite.packets import TCP, Dot1Q, Ether, Frame, IPv4, IPv6

    cmac, smac = f"02:00:00:01:{rng.randrange(256):02x}:{rng.randrange(256):02x}", "02:00:00:00:00:fe"
    vlan = rng.random() < 0.1
    sport = rng.randrange(32768, 61000)
    seq_c, seq_s = rng.getrandbits(32), rng.getrandbits(32)

    def frame(src_is_client: bool, flags: str, payload: bytes) -> bytes:
        src, dst = (client, server) if src_is_client else (server, client)
        eth = Ether(src=cmac if src_is_client else smac, dst=smac if src_is_client else cmac)
        out = Frame([eth])
        if vlan:
            out = out / Dot1Q(vid=42)
        ip = IPv6(src=src, dst=dst) if v6 else IPv4(src=src, dst=dst, ttl=64, id=rng.randrange(1 << 16), flags=2)
        ports = (sport, dport) if src_is_client else (dport, sport)
        tcp = TCP(sport=ports[0], dport=ports[1], flags=flags, seq=seq_c if src_is_client else seq_s,
                  ack=(seq_s if src_is_client else seq_c) if "A" in flags else 0)
        return bytes(out / ip / tcp / payload)

    packets = [frame(True, "S", b""), frame(False, "SA", b""), frame(True, "A", b"")]
    request = bytes(rng.randrange(256) for _ in range(rng.choice([40, 80, 200])))
    packets.append(frame(True, "PA", request))
    for _ in range(rng.choice([1, 1, 2, 3])):
        size = rng.choice([1448, 512, 200, 120, 60]) - (20 if v6 else 0)
        packets.append(frame(False, "A", bytes(size)))
        packets.append(frame(True, "A", b""))
    packets += [frame(True, "FA", b""), frame(False, "FA", b""), frame(True, "A", b"")]
    return packets


def _udp_exchange(rng: random.Random, client: str, server: str, v6: bool) -> list[bytes]:
    from ebpflite.packets import UDP, Ether, IPv4, IPv6

    eth = Ether(src=f"02:00:00:02:{rng.randrange(256):02x}:01", dst="02:00:00:00:00:fe")
    kind = rng.choice(["dns", "dns", "quic", "ntp"])
    dport, sizes = {"dns": (53, (40, 120)), "quic": (443, (1200, 60, 60)), "ntp": (123, (48, 48))}[kind]
    sport = rng.randrange(32768, 61000)
    out = []
    for i, size in enumerate(sizes):
        up = i % 2 == 0
        ip = (IPv6(src=client, dst=server) if up else IPv6(src=server, dst=client)) if v6 else \
            (IPv4(src=client, dst=server) if up else IPv4(src=server, dst=client))
        udp = UDP(sport=sport, dport=dport) if up else UDP(sport=dport, dport=sport)
        out.append(bytes(eth / ip / udp / bytes(rng.randrange(256) for _ in range(size))))
    return out


def _oddities(rng: random.Random) -> list[bytes]:
    """Frames a parser must cope with: IPv6 extension headers, ICMP, QinQ, later fragments."""
    from ebpflite.packets import ICMP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv4, IPv6, IPv6DestOpts, IPv6Fragment

    eth = Ether(src="02:00:00:03:00:01", dst="02:00:00:00:00:fe")
    return [
        bytes(eth / IPv6(src="2001:db8:2::1", dst="2001:db8:ffff::10") / IPv6DestOpts() / TCP(dport=443)),
        bytes(eth / IPv6(src="2001:db8:2::2", dst="2001:db8:ffff::53") / IPv6Fragment(offset=0, m=1)
              / UDP(dport=53) / bytes(32)),
        bytes(eth / IPv4(src="10.9.0.1", dst="192.0.2.10", frag=185, proto=17) / bytes(rng.randrange(20, 400))),
        bytes(eth / IPv4(src="10.9.0.2", dst="192.0.2.10") / ICMP(type=8) / bytes(56)),
        bytes(eth / Dot1AD(vid=100) / Dot1Q(vid=20) / IPv4(src="10.9.0.3", dst="192.0.2.20") / UDP(dport=5353)
              / bytes(60)),
    ]


def distinct_frames(seed: int = 12) -> list[bytes]:
    """The pool: sample.pcap's packets, then the synthetic flows (shuffled together)."""
    from ebpflite.helpers.pcap import read_packets

    rng = random.Random(seed)
    frames = [p.data for p in read_packets(SAMPLE)]
    synthetic: list[list[bytes]] = []
    for _ in range(SYNTHETIC_FLOWS):
        v6 = rng.random() < 0.25
        if v6:
            client, server = f"2001:db8:{rng.randrange(1, 40):x}::{rng.randrange(1, 4000):x}", "2001:db8:ffff::10"
        elif rng.random() < 0.08:  # the firewall example's blocked /24
            client, server = f"10.0.1.{rng.randrange(1, 255)}", "192.0.2.10"
        else:
            client, server = f"10.{rng.randrange(2, 60)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", \
                rng.choice(["192.0.2.10", "192.0.2.20", "198.51.100.7"])
        roll = rng.random()
        if roll < 0.6:
            synthetic.append(_tcp_session(rng, client, server, rng.choice([80, 443, 443, 443, 22, 8080]), v6))
        elif roll < 0.95:
            synthetic.append(_udp_exchange(rng, client, server, v6))
        else:
            synthetic.append(_oddities(rng))
    # interleave the flows, as a capture of many concurrent connections would
    cursors = [list(reversed(flow)) for flow in synthetic]
    while cursors:
        i = rng.randrange(len(cursors))
        frames.append(cursors[i].pop())
        if not cursors[i]:
            cursors[i] = cursors[-1]
            cursors.pop()
    return frames


def write_capture(path: str | Path, count: int = DEFAULT_COUNT, seed: int = 12) -> int:
    """Write ``count`` packets (the pool cycled) as a little-endian microsecond pcap."""
    frames = distinct_frames(seed)
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    n = len(frames)
    record = 16 + lengths
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(record[:-1], out=starts[1:])
    cycle = bytearray()
    for data in frames:
        cycle += struct.pack("<IIII", 0, 0, len(data), len(data)) + data
    cycle_arr = np.frombuffer(bytes(cycle), dtype=np.uint8)
    gaps = np.random.default_rng(seed).integers(1_000, 200_000, size=n)  # ns between packets
    period = int(gaps.sum())
    offsets_in_cycle = np.cumsum(gaps)
    ts_index = starts[:, None] + np.arange(8)  # bytes of (ts_sec, ts_usec) in each record
    tmp = Path(str(path) + ".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        done, k = 0, 0
        while done < count:
            take = min(n, count - done)
            ts = START_NS + k * period + offsets_in_cycle[:take]
            stamp = np.empty((take, 2), dtype="<u4")
            stamp[:, 0] = ts // 1_000_000_000
            stamp[:, 1] = ts % 1_000_000_000 // 1000
            block = cycle_arr[:starts[take - 1] + record[take - 1]].copy()
            block[ts_index[:take]] = stamp.view(np.uint8).reshape(take, 8)
            fh.write(block.tobytes())
            done += take
            k += 1
    os.replace(tmp, path)
    return count


def cached_capture(count: int = DEFAULT_COUNT) -> Path:
    """The capture of ``count`` packets in the cache directory (written the first time)."""
    path = cache_dir() / f"replay-{count}-v{VERSION}.pcap"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_capture(path, count)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="output file (default: the benchmark cache)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    args = parser.parse_args()
    path = Path(args.out) if args.out else cached_capture(args.count)
    if args.out:
        write_capture(path, args.count)
    print(f"{path}: {args.count} packets, {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
