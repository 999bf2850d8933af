"""The layer protocol and :class:`Frame`, a stack of layers built innermost first.

A layer is a dataclass of header fields. ``Ether() / IPv4() / UDP() / b"hi"``
makes a :class:`Frame`; ``bytes(frame)`` builds it from the last layer to the
first, so each header sees its payload's bytes (for lengths and checksums)
and the frame (for the next layer's EtherType or protocol number and the
enclosing IP addresses of the pseudo header). Fields left as ``None`` are
computed; fields given explicitly are written as given, so a test can build a
packet with a wrong checksum or length on purpose.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, TypeVar

from ebpflite.errors import PacketError

L = TypeVar("L", bound="Layer")


class Undecodable(Exception):
    """Raised by ``Layer.parse`` for a header it cannot decode; the decoder notes
    ``reason`` and keeps the rest of the packet as raw bytes."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Truncated(Undecodable):
    """Fewer bytes remain than the header needs."""

    def __init__(self, needed: int):
        super().__init__(f"needs {needed} bytes")
        self.needed = needed


@dataclasses.dataclass
class Layer:
    """One protocol header. Subclasses are dataclasses whose fields are the header's."""

    #: integer fields and their width in bits (range-checked before building)
    WIDTHS: ClassVar[dict[str, int]] = {}
    #: fields computed when ``None`` (lengths, checksums, next-protocol numbers)
    AUTO: ClassVar[tuple[str, ...]] = ()
    #: the EtherType that announces this layer (Ethernet/VLAN payloads)
    ethertype: ClassVar[int | None] = None
    #: the IP protocol / IPv6 next-header number that announces this layer
    ip_proto: ClassVar[int | None] = None
    #: fields shown in hex (checksums, EtherTypes)
    HEX: ClassVar[frozenset[str]] = frozenset({"chksum"})

    def __post_init__(self) -> None:
        self.normalize()

    # --- building -----------------------------------------------------------

    def normalize(self) -> None:
        """Canonicalise address fields and range-check integers (raises PacketError)."""
        for name, bits in self.WIDTHS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise PacketError(f"{type(self).__name__}.{name}={value!r} must be an int")
            if not 0 <= value < 1 << bits:
                raise PacketError(f"{type(self).__name__}.{name}={value} does not fit in {bits} bits "
                                  f"(0..{(1 << bits) - 1})")

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        """This header (and ``payload`` after it) as wire bytes."""
        raise NotImplementedError

    # --- decoding -----------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        """Decode the header at ``offset``: (layer, header length, payload length or None).

        The payload length, when the header states one (IPv4 total length, UDP
        length), bounds what follows; bytes beyond it become :class:`Padding`.
        """
        raise NotImplementedError

    def next_layer(self) -> type[Layer] | None:
        """The class of the header that follows (None: the rest is raw payload)."""
        return None

    # --- inspection ---------------------------------------------------------

    def fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def summary(self) -> str:
        return type(self).__name__

    def __truediv__(self, other: Any) -> Frame:
        return Frame([self]) / other

    def __bytes__(self) -> bytes:
        return Frame([self]).build()

    def __rtruediv__(self, other: Any) -> Frame:
        return Frame(_as_layers(other)) / self


def _as_layers(item: Any) -> list[Layer]:
    if isinstance(item, Frame):
        return list(item.layers)
    if isinstance(item, Layer):
        return [item]
    if isinstance(item, (bytes, bytearray, memoryview)):
        from ebpflite.packets.layers import Raw

        return [Raw(bytes(item))]
    raise PacketError(f"cannot stack {type(item).__name__} onto a packet: use a layer, a Frame or bytes")


class Frame:
    """A packet as a list of layers; ``bytes(frame)`` builds it.

    ``frame[IPv4]`` is the first IPv4 layer (``frame[0]`` the first layer),
    ``IPv4 in frame`` tests for one, ``frame.notes`` holds what the decoder
    could not make sense of (truncated headers, lengths that disagree).
    """

    def __init__(self, layers: Iterable[Layer] = (), notes: Iterable[str] = ()):
        self.layers: list[Layer] = list(layers)
        self.notes: list[str] = list(notes)

    def __truediv__(self, other: Any) -> Frame:
        return Frame(self.layers + _as_layers(other), self.notes)

    def __bytes__(self) -> bytes:
        return self.build()

    def build(self) -> bytes:
        """The wire bytes. Trailing :class:`Padding` layers are appended after
        the headers are built, so they never count in IP or UDP lengths."""
        from ebpflite.packets.layers import Padding

        end = len(self.layers)
        while end and isinstance(self.layers[end - 1], Padding):
            end -= 1
        data = b""
        for index in range(end - 1, -1, -1):
            layer = self.layers[index]
            layer.normalize()
            data = layer.encode(data, self, index)
        return data + b"".join(p.load for p in self.layers[end:])  # type: ignore[attr-defined]

    def __getitem__(self, key: int | type[L]) -> Any:
        if isinstance(key, int):
            return self.layers[key]
        found = self.get(key)
        if found is None:
            raise KeyError(f"no {key.__name__} layer in {self.summary()}")
        return found

    def get(self, cls: type[L], default: Any = None) -> L | Any:
        for layer in self.layers:
            if isinstance(layer, cls):
                return layer
        return default

    def __contains__(self, cls: type[Layer]) -> bool:
        return self.get(cls) is not None

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __eq__(self, other: object) -> bool:
        """Frames compare by their wire bytes (a Frame also equals its bytes)."""
        if isinstance(other, (Frame, Layer, bytes, bytearray)):
            return self.build() == (bytes(other) if not isinstance(other, Layer) else bytes(Frame([other])))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def find_before(self, index: int, classes: tuple[type[Layer], ...]) -> Layer | None:
        """The nearest layer before ``index`` that is one of ``classes``."""
        for layer in reversed(self.layers[:index]):
            if isinstance(layer, classes):
                return layer
        return None

    def copy(self) -> Frame:
        return copy.deepcopy(self)

    def recompute(self) -> Frame:
        """A copy whose computed fields (lengths, checksums, protocol numbers) are
        reset, so building it recomputes them: ``expected = decode(pkt).recompute()``
        after editing a field."""
        new = self.copy()
        for layer in new.layers:
            for name in layer.AUTO:
                setattr(layer, name, None)
        return new

    def summary(self) -> str:
        return " / ".join(layer.summary() for layer in self.layers) or "(empty)"

    def describe(self) -> str:
        """Every field of every layer, one per line (what a failing test prints)."""
        lines = []
        for layer in self.layers:
            lines.append(f"{type(layer).__name__}:")
            for name, value in layer.fields().items():
                lines.append(f"    {name:10} = {format_value(value, name in layer.HEX)}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Frame {self.summary()}>"


def format_value(value: Any, hex_int: bool = False) -> str:
    """A field value as a person reads it: checksums and type codes in hex, payloads as hex."""
    if isinstance(value, (bytes, bytearray)):
        if not value:
            return "b''"
        text = value[:32].hex(" ")
        return f"{text}{' ...' if len(value) > 32 else ''} ({len(value)} bytes)"
    if isinstance(value, int) and not isinstance(value, bool) and hex_int:
        return f"{value:#06x}" if 0 <= value <= 0xFFFF else f"{value:#x}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return str(value)
