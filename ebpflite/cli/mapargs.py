"""Map entries given on the command line: ``--map NAME KEY VALUE``.

Lets a user set up a program's maps for one run without writing Python,
e.g. ``ebpflite xdp fw.o --pcap in.pcap --map blocklist_v4 10.0.1.0/24 0``.
Keys and values are written in the forms people use:

- an integer (``23``, ``0x17``, ``-1``): little-endian, the map's key or value size;
- an IPv4/IPv6 address (``10.0.0.1``, ``2001:db8::1``): network byte order;
- a prefix ``ADDR/LEN`` for an LPM trie: the kernel's ``struct bpf_lpm_trie_key``
  (``u32 prefixlen`` then the address);
- ``hex:0a0b0c0d`` or bpftool's byte list (``"0x06 0 0x17 0"``): raw bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import click

from ebpflite.errors import MapError


def parse_bytes(text: str, size: int, *, lpm: bool = False, what: str = "key") -> bytes:
    """``text`` as exactly ``size`` bytes (see the module docstring for the forms)."""
    text = text.strip()
    if text.startswith("hex:"):
        try:
            data = bytes.fromhex(text[4:])
        except ValueError:
            raise click.BadParameter(f"{what} {text!r}: 'hex:' must be followed by hex digits") from None
        return _sized(data, size, text, what)
    if " " in text:  # bpftool style: one number per byte
        try:
            data = bytes(int(part, 0) for part in text.split())
        except ValueError:
            raise click.BadParameter(f"{what} {text!r}: every byte must be a number from 0 to 255") from None
        return _sized(data, size, text, what)
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise click.BadParameter(f"{what} {text!r} is not an address prefix such as 10.0.0.0/8") from None
        if not lpm:
            raise click.BadParameter(f"{what} {text!r}: prefixes are only for LPM trie maps")
        data = net.prefixlen.to_bytes(4, "little") + net.network_address.packed
        return _sized(data, size, text, what)
    if ("." in text and text.count(".") == 3) or ":" in text:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise click.BadParameter(f"{what} {text!r} is not an IP address") from None
        data = address.packed
        if lpm:  # a single address in an LPM trie is a full-length prefix
            data = (address.max_prefixlen).to_bytes(4, "little") + data
        return _sized(data, size, text, what)
    try:
        value = int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{what} {text!r}: expected an integer, an IP address or prefix, "
                                 "'hex:...' or a list of byte values") from None
    try:
        return value.to_bytes(size, "little", signed=value < 0)
    except OverflowError:
        raise click.BadParameter(f"{what} {text!r} does not fit in {size} bytes") from None


def _sized(data: bytes, size: int, text: str, what: str) -> bytes:
    if len(data) != size:
        raise click.BadParameter(f"{what} {text!r} is {len(data)} bytes, but the map's {what}s are {size}")
    return data


def apply(maps: dict[str, Any], entries: Iterable[tuple[str, str, str]]) -> None:
    """Update each ``(name, key, value)`` in the live ``maps``; errors name the entry."""
    for name, key_text, value_text in entries:
        live = maps.get(name)
        if live is None:
            known = ", ".join(sorted(maps)) or "none"
            raise click.BadParameter(f"no map named {name!r} (the object has: {known})", param_hint="--map")
        key = parse_bytes(key_text, live.key_size, lpm=live.type == "lpm_trie", what="key")
        value = parse_bytes(value_text, live.value_size, what="value")
        try:
            code = live.update(key, value, 0)
        except MapError as exc:
            raise click.BadParameter(f"{name}[{key_text}] = {value_text}: {exc}", param_hint="--map") from None
        if code:
            raise click.BadParameter(f"{name}[{key_text}] = {value_text}: the update failed with error {code}",
                                     param_hint="--map")


MAP_OPTION = click.option(
    "--map", "map_entries", type=(str, str, str), multiple=True, metavar="NAME KEY VALUE",
    help="Set a map entry before running (repeatable). KEY/VALUE: integer, IP address, "
         "ADDR/LEN prefix (LPM tries), hex:BYTES, or bpftool-style byte list.")
