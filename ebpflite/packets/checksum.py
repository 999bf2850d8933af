"""The Internet checksum (RFC 1071) and the pseudo headers TCP/UDP/ICMPv6 cover.

The ones' complement sum of 16-bit big-endian words equals the value of the
whole buffer, read as one big-endian integer, modulo 0xFFFF (because
2**16 = 1 mod 0xFFFF). Python's big integers do that in C, so checksumming a
jumbo payload costs microseconds instead of a Python loop per word.
"""

from __future__ import annotations

import ipaddress
import struct


def ones_complement_sum(data: bytes) -> int:
    """The 16-bit ones' complement sum of ``data`` (odd lengths padded with a zero byte)."""
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    value = int.from_bytes(data, "big")
    if value == 0:
        return 0
    folded = value % 0xFFFF
    # A non-zero sum in ones' complement never becomes +0: it is 0xFFFF (-0).
    return folded or 0xFFFF


def internet_checksum(data: bytes) -> int:
    """The checksum to store in a header whose checksum field is zero in ``data``.

    Verifying a header that already holds its checksum gives 0.
    """
    return ~ones_complement_sum(data) & 0xFFFF


def pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    """The IPv4 or IPv6 pseudo header (chosen by the address family of ``src``)."""
    s = ipaddress.ip_address(src)
    d = ipaddress.ip_address(dst)
    if s.version == 4:
        return s.packed + d.packed + struct.pack("!BBH", 0, proto, length)
    return s.packed + d.packed + struct.pack("!IxxxB", length, proto)
