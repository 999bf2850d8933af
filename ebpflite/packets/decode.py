"""Decoding wire bytes into a :class:`Frame` of layers, for assertions on output packets.

The decoder never raises on packet bytes: a program under test may emit
anything, and the test needs to see it. What it cannot decode (a truncated
header, an unknown protocol) stays as a :class:`Raw` layer, with a note in
``frame.notes`` saying why.
"""

from __future__ import annotations

from ebpflite.packets.frame import Frame, Layer, Truncated, Undecodable
from ebpflite.packets.layers import Ether, Padding, Raw


def decode(data: bytes | bytearray | memoryview, first: type[Layer] = Ether) -> Frame:
    """The layers of ``data``, starting with ``first`` (Ethernet by default)."""
    data = bytes(data)
    layers: list[Layer] = []
    notes: list[str] = []
    tails: list[bytes] = []  # bytes beyond a stated length, innermost first
    offset, end = 0, len(data)
    cls: type[Layer] | None = first
    while cls is not None and offset < end:
        try:
            layer, hlen, payload_len = cls.parse(data[:end], offset)
        except Truncated as exc:
            notes.append(f"{cls.__name__} header at offset {offset} is truncated: it needs "
                         f"{exc.needed} bytes, {end - offset} remain")
            break
        except Undecodable as exc:
            notes.append(f"{cls.__name__} header at offset {offset}: {exc.reason}")
            break
        layers.append(layer)
        offset += hlen
        if payload_len is not None:
            stated_end = offset + payload_len
            if stated_end < end:
                tails.insert(0, data[stated_end:end])
                end = stated_end
            elif stated_end > end:
                notes.append(f"{cls.__name__} at offset {offset - hlen} states {payload_len} payload bytes "
                             f"but {end - offset} follow")
        cls = layer.next_layer()
    if offset < end:
        layers.append(Raw(data[offset:end]))
    layers.extend(Padding(tail) for tail in tails)
    return Frame(layers, notes)
