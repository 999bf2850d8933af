"""Building and decoding packets for tests: ``Ether() / IPv4(src="10.0.0.1") / UDP(dport=53) / b"hi"``.

Layers compose with ``/`` into a :class:`Frame`; ``bytes(frame)`` builds it
with lengths, protocol numbers and checksums computed (unless given).
:func:`decode` turns output bytes back into layers, and :func:`explain` /
:func:`diff` say how two packets differ, field by field and byte by byte.

Only the standard library is used, so the pytest plugin stays light.
"""

from ebpflite.packets.checksum import internet_checksum, ones_complement_sum, pseudo_header
from ebpflite.packets.decode import decode
from ebpflite.packets.diff import FieldDiff, checksum_errors, diff, explain, hexdiff
from ebpflite.packets.frame import Frame, Layer
from ebpflite.packets.layers import (
    ARP,
    ETHERTYPES,
    ICMP,
    IP_PROTOS,
    LAYERS,
    TCP,
    UDP,
    Dot1AD,
    Dot1Q,
    Ether,
    ICMPv6,
    IPv4,
    IPv6,
    IPv6DestOpts,
    IPv6Fragment,
    IPv6HopByHop,
    IPv6Routing,
    Padding,
    Raw,
    make,
    tcp_flags,
)

__all__ = [
    "ARP", "ETHERTYPES", "ICMP", "IP_PROTOS", "LAYERS", "TCP", "UDP", "Dot1AD", "Dot1Q", "Ether", "FieldDiff",
    "Frame", "ICMPv6", "IPv4", "IPv6", "IPv6DestOpts", "IPv6Fragment", "IPv6HopByHop", "IPv6Routing", "Layer",
    "Padding", "Raw", "checksum_errors", "decode", "diff", "explain", "hexdiff", "internet_checksum", "make",
    "ones_complement_sum", "pseudo_header", "tcp_flags",
]
