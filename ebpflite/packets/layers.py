"""The headers: Ethernet, 802.1Q/802.1ad VLAN, ARP, IPv4, IPv6 and its extension
headers, TCP, UDP, ICMP, ICMPv6, and raw payload.

Each class is a dataclass of the header's fields in wire order, with an
``encode`` (fields -> bytes, computing the ``None`` ones) and a ``parse``
(bytes -> fields). Which header follows which is decided by the tables
:data:`ETHERTYPES` and :data:`IP_PROTOS` at the bottom, built from the
classes' ``ethertype``/``ip_proto`` attributes.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ebpflite.errors import PacketError
from ebpflite.packets import addresses
from ebpflite.packets.checksum import internet_checksum, pseudo_header
from ebpflite.packets.frame import Frame, Layer, Truncated, Undecodable


def _need(data: bytes, offset: int, size: int) -> None:
    if len(data) - offset < size:
        raise Truncated(size)


def _next_number(frame: Frame, index: int, attr: str, owner: str) -> int:
    """The EtherType/protocol number of the layer after ``index`` (for auto fields)."""
    nxt = frame.layers[index + 1] if index + 1 < len(frame.layers) else None
    value = getattr(type(nxt), attr, None) if nxt is not None else None
    if value is None:
        what = type(nxt).__name__ if nxt is not None else "nothing"
        raise PacketError(f"{owner}: cannot infer it from the next layer ({what}); set it explicitly")
    return value


def _bytes_field(layer: Layer, name: str, limit: int | None = None) -> bytes:
    value = getattr(layer, name)
    if not isinstance(value, (bytes, bytearray)):
        raise PacketError(f"{type(layer).__name__}.{name} must be bytes, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise PacketError(f"{type(layer).__name__}.{name} is {len(value)} bytes; at most {limit} fit")
    return bytes(value)


# --- link layer ------------------------------------------------------------------------


@dataclass
class Ether(Layer):
    """Ethernet II. ``type`` defaults to the EtherType of the next layer."""

    dst: str = "02:00:00:00:00:02"
    src: str = "02:00:00:00:00:01"
    type: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"type": 16}
    AUTO: ClassVar[tuple[str, ...]] = ("type",)
    HEX: ClassVar[frozenset[str]] = frozenset({"type"})

    def normalize(self) -> None:
        self.dst = addresses.mac(self.dst, "Ether.dst")
        self.src = addresses.mac(self.src, "Ether.src")
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        etype = self.type if self.type is not None else _next_number(frame, index, "ethertype", "Ether.type")
        return addresses.mac_bytes(self.dst) + addresses.mac_bytes(self.src) + struct.pack("!H", etype) + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 14)
        (etype,) = struct.unpack_from("!H", data, offset + 12)
        return cls(data[offset:offset + 6], data[offset + 6:offset + 12], etype), 14, None

    def next_layer(self) -> type[Layer] | None:
        return ETHERTYPES.get(self.type)

    def summary(self) -> str:
        return f"Ether {self.src} > {self.dst}"


@dataclass
class Dot1Q(Layer):
    """An 802.1Q VLAN tag (TPID 0x8100). Stack two (``Dot1AD()/Dot1Q()``) for QinQ."""

    vid: int = 1
    prio: int = 0
    dei: int = 0
    type: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"vid": 12, "prio": 3, "dei": 1, "type": 16}
    AUTO: ClassVar[tuple[str, ...]] = ("type",)
    HEX: ClassVar[frozenset[str]] = frozenset({"type"})
    ethertype: ClassVar[int | None] = 0x8100

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        etype = self.type if self.type is not None else _next_number(frame, index, "ethertype",
                                                                       f"{type(self).__name__}.type")
        tci = self.prio << 13 | self.dei << 12 | self.vid
        return struct.pack("!HH", tci, etype) + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 4)
        tci, etype = struct.unpack_from("!HH", data, offset)
        return cls(vid=tci & 0xFFF, prio=tci >> 13, dei=tci >> 12 & 1, type=etype), 4, None

    def next_layer(self) -> type[Layer] | None:
        return ETHERTYPES.get(self.type)

    def summary(self) -> str:
        return f"{type(self).__name__} vlan {self.vid}"


@dataclass
class Dot1AD(Dot1Q):
    """An 802.1ad service tag (TPID 0x88A8): the outer tag of QinQ."""

    ethertype: ClassVar[int | None] = 0x88A8


@dataclass
class ARP(Layer):
    """ARP for IPv4 over Ethernet. ``op``: 1 request (who-has), 2 reply (is-at)."""

    op: int = 1
    hwsrc: str = "02:00:00:00:00:01"
    psrc: str = "10.0.0.1"
    hwdst: str = "00:00:00:00:00:00"
    pdst: str = "10.0.0.2"
    hwtype: int = 1
    ptype: int = 0x0800
    hwlen: int = 6
    plen: int = 4

    WIDTHS: ClassVar[dict[str, int]] = {"op": 16, "hwtype": 16, "ptype": 16, "hwlen": 8, "plen": 8}
    HEX: ClassVar[frozenset[str]] = frozenset({"ptype"})
    ethertype: ClassVar[int | None] = 0x0806

    def normalize(self) -> None:
        self.hwsrc = addresses.mac(self.hwsrc, "ARP.hwsrc")
        self.hwdst = addresses.mac(self.hwdst, "ARP.hwdst")
        self.psrc = addresses.ip(self.psrc, 4, "ARP.psrc")
        self.pdst = addresses.ip(self.pdst, 4, "ARP.pdst")
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        return (struct.pack("!HHBBH", self.hwtype, self.ptype, self.hwlen, self.plen, self.op)
                + addresses.mac_bytes(self.hwsrc) + addresses.ip_bytes(self.psrc)
                + addresses.mac_bytes(self.hwdst) + addresses.ip_bytes(self.pdst) + payload)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 28)
        hwtype, ptype, hwlen, plen, op = struct.unpack_from("!HHBBH", data, offset)
        if (hwlen, plen) != (6, 4):
            raise Undecodable(f"ARP with hardware length {hwlen} and protocol length {plen} is not decoded")
        o = offset + 8
        return cls(op, data[o:o + 6], data[o + 6:o + 10], data[o + 10:o + 16], data[o + 16:o + 20],
                   hwtype, ptype, hwlen, plen), 28, 0

    def summary(self) -> str:
        if self.op == 1:
            return f"ARP who-has {self.pdst} tell {self.psrc}"
        return f"ARP {self.psrc} is-at {self.hwsrc}" if self.op == 2 else f"ARP op {self.op}"


# --- network layer -------------------------------------------------------------------


@dataclass
class IPv4(Layer):
    """IPv4. ``options`` are raw option bytes, padded with zeros (EOL) to 4 bytes.
    ``flags``: 2 = DF (don't fragment), 1 = MF (more fragments); ``frag`` in 8-byte units."""

    src: str = "10.0.0.1"
    dst: str = "10.0.0.2"
    ttl: int = 64
    proto: int | None = None
    id: int = 1
    flags: int = 0
    frag: int = 0
    tos: int = 0
    options: bytes = b""
    ihl: int | None = None
    len: int | None = None
    chksum: int | None = None
    version: int = 4

    WIDTHS: ClassVar[dict[str, int]] = {"ttl": 8, "proto": 8, "id": 16, "flags": 3, "frag": 13, "tos": 8,
                                        "ihl": 4, "len": 16, "chksum": 16, "version": 4}
    AUTO: ClassVar[tuple[str, ...]] = ("proto", "ihl", "len", "chksum")
    HEX: ClassVar[frozenset[str]] = frozenset({"chksum", "tos"})
    ethertype: ClassVar[int | None] = 0x0800
    ip_proto: ClassVar[int | None] = 4

    def normalize(self) -> None:
        self.src = addresses.ip(self.src, 4, "IPv4.src")
        self.dst = addresses.ip(self.dst, 4, "IPv4.dst")
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        options = _bytes_field(self, "options", 40)
        options += b"\x00" * (-len(options) % 4)
        ihl = self.ihl if self.ihl is not None else 5 + len(options) // 4
        length = self.len if self.len is not None else 20 + len(options) + len(payload)
        if length > 0xFFFF:
            raise PacketError(f"IPv4 packet of {length} bytes exceeds the 65535-byte total length")
        proto = self.proto if self.proto is not None else _next_number(frame, index, "ip_proto", "IPv4.proto")
        header = bytearray(struct.pack("!BBHHHBBH4s4s", self.version << 4 | ihl, self.tos, length, self.id,
                                       self.flags << 13 | self.frag, self.ttl, proto, 0,
                                       addresses.ip_bytes(self.src), addresses.ip_bytes(self.dst)) + options)
        chksum = self.chksum if self.chksum is not None else internet_checksum(bytes(header))
        struct.pack_into("!H", header, 10, chksum)
        return bytes(header) + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 20)
        vihl, tos, length, ident, frag, ttl, proto, chksum, src, dst = struct.unpack_from(
            "!BBHHHBBH4s4s", data, offset)
        ihl = vihl & 0xF
        if ihl < 5:
            raise Undecodable(f"IPv4 header length field (IHL) is {ihl}, below the minimum 5")
        hlen = ihl * 4
        _need(data, offset, hlen)
        layer = cls(src=src, dst=dst, ttl=ttl, proto=proto, id=ident, flags=frag >> 13, frag=frag & 0x1FFF,
                    tos=tos, options=data[offset + 20:offset + hlen], ihl=ihl, len=length, chksum=chksum,
                    version=vihl >> 4)
        return layer, hlen, max(length - hlen, 0)

    def next_layer(self) -> type[Layer] | None:
        return None if self.frag else IP_PROTOS.get(self.proto)

    def summary(self) -> str:
        return f"IPv4 {self.src} > {self.dst}"


@dataclass
class IPv6(Layer):
    """IPv6. ``nh`` (next header) defaults to the next layer's protocol number."""

    src: str = "fd00::1"
    dst: str = "fd00::2"
    hlim: int = 64
    nh: int | None = None
    tc: int = 0
    fl: int = 0
    plen: int | None = None
    version: int = 6

    WIDTHS: ClassVar[dict[str, int]] = {"hlim": 8, "nh": 8, "tc": 8, "fl": 20, "plen": 16, "version": 4}
    AUTO: ClassVar[tuple[str, ...]] = ("nh", "plen")
    HEX: ClassVar[frozenset[str]] = frozenset({"tc", "fl"})
    ethertype: ClassVar[int | None] = 0x86DD
    ip_proto: ClassVar[int | None] = 41

    def normalize(self) -> None:
        self.src = addresses.ip(self.src, 6, "IPv6.src")
        self.dst = addresses.ip(self.dst, 6, "IPv6.dst")
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        plen = self.plen if self.plen is not None else len(payload)
        if plen > 0xFFFF:
            raise PacketError(f"IPv6 payload of {plen} bytes exceeds 65535 (jumbograms are not supported)")
        nh = self.nh if self.nh is not None else _next_number(frame, index, "ip_proto", "IPv6.nh")
        first = self.version << 28 | self.tc << 20 | self.fl
        return (struct.pack("!IHBB", first, plen, nh, self.hlim) + addresses.ip_bytes(self.src)
                + addresses.ip_bytes(self.dst) + payload)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 40)
        first, plen, nh, hlim = struct.unpack_from("!IHBB", data, offset)
        layer = cls(src=data[offset + 8:offset + 24], dst=data[offset + 24:offset + 40], hlim=hlim, nh=nh,
                    tc=first >> 20 & 0xFF, fl=first & 0xFFFFF, plen=plen, version=first >> 28)
        return layer, 40, plen

    def next_layer(self) -> type[Layer] | None:
        return IP_PROTOS.get(self.nh)

    def summary(self) -> str:
        return f"IPv6 {self.src} > {self.dst}"


def _pad_options(options: bytes) -> bytes:
    """Options of a hop-by-hop/destination header padded (Pad1/PadN) so header+options is 8n bytes."""
    short = -(2 + len(options)) % 8
    if short == 0:
        return options
    if short == 1:
        return options + b"\x00"
    return options + bytes([1, short - 2]) + b"\x00" * (short - 2)


@dataclass
class _OptionsHeader(Layer):
    """Shared layout of the hop-by-hop and destination options headers."""

    options: bytes = b""
    nh: int | None = None
    hdrlen: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"nh": 8, "hdrlen": 8}
    AUTO: ClassVar[tuple[str, ...]] = ("nh", "hdrlen")

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        options = _pad_options(_bytes_field(self, "options"))
        hdrlen = self.hdrlen if self.hdrlen is not None else (2 + len(options)) // 8 - 1
        if hdrlen > 0xFF:
            raise PacketError(f"{type(self).__name__}.options: {len(options)} bytes do not fit")
        nh = self.nh if self.nh is not None else _next_number(frame, index, "ip_proto",
                                                               f"{type(self).__name__}.nh")
        return bytes([nh, hdrlen]) + options + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 2)
        nh, hdrlen = data[offset], data[offset + 1]
        size = (hdrlen + 1) * 8
        _need(data, offset, size)
        return cls(options=data[offset + 2:offset + size], nh=nh, hdrlen=hdrlen), size, None

    def next_layer(self) -> type[Layer] | None:
        return IP_PROTOS.get(self.nh)


@dataclass
class IPv6HopByHop(_OptionsHeader):
    """IPv6 hop-by-hop options header (raw options, padded with Pad1/PadN)."""

    ip_proto: ClassVar[int | None] = 0


@dataclass
class IPv6DestOpts(_OptionsHeader):
    """IPv6 destination options header (raw options, padded with Pad1/PadN)."""

    ip_proto: ClassVar[int | None] = 60


@dataclass
class IPv6Routing(Layer):
    """IPv6 routing header in the type 0/2/3 layout: 4 reserved bytes, then addresses.
    ``segleft`` defaults to the number of addresses; bytes after the last whole address
    (SRH TLVs) are kept in ``extra``."""

    addresses: tuple[str, ...] = ()
    type: int = 0
    segleft: int | None = None
    reserved: int = 0
    extra: bytes = b""
    nh: int | None = None
    hdrlen: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"type": 8, "segleft": 8, "reserved": 32, "nh": 8, "hdrlen": 8}
    AUTO: ClassVar[tuple[str, ...]] = ("nh", "hdrlen")
    ip_proto: ClassVar[int | None] = 43

    def normalize(self) -> None:
        self.addresses = tuple(addresses.ip(a, 6, "IPv6Routing.addresses") for a in self.addresses)
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        body = b"".join(addresses.ip_bytes(a) for a in self.addresses) + _bytes_field(self, "extra")
        body += b"\x00" * (-len(body) % 8)
        hdrlen = self.hdrlen if self.hdrlen is not None else len(body) // 8
        segleft = self.segleft if self.segleft is not None else len(self.addresses)
        nh = self.nh if self.nh is not None else _next_number(frame, index, "ip_proto", "IPv6Routing.nh")
        if hdrlen > 0xFF or segleft > 0xFF:
            raise PacketError(f"IPv6Routing: {len(self.addresses)} addresses do not fit in one header")
        return struct.pack("!BBBBI", nh, hdrlen, self.type, segleft, self.reserved) + body + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 8)
        nh, hdrlen, rtype, segleft, reserved = struct.unpack_from("!BBBBI", data, offset)
        size = (hdrlen + 1) * 8
        _need(data, offset, size)
        body = data[offset + 8:offset + size]
        whole = len(body) // 16 * 16
        addrs = tuple(body[i:i + 16] for i in range(0, whole, 16))
        return cls(addrs, rtype, segleft, reserved, body[whole:], nh, hdrlen), size, None

    def next_layer(self) -> type[Layer] | None:
        return IP_PROTOS.get(self.nh)

    def summary(self) -> str:
        return f"IPv6Routing type {self.type} segleft {self.segleft}"


@dataclass
class IPv6Fragment(Layer):
    """IPv6 fragment header; ``offset`` in 8-byte units, ``m`` = more fragments."""

    id: int = 0
    offset: int = 0
    m: int = 0
    nh: int | None = None
    res: int = 0
    res2: int = 0

    WIDTHS: ClassVar[dict[str, int]] = {"id": 32, "offset": 13, "m": 1, "nh": 8, "res": 8, "res2": 2}
    AUTO: ClassVar[tuple[str, ...]] = ("nh",)
    ip_proto: ClassVar[int | None] = 44

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        nh = self.nh if self.nh is not None else _next_number(frame, index, "ip_proto", "IPv6Fragment.nh")
        return struct.pack("!BBHI", nh, self.res, self.offset << 3 | self.res2 << 1 | self.m, self.id) + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 8)
        nh, res, word, ident = struct.unpack_from("!BBHI", data, offset)
        return cls(id=ident, offset=word >> 3, m=word & 1, nh=nh, res=res, res2=word >> 1 & 3), 8, None

    def next_layer(self) -> type[Layer] | None:
        return None if self.offset else IP_PROTOS.get(self.nh)


# --- transport layer ---------------------------------------------------------------


def _pseudo(frame: Frame, index: int, proto: int, length: int, owner: str) -> bytes:
    """The pseudo header for the transport layer at ``index`` (RFC 768/793/8200 8.1)."""
    ip = frame.find_before(index, (IPv4, IPv6))
    if ip is None:
        raise PacketError(f"{owner}.chksum: no IPv4/IPv6 layer before it to take the pseudo header from; "
                          "set chksum explicitly")
    dst = ip.dst
    if isinstance(ip, IPv6):  # the final destination, when a routing header is still routing
        routing = frame.find_before(index, (IPv6Routing,))
        segleft = None if routing is None else (routing.segleft if routing.segleft is not None
                                                else len(routing.addresses))
        if routing is not None and segleft and routing.addresses:
            dst = routing.addresses[-1]
    return pseudo_header(ip.src, dst, proto, length)


_TCP_FLAGS = "FSRPAUEC"  # bit 0 (FIN) .. bit 7 (CWR), as tcpdump/scapy spell them


def tcp_flags(value: str | int) -> int:
    """TCP flags as an int from letters (``"SA"``) or an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xFF:
            raise PacketError(f"TCP.flags={value} does not fit in 8 bits")
        return value
    if isinstance(value, str):
        bits = 0
        for letter in value.upper():
            if letter not in _TCP_FLAGS:
                raise PacketError(f"TCP.flags={value!r}: {letter!r} is not one of {_TCP_FLAGS}")
            bits |= 1 << _TCP_FLAGS.index(letter)
        return bits
    raise PacketError(f"TCP.flags={value!r} must be letters like 'SA' or an int")


@dataclass
class TCP(Layer):
    """TCP. ``flags`` as letters F S R P A U E C (``"SA"`` = SYN+ACK); ``options``
    raw bytes padded with zeros (EOL) to 4 bytes."""

    sport: int = 1234
    dport: int = 80
    flags: str = "S"
    seq: int = 0
    ack: int = 0
    window: int = 65535
    options: bytes = b""
    urgptr: int = 0
    reserved: int = 0
    dataofs: int | None = None
    chksum: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"sport": 16, "dport": 16, "seq": 32, "ack": 32, "window": 16,
                                        "urgptr": 16, "reserved": 4, "dataofs": 4, "chksum": 16}
    AUTO: ClassVar[tuple[str, ...]] = ("dataofs", "chksum")
    ip_proto: ClassVar[int | None] = 6

    def normalize(self) -> None:
        bits = tcp_flags(self.flags)
        self.flags = "".join(letter for i, letter in enumerate(_TCP_FLAGS) if bits >> i & 1)
        super().normalize()

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        options = _bytes_field(self, "options", 40)
        options += b"\x00" * (-len(options) % 4)
        dataofs = self.dataofs if self.dataofs is not None else 5 + len(options) // 4
        segment = bytearray(struct.pack("!HHIIBBHHH", self.sport, self.dport, self.seq, self.ack,
                                        dataofs << 4 | self.reserved, tcp_flags(self.flags), self.window, 0,
                                        self.urgptr) + options + payload)
        if self.chksum is not None:
            chksum = self.chksum
        else:
            chksum = internet_checksum(_pseudo(frame, index, 6, len(segment), "TCP") + bytes(segment))
        struct.pack_into("!H", segment, 16, chksum)
        return bytes(segment)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 20)
        sport, dport, seq, ack, off, flags, window, chksum, urgptr = struct.unpack_from("!HHIIBBHHH",
                                                                                        data, offset)
        if off >> 4 < 5:
            raise Undecodable(f"TCP data offset is {off >> 4}, below the minimum 5")
        hlen = (off >> 4) * 4
        _need(data, offset, hlen)
        return cls(sport, dport, flags, seq, ack, window, data[offset + 20:offset + hlen], urgptr,
                   off & 0xF, off >> 4, chksum), hlen, None

    def summary(self) -> str:
        return f"TCP {self.sport} > {self.dport} [{self.flags}]"


@dataclass
class UDP(Layer):
    """UDP. A computed checksum of 0 is sent as 0xFFFF (RFC 768)."""

    sport: int = 1234
    dport: int = 53
    len: int | None = None
    chksum: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"sport": 16, "dport": 16, "len": 16, "chksum": 16}
    AUTO: ClassVar[tuple[str, ...]] = ("len", "chksum")
    ip_proto: ClassVar[int | None] = 17

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        length = self.len if self.len is not None else 8 + len(payload)
        if length > 0xFFFF:
            raise PacketError(f"UDP datagram of {length} bytes exceeds 65535")
        datagram = bytearray(struct.pack("!HHHH", self.sport, self.dport, length, 0) + payload)
        if self.chksum is not None:
            chksum = self.chksum
        else:
            chksum = internet_checksum(_pseudo(frame, index, 17, len(datagram), "UDP") + bytes(datagram))
            chksum = chksum or 0xFFFF
        struct.pack_into("!H", datagram, 6, chksum)
        return bytes(datagram)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 8)
        sport, dport, length, chksum = struct.unpack_from("!HHHH", data, offset)
        return cls(sport, dport, length, chksum), 8, max(length - 8, 0)

    def summary(self) -> str:
        return f"UDP {self.sport} > {self.dport}"


@dataclass
class ICMP(Layer):
    """ICMP for IPv4 (type 8 echo request, 0 echo reply); ``id``/``seq`` are the
    four bytes after the checksum (the rest-of-header of other types)."""

    type: int = 8
    code: int = 0
    id: int = 0
    seq: int = 0
    chksum: int | None = None

    WIDTHS: ClassVar[dict[str, int]] = {"type": 8, "code": 8, "id": 16, "seq": 16, "chksum": 16}
    AUTO: ClassVar[tuple[str, ...]] = ("chksum",)
    ip_proto: ClassVar[int | None] = 1

    def _pseudo(self, frame: Frame, index: int, length: int) -> bytes:
        return b""  # ICMPv4 covers only the ICMP message

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        message = bytearray(struct.pack("!BBHHH", self.type, self.code, 0, self.id, self.seq) + payload)
        if self.chksum is not None:
            chksum = self.chksum
        else:
            chksum = internet_checksum(self._pseudo(frame, index, len(message)) + bytes(message))
        struct.pack_into("!H", message, 2, chksum)
        return bytes(message)

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        _need(data, offset, 8)
        icmp_type, code, chksum, ident, seq = struct.unpack_from("!BBHHH", data, offset)
        return cls(icmp_type, code, ident, seq, chksum), 8, None

    def summary(self) -> str:
        return f"{type(self).__name__} type {self.type} code {self.code}"


@dataclass
class ICMPv6(ICMP):
    """ICMPv6 (type 128 echo request, 129 reply, 135/136 neighbour discovery);
    its checksum covers the IPv6 pseudo header."""

    type: int = 128
    ip_proto: ClassVar[int | None] = 58

    def _pseudo(self, frame: Frame, index: int, length: int) -> bytes:
        return _pseudo(frame, index, 58, length, "ICMPv6")


@dataclass
class Raw(Layer):
    """Payload bytes (``/ b"..."`` makes one)."""

    load: bytes = field(default=b"")

    def normalize(self) -> None:
        self.load = _bytes_field(self, "load")

    def encode(self, payload: bytes, frame: Frame, index: int) -> bytes:
        return self.load + payload

    @classmethod
    def parse(cls, data: bytes, offset: int) -> tuple[Layer, int, int | None]:
        return cls(data[offset:]), len(data) - offset, None

    def summary(self) -> str:
        return f"{type(self).__name__} {len(self.load)} bytes"


@dataclass
class Padding(Raw):
    """Bytes after the end an IP or UDP length states (e.g. Ethernet minimum-size padding)."""


#: EtherType -> layer (what follows Ethernet and VLAN tags)
ETHERTYPES: dict[int, type[Layer]] = {cls.ethertype: cls for cls in (IPv4, IPv6, ARP, Dot1Q, Dot1AD)}
#: IP protocol / IPv6 next header -> layer
IP_PROTOS: dict[int, type[Layer]] = {cls.ip_proto: cls for cls in (
    ICMP, TCP, UDP, ICMPv6, IPv4, IPv6, IPv6HopByHop, IPv6Routing, IPv6Fragment, IPv6DestOpts)}

#: every layer a packet can be built from
LAYERS: tuple[type[Layer], ...] = (Ether, Dot1Q, Dot1AD, ARP, IPv4, IPv6, IPv6HopByHop, IPv6DestOpts, IPv6Routing,
                                   IPv6Fragment, TCP, UDP, ICMP, ICMPv6, Raw, Padding)


def _field_names(cls: type[Layer]) -> list[str]:  # for error messages
    return [f.name for f in dataclasses.fields(cls)]


def make(name: str, **fields: Any) -> Layer:
    """A layer by class name (``make("UDP", dport=53)``), for table-driven tests."""
    for cls in LAYERS:
        if cls.__name__ == name:
            try:
                return cls(**fields)
            except TypeError:
                raise PacketError(f"{name} has fields {', '.join(_field_names(cls))}; got "
                                  f"{', '.join(fields)}") from None
    raise PacketError(f"no layer named {name!r} (choose from {', '.join(c.__name__ for c in LAYERS)})")
