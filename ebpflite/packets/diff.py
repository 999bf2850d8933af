"""Comparing an expected packet with an actual one: field by field, and byte by byte.

``explain(expected, actual)`` is what a failing packet assertion prints: both
summaries, the fields that differ (``IPv4.ttl: expected 64, got 63``), the
checksums that are wrong in the actual packet (the usual bug after a header
rewrite), and a hex dump of the rows that differ.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ebpflite.packets.decode import decode
from ebpflite.packets.frame import Frame, Layer, format_value
from ebpflite.packets.layers import UDP, IPv4, IPv6


@dataclass(frozen=True)
class FieldDiff:
    """One difference: ``path`` is ``Layer.field`` (``IPv4#2.src`` for a second IPv4 layer)
    or ``layer N`` when the layers themselves differ."""

    path: str
    expected: Any
    actual: Any
    hex: bool = False

    def __str__(self) -> str:
        return (f"{self.path}: expected {format_value(self.expected, self.hex)}, "
                f"got {format_value(self.actual, self.hex)}")


PacketLike = Frame | Layer | bytes | bytearray | memoryview


def as_bytes(packet: PacketLike) -> bytes:
    if isinstance(packet, Layer):
        return bytes(Frame([packet]))
    return bytes(packet)


def as_frame(packet: PacketLike) -> Frame:
    """A decoded frame whose fields are all concrete (auto fields filled in)."""
    return decode(as_bytes(packet))


def _layer_names(frame: Frame) -> list[str]:
    totals = Counter(type(layer).__name__ for layer in frame)
    seen: Counter[str] = Counter()
    names = []
    for layer in frame:
        name = type(layer).__name__
        seen[name] += 1
        names.append(name if totals[name] == 1 or seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def diff(expected: PacketLike, actual: PacketLike) -> list[FieldDiff]:
    """The field-level differences, layer by layer, until the layer structure diverges."""
    exp, act = as_frame(expected), as_frame(actual)
    out: list[FieldDiff] = []
    for index, (name, e_layer, a_layer) in enumerate(zip(_layer_names(exp), exp, act, strict=False)):
        if type(e_layer) is not type(a_layer):
            out.append(FieldDiff(f"layer {index}", type(e_layer).__name__, type(a_layer).__name__))
            return out
        for field, e_value in e_layer.fields().items():
            a_value = getattr(a_layer, field)
            if e_value != a_value:
                out.append(FieldDiff(f"{name}.{field}", e_value, a_value, field in e_layer.HEX))
    for index in range(min(len(exp), len(act)), max(len(exp), len(act))):
        e_name = type(exp[index]).__name__ if index < len(exp) else "(none)"
        a_name = type(act[index]).__name__ if index < len(act) else "(none)"
        out.append(FieldDiff(f"layer {index}", e_name, a_name))
    return out


def checksum_errors(packet: PacketLike) -> list[str]:
    """Checksums in ``packet`` that do not match its contents (empty when all are right).

    A UDP checksum of 0 over IPv4 means "none" and is accepted.
    """
    frame = as_frame(packet)
    fixed = frame.copy()
    for layer in fixed:
        if hasattr(layer, "chksum"):
            layer.chksum = None
    try:
        recomputed = decode(bytes(fixed))
    except Exception as exc:  # noqa: BLE001 - a frame too odd to rebuild: say so, don't crash
        return [f"checksums not checked: {exc}"]
    errors = []
    for index, (name, have, want) in enumerate(zip(_layer_names(frame), frame, recomputed, strict=False)):
        if not hasattr(have, "chksum") or have.chksum == want.chksum:
            continue
        if isinstance(have, UDP) and have.chksum == 0 and isinstance(frame.find_before(index, (IPv4, IPv6)),
                                                                      IPv4):
            continue
        errors.append(f"{name}.chksum is {have.chksum:#06x}, should be {want.chksum:#06x}")
    return errors


def hexdiff(expected: bytes, actual: bytes, width: int = 16, context: int = 1) -> str:
    """Side-by-side hex rows; differing rows marked ``*`` with ``^^`` under the
    differing bytes; identical stretches beyond ``context`` rows elided."""
    rows = max(-(-len(expected) // width), -(-len(actual) // width), 1)
    col = width * 3 - 1
    lines = [f"       {'expected':<{col}}   actual"]
    differs = [expected[r * width:(r + 1) * width] != actual[r * width:(r + 1) * width] for r in range(rows)]
    shown = {r for r in range(rows) for d in range(-context, context + 1)
             if 0 <= r + d < rows and differs[r + d]}
    skipped = False
    for r in range(rows):
        if r not in shown:
            skipped = True
            continue
        if skipped:
            lines.append("  ...")
            skipped = False
        e_row = expected[r * width:(r + 1) * width]
        a_row = actual[r * width:(r + 1) * width]
        mark = "*" if differs[r] else " "
        lines.append(f"{mark}{r * width:04x}  {e_row.hex(' '):<{col}}   {a_row.hex(' ')}")
        if differs[r]:
            carets = "".join("^^ " if (e_row[i:i + 1] != a_row[i:i + 1]) else "   " for i in range(width))
            lines.append(f"       {' ' * col}   {carets.rstrip()}")
    if skipped:
        lines.append("  ...")
    return "\n".join(lines)


def explain(expected: PacketLike, actual: PacketLike) -> str:
    """A report of how ``actual`` differs from ``expected`` (empty string if identical)."""
    e_bytes, a_bytes = as_bytes(expected), as_bytes(actual)
    if e_bytes == a_bytes:
        return ""
    exp, act = decode(e_bytes), decode(a_bytes)
    lines = [f"expected ({len(e_bytes)} bytes): {exp.summary()}",
             f"actual   ({len(a_bytes)} bytes): {act.summary()}"]
    fields = diff(exp, act)
    if fields:
        lines.append("fields that differ:")
        lines.extend(f"  {d}" for d in fields)
    bad = checksum_errors(act)
    if bad:
        lines.append("wrong checksums in the actual packet:")
        lines.extend(f"  {b}" for b in bad)
    lines.extend(f"note on the actual packet: {n}" for n in act.notes)
    lines.append("bytes (rows that differ are marked *):")
    lines.append(hexdiff(e_bytes, a_bytes))
    return "\n".join(lines)
