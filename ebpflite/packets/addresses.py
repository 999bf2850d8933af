"""Address fields: accept what a test author naturally writes, store one canonical text form.

Layers keep MAC and IP addresses as strings (``"02:00:00:00:00:01"``,
``"10.0.0.1"``, ``"fd00::1"``) so that decoded packets print and compare
readably; these functions turn ints, bytes and ``ipaddress`` objects into that
form and back into wire bytes.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ebpflite.errors import PacketError


def mac(value: Any, field: str = "mac") -> str:
    """``"aa:bb:cc:dd:ee:ff"`` from a string (``:`` or ``-`` separated), 6 bytes or an int."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 1 << 48:
            raise PacketError(f"{field}={value:#x} is not a 48-bit MAC address")
        raw = value.to_bytes(6, "big")
    elif isinstance(value, str):
        parts = value.replace("-", ":").split(":")
        try:
            raw = bytes(int(p, 16) for p in parts) if all(len(p) <= 2 for p in parts) else b""
        except ValueError:
            raw = b""
        if len(parts) != 6 or len(raw) != 6:
            raise PacketError(f"{field}={value!r} is not a MAC address (expected six hex bytes like "
                              "02:00:00:00:00:01)")
    else:
        raise PacketError(f"{field}={value!r}: a MAC address must be a string, 6 bytes or an int")
    if len(raw) != 6:
        raise PacketError(f"{field}: a MAC address is 6 bytes, got {len(raw)}")
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(value: str) -> bytes:
    return bytes.fromhex(value.replace(":", ""))


def ip(value: Any, version: int, field: str = "address") -> str:
    """Canonical text of an IPv4 (``version=4``) or IPv6 address from str/int/bytes/ipaddress."""
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
        if isinstance(value, bool):
            raise TypeError
        return str(cls(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise PacketError(f"{field}={value!r} is not an IPv{version} address") from None


def ip_bytes(value: str) -> bytes:
    return ipaddress.ip_address(value).packed
