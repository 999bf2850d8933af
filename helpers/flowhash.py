"""The flow hash behind ``skb_get_hash`` (bpf_get_hash_recalc): a symmetric hash of the flow's addresses and ports.

The kernel dissects the packet (``__skb_flow_dissect``), orders the two
endpoints so both directions of a flow hash alike (``__flow_hash_consistentify``)
and runs Bob Jenkins' lookup3 ``jhash2`` over the flow keys with ``hashrnd``, a
key it draws at boot. That key is secret, so no userspace tool can reproduce
the kernel's values; ebpflite keeps the structure (same inputs, same symmetry,
never 0, L4 when ports were found) with a key the test sets (``net.hash_seed``).
A program that only compares hashes, or picks among equals by them, behaves
the same; one that hard-codes a kernel hash value cannot agree with any emulator.
"""

from __future__ import annotations

M32 = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF

ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
_PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # TCP, UDP, DCCP, SCTP, UDP-Lite


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & M32; a ^= _rol(c, 4); c = (c + b) & M32  # noqa: E702
    b = (b - a) & M32; b ^= _rol(a, 6); a = (a + c) & M32  # noqa: E702
    c = (c - b) & M32; c ^= _rol(b, 8); b = (b + a) & M32  # noqa: E702
    a = (a - c) & M32; a ^= _rol(c, 16); c = (c + b) & M32  # noqa: E702
    b = (b - a) & M32; b ^= _rol(a, 19); a = (a + c) & M32  # noqa: E702
    c = (c - b) & M32; c ^= _rol(b, 4); b = (b + a) & M32  # noqa: E702
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b; c = (c - _rol(b, 14)) & M32  # noqa: E702
    a ^= c; a = (a - _rol(c, 11)) & M32  # noqa: E702
    b ^= a; b = (b - _rol(a, 25)) & M32  # noqa: E702
    c ^= b; c = (c - _rol(b, 16)) & M32  # noqa: E702
    a ^= c; a = (a - _rol(c, 4)) & M32  # noqa: E702
    b ^= a; b = (b - _rol(a, 14)) & M32  # noqa: E702
    c ^= b; c = (c - _rol(b, 24)) & M32  # noqa: E702
    return c


def jhash2(words: list[int], initval: int) -> int:
    """lookup3 over 32-bit words (include/linux/jhash.h ``jhash2``)."""
    a = b = c = (JHASH_INITVAL + (len(words) << 2) + initval) & M32
    i, n = 0, len(words)
    while n > 3:
        a = (a + words[i]) & M32
        b = (b + words[i + 1]) & M32
        c = (c + words[i + 2]) & M32
        a, b, c = _mix(a, b, c)
        i += 3
        n -= 3
    if n == 0:
        return c
    if n >= 3:
        c = (c + words[i + 2]) & M32
    if n >= 2:
        b = (b + words[i + 1]) & M32
    a = (a + words[i]) & M32
    return _final(a, b, c)


def _dissect(frame: bytes) -> tuple[bytes, bytes, int, int, int] | None:
    """(src addr, dst addr, src port, dst port, IP protocol) of an Ethernet frame, or None."""
    if len(frame) < 14:
        return None
    at, proto = 14, int.from_bytes(frame[12:14], "big")
    while proto in (ETH_P_8021Q, ETH_P_8021AD) and at + 4 <= len(frame):
        proto = int.from_bytes(frame[at + 2:at + 4], "big")
        at += 4
    if proto == ETH_P_IP and at + 20 <= len(frame):
        ihl = (frame[at] & 0xF) * 4
        ip_proto = frame[at + 9]
        src, dst = frame[at + 12:at + 16], frame[at + 16:at + 20]
        fragment = int.from_bytes(frame[at + 6:at + 8], "big") & 0x1FFF
        l4 = at + ihl if ihl >= 20 and not fragment else -1
    elif proto == ETH_P_IPV6 and at + 40 <= len(frame):
        ip_proto = frame[at + 6]
        src, dst = frame[at + 8:at + 24], frame[at + 24:at + 40]
        l4 = at + 40
    else:
        return None
    sport = dport = 0
    if ip_proto in _PORT_PROTOCOLS and 0 <= l4 and l4 + 4 <= len(frame):
        sport = int.from_bytes(frame[l4:l4 + 2], "big")
        dport = int.from_bytes(frame[l4 + 2:l4 + 4], "big")
    return src, dst, sport, dport, ip_proto


def flow_hash(frame: bytes, seed: int) -> tuple[int, bool]:
    """(hash, whether it covers L4 ports) of the Ethernet ``frame``; (0, False) when it is not IP."""
    keys = _dissect(frame)
    if keys is None:
        return 0, False
    src, dst, sport, dport, ip_proto = keys
    if (dst, dport) < (src, sport):  # both directions of a flow hash alike
        src, dst, sport, dport = dst, src, dport, sport
    words = [int.from_bytes(src[i:i + 4], "little") for i in range(0, len(src), 4)]
    words += [int.from_bytes(dst[i:i + 4], "little") for i in range(0, len(dst), 4)]
    words += [(sport << 16) | dport, ip_proto]
    value = jhash2(words, seed & M32)
    return value or 1, bool(sport or dport)
