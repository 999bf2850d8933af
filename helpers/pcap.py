"""Reading and writing packet captures: pcap (either byte order, micro- or
nanosecond timestamps) and pcapng (section header, interface description,
enhanced/simple/obsolete packet blocks; several interfaces and sections).

Captures are untrusted input: every malformed file ends in a
:class:`~ebpflite.errors.PcapError` that names the file and the byte offset
(a truncated record, a bad block length, a magic number that is no capture),
and a link type other than Ethernet is refused by name, because XDP programs
expect Ethernet frames.

The reader maps the file and walks the record headers with ``struct``, so
reading 100k packets costs well under a second; :func:`pack` lays many
packets into one numpy buffer (offsets and lengths beside it) for batch runs.
"""

from __future__ import annotations

import mmap
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ebpflite.vm.errors import PcapError

LINKTYPE_ETHERNET = 1

#: link types a capture may declare, for error messages (tcpdump.org/linktypes.html)
LINKTYPE_NAMES = {
    0: "NULL (BSD loopback)", 1: "ETHERNET", 6: "IEEE802_5", 8: "SLIP", 9: "PPP", 10: "FDDI",
    12: "RAW (IP, OpenBSD numbering)", 14: "RAW (IP, BSD/OS numbering)", 101: "RAW (IP)",
    105: "IEEE802_11 (Wi-Fi)", 108: "LOOP (OpenBSD loopback)", 113: "LINUX_SLL (Linux cooked capture)",
    127: "IEEE802_11_RADIOTAP", 147: "USER0", 187: "BLUETOOTH_HCI_H4", 195: "IEEE802_15_4_WITHFCS",
    220: "USB_LINUX_MMAPPED", 228: "IPV4", 229: "IPV6", 239: "NFLOG", 249: "USBPCAP",
    276: "LINUX_SLL2 (Linux cooked capture v2)",
}

_PCAP_MAGICS = {  # first four bytes -> (struct byte order, nanosecond timestamps)
    b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BOMS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

# pcapng block types
_SHB, _IDB, _OPB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_OPT_END, _IF_TSRESOL, _IF_TSOFFSET = 0, 9, 14


def linktype_name(linktype: int) -> str:
    return f"{linktype} ({LINKTYPE_NAMES.get(linktype, 'unknown')})"


@dataclass(slots=True)
class Packet:
    """One captured packet. ``ts_ns`` is the exact timestamp in nanoseconds since
    the epoch (``ts`` the same in float seconds); ``orig_len`` the length on the
    wire (larger than ``len(data)`` when the capture was cut at the snap length)."""

    data: bytes
    ts_ns: int = 0
    orig_len: int = -1
    linktype: int = LINKTYPE_ETHERNET
    interface: int = 0

    def __post_init__(self) -> None:
        if self.orig_len < 0:
            self.orig_len = len(self.data)

    @property
    def ts(self) -> float:
        return self.ts_ns / 1e9


# --- reading ---------------------------------------------------------------------------


class _Source:
    """The capture's bytes (mapped from a file, or given) and its name for messages."""

    def __init__(self, source: str | Path | bytes | bytearray | memoryview):
        self._map: mmap.mmap | None = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.name = "<capture bytes>"
            self.data: Any = bytes(source)
            return
        self.name = str(source)
        try:
            with open(source, "rb") as fh:
                size = fh.seek(0, 2)
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except OSError as exc:
            raise PcapError(f"{self.name}: cannot read the capture: {exc.strerror or exc}") from None
        self.data = self._map if self._map is not None else b""

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def error(self, offset: int, message: str) -> PcapError:
        return PcapError(f"{self.name}: offset {offset} (0x{offset:x}): {message}")


def iter_packets(source: str | Path | bytes, ethernet_only: bool = True) -> Iterator[Packet]:
    """The packets of a pcap or pcapng capture, one at a time.

    With ``ethernet_only`` (the default) a capture, or a pcapng interface a
    packet arrives on, with another link type raises :class:`PcapError`.
    """
    src = _Source(source)
    try:
        data = src.data
        if len(data) < 4:
            raise PcapError(f"{src.name}: not a capture: the file is {len(data)} bytes long")
        magic = bytes(data[:4])
        if magic in _PCAP_MAGICS:
            yield from _read_pcap(src, *_PCAP_MAGICS[magic], ethernet_only)
        elif magic == _PCAPNG_SHB:
            yield from _read_pcapng(src, ethernet_only)
        else:
            raise src.error(0, f"not a pcap or pcapng file (magic bytes {magic.hex(' ')})")
    finally:
        src.close()


def read_packets(source: str | Path | bytes, ethernet_only: bool = True) -> list[Packet]:
    """All packets of a capture as a list (see :func:`iter_packets`)."""
    return list(iter_packets(source, ethernet_only))


def _check_linktype(src: _Source, offset: int, linktype: int, ethernet_only: bool) -> None:
    if ethernet_only and linktype != LINKTYPE_ETHERNET:
        raise src.error(offset, f"link type {linktype_name(linktype)} is not Ethernet; only Ethernet "
                                f"(link type 1) captures can be run through XDP programs")


def _read_pcap(src: _Source, order: str, nanosecond: bool, ethernet_only: bool) -> Iterator[Packet]:
    data = src.data
    if len(data) < 24:
        raise src.error(len(data), f"truncated pcap file header: 24 bytes needed, {len(data)} present")
    major, minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(order + "HHiIII", data, 4)
    if major != 2:
        raise src.error(4, f"unsupported pcap version {major}.{minor} (only 2.x exists)")
    linktype = network & 0x0FFFFFFF  # the top bits may carry FCS information
    _check_linktype(src, 20, linktype, ethernet_only)
    record = struct.Struct(order + "IIII")
    scale = 1 if nanosecond else 1000
    offset, index, end = 24, 0, len(data)
    while offset < end:
        if end - offset < 16:
            raise src.error(offset, f"truncated record header of packet {index}: 16 bytes needed, "
                                    f"{end - offset} remain")
        sec, frac, caplen, orig_len = record.unpack_from(data, offset)
        start = offset + 16
        if caplen > end - start:
            raise src.error(offset, f"truncated packet {index}: its record says {caplen} bytes, "
                                    f"{end - start} remain")
        yield Packet(data[start:start + caplen], sec * 1_000_000_000 + frac * scale, orig_len, linktype)
        offset = start + caplen
        index += 1


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    tsresol: tuple[int, int] = (10, 6)  # timestamp unit = base ** -exponent seconds
    tsoffset: int = 0  # seconds

    def to_ns(self, units: int) -> int:
        base, exp = self.tsresol
        if base == 10:
            ns = units * 10 ** (9 - exp) if exp <= 9 else units // 10 ** (exp - 9)
        else:
            ns = units * 1_000_000_000 >> exp
        return ns + self.tsoffset * 1_000_000_000


def _options(src: _Source, order: str, data: Any, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(code, value) of the options between ``start`` and ``end`` (skipping what we don't use)."""
    offset = start
    while offset + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, offset)
        if code == _OPT_END:
            return
        if offset + 4 + length > end:
            raise src.error(offset, f"option {code} of {length} bytes runs past the end of its block")
        yield code, bytes(data[offset + 4:offset + 4 + length])
        offset += 4 + length + (-length % 4)


def _read_pcapng(src: _Source, ethernet_only: bool) -> Iterator[Packet]:
    data = src.data
    end = len(data)
    offset = 0
    order = "<"
    interfaces: list[_Interface] = []
    index = 0
    while offset < end:
        if end - offset < 12:
            raise src.error(offset, f"truncated block header: 12 bytes needed, {end - offset} remain")
        if bytes(data[offset:offset + 4]) == _PCAPNG_SHB:
            bom = bytes(data[offset + 8:offset + 12])
            if bom not in _PCAPNG_BOMS:
                raise src.error(offset + 8, f"section header with an invalid byte-order magic ({bom.hex(' ')})")
            order = _PCAPNG_BOMS[bom]
            interfaces = []  # interface ids are per section
        btype, blen = struct.unpack_from(order + "II", data, offset)
        if blen < 12 or blen % 4:
            raise src.error(offset, f"block of type {btype:#x} has an invalid length {blen} "
                                    "(must be a multiple of 4, at least 12)")
        if blen > end - offset:
            raise src.error(offset, f"truncated block of type {btype:#x}: it says {blen} bytes, "
                                    f"{end - offset} remain")
        (trailer,) = struct.unpack_from(order + "I", data, offset + blen - 4)
        if trailer != blen:
            raise src.error(offset + blen - 4, f"block of type {btype:#x} ends with length {trailer}, "
                                               f"but starts with {blen}")
        body, body_end = offset + 8, offset + blen - 4
        if btype == _SHB:
            if blen < 28:
                raise src.error(offset, f"section header block of {blen} bytes is too short (at least 28)")
            (major,) = struct.unpack_from(order + "H", data, body + 4)
            if major != 1:
                raise src.error(body + 4, f"unsupported pcapng version {major} (only 1.x exists)")
        elif btype == _IDB:
            if body_end - body < 8:
                raise src.error(offset, "interface description block is too short")
            linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", data, body)
            iface = _Interface(linktype, snaplen)
            for code, value in _options(src, order, data, body + 8, body_end):
                if code == _IF_TSRESOL and len(value) >= 1:
                    iface.tsresol = (2, value[0] & 0x7F) if value[0] & 0x80 else (10, value[0])
                elif code == _IF_TSOFFSET and len(value) >= 8:
                    (iface.tsoffset,) = struct.unpack(order + "q", value[:8])
            interfaces.append(iface)
        elif btype in (_EPB, _OPB, _SPB):
            yield _packet_block(src, order, data, btype, offset, body, body_end, interfaces, index,
                                ethernet_only)
            index += 1
        offset += blen


def _packet_block(src: _Source, order: str, data: Any, btype: int, offset: int, body: int, body_end: int,
                  interfaces: list[_Interface], index: int, ethernet_only: bool) -> Packet:
    """One enhanced, obsolete or simple packet block as a Packet."""
    if btype == _SPB:
        fixed = 4
        if body_end - body < fixed:
            raise src.error(offset, f"simple packet block (packet {index}) is too short")
        iface_id, ts_units = 0, None
        (orig_len,) = struct.unpack_from(order + "I", data, body)
        caplen = min(orig_len, body_end - body - fixed)
        if interfaces and interfaces[0].snaplen:
            caplen = min(caplen, interfaces[0].snaplen)
    else:
        fixed = 20
        if body_end - body < fixed:
            raise src.error(offset, f"packet block (packet {index}) is too short")
        if btype == _EPB:
            iface_id, ts_hi, ts_lo, caplen, orig_len = struct.unpack_from(order + "IIIII", data, body)
        else:
            iface_id, _drops, ts_hi, ts_lo, caplen, orig_len = struct.unpack_from(order + "HHIIII", data, body)
        ts_units = ts_hi << 32 | ts_lo
        if caplen > body_end - body - fixed:
            raise src.error(offset, f"truncated packet {index}: its block says {caplen} captured bytes, "
                                    f"the block holds {body_end - body - fixed}")
    if iface_id >= len(interfaces):
        raise src.error(offset, f"packet {index} refers to interface {iface_id}, but the section "
                                f"describes {len(interfaces)} interface(s) before it")
    iface = interfaces[iface_id]
    _check_linktype(src, offset, iface.linktype, ethernet_only)
    start = body + fixed
    ts_ns = iface.to_ns(ts_units) if ts_units is not None else 0
    return Packet(data[start:start + caplen], ts_ns, orig_len, iface.linktype, iface_id)


# --- streaming ---------------------------------------------------------------------------

#: the largest captured length a classic pcap record may declare (libpcap's MAXIMUM_SNAPLEN),
#: unless the file header's snap length is larger: anything above is a corrupt record
MAX_SNAPLEN = 262144
#: the largest pcapng block the stream accepts (a packet of MAX_SNAPLEN with generous options)
MAX_BLOCK = 16 << 20
#: a chunk's bytes and packets: small enough that the chunk read, walked and replayed stays in the
#: CPU caches between those steps (measured: 2 MB chunks replay 1M packets 20-40% faster than 8 MB)
DEFAULT_CHUNK_BYTES = 2 << 20
DEFAULT_CHUNK_PACKETS = 8192


@dataclass
class PacketChunk:
    """Consecutive packets of a capture, as arrays over one buffer (no object per packet).

    Packet ``i`` is ``buf[offsets[i]:offsets[i] + lengths[i]]``, captured at
    ``ts_ns[i]`` with ``orig_lengths[i]`` bytes on the wire. The arrays and
    the buffer belong to the stream and are reused for the next chunk: copy
    what must outlive it.
    """

    buf: np.ndarray  #: uint8, the bytes as read from the file
    offsets: np.ndarray  #: int64
    lengths: np.ndarray  #: uint32, captured bytes
    orig_lengths: np.ndarray  #: uint32, bytes on the wire
    ts_ns: np.ndarray  #: uint64, nanoseconds since the epoch
    interfaces: np.ndarray  #: uint32, the pcapng interface (0 for pcap)
    first_index: int  #: index of the chunk's first packet in the capture
    file_offset: int  #: file offset of ``buf[0]``

    def __len__(self) -> int:
        return len(self.offsets)

    def data(self, i: int) -> bytes:
        start = int(self.offsets[i])
        return self.buf[start:start + int(self.lengths[i])].tobytes()

    def packet(self, i: int, linktype: int = LINKTYPE_ETHERNET) -> Packet:
        return Packet(self.data(i), int(self.ts_ns[i]), int(self.orig_lengths[i]), linktype,
                      int(self.interfaces[i]))

    def packets(self) -> Iterator[Packet]:
        return (self.packet(i) for i in range(len(self)))

    def record_offset(self, i: int) -> int:
        """File offset of packet ``i``'s data (for messages)."""
        return self.file_offset + int(self.offsets[i])


class CaptureStream:
    """A pcap or pcapng capture read in chunks of at most ``chunk_bytes`` (memory stays bounded).

    Iterating gives :class:`PacketChunk` objects of up to ``chunk_packets``
    packets. The records are found by a native walker (helpers/pcapscan.py)
    over each chunk read from the file, so a packet costs no Python object.
    ``source`` is a path, bytes, or a binary file object (a pipe works: the
    file is read front to back once).

    Bad input raises :class:`PcapError` naming the file, the record (packet
    index) and its byte offset: a record whose length is impossible, a
    pcapng block whose lengths disagree, a link type other than Ethernet for
    the whole capture. Two cases are skipped and counted in :attr:`skipped`
    instead, because the packets before them are good and users want them:
    a last record cut short (a capture stopped mid-write; ``"truncated
    record"``), and, in pcapng, packets of a non-Ethernet interface when
    another interface is Ethernet (``"non-Ethernet interface"``).
    ``strict=True`` raises for those too.
    """

    def __init__(self, source: str | Path | bytes | Any, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 chunk_packets: int = DEFAULT_CHUNK_PACKETS, strict: bool = False):
        if chunk_bytes < 64 or chunk_packets < 1:
            raise PcapError(f"chunk_bytes must be at least 64 and chunk_packets at least 1 "
                            f"(got {chunk_bytes}, {chunk_packets})")
        self.strict = strict
        self.chunk_packets = chunk_packets
        self.skipped: dict[str, int] = {}
        self.warnings: list[str] = []
        self.packets = 0
        self._own = False
        if isinstance(source, (bytes, bytearray, memoryview)):
            import io

            self.name = "<capture bytes>"
            self._fh: Any = io.BytesIO(bytes(source))
        elif isinstance(source, (str, Path)):
            self.name = str(source)
            try:
                self._fh = open(source, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise PcapError(f"{self.name}: cannot read the capture: {exc.strerror or exc}") from None
            self._own = True
        else:
            self.name = getattr(source, "name", "<capture stream>")
            self._fh = source
        self._buf = np.empty(max(chunk_bytes, 64), dtype=np.uint8)
        self._fill = 0
        self._base = 0  # file offset of _buf[0]
        self._eof = False
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- the file ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._own and self._fh is not None:
            self._fh.close()
        self._fh = None

    def __enter__(self) -> CaptureStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _error(self, offset: int, message: str) -> PcapError:
        return PcapError(f"{self.name}: offset {offset} (0x{offset:x}): {message}")

    def _read_more(self, pos: int, need: int = 0) -> int:
        """Move ``_buf[pos:_fill]`` to the front and read on; returns the new position of ``pos``
        (0). Grows the buffer when ``need`` bytes from ``pos`` cannot fit."""
        keep = self._fill - pos
        if need > len(self._buf):
            grown = np.empty(need, dtype=np.uint8)
            grown[:keep] = self._buf[pos:self._fill]
            self._buf = grown
        elif keep:
            self._buf[:keep] = self._buf[pos:self._fill]
        self._base += pos
        self._fill = keep
        while self._fill < len(self._buf) and not self._eof:
            got = self._fh.readinto(memoryview(self._buf)[self._fill:])
            if not got:
                self._eof = True
                break
            self._fill += got
        return 0

    @property
    def bytes_read(self) -> int:
        """Bytes read from the capture so far (for progress)."""
        return self._base + self._fill

    def _bytes(self, pos: int, n: int) -> bytes:
        return self._buf[pos:pos + n].tobytes()

    def _open(self) -> None:
        self._read_more(0)
        if self._fill < 4:
            raise PcapError(f"{self.name}: not a capture: the file is {self._fill} bytes long")
        magic = self._bytes(0, 4)
        if magic in _PCAP_MAGICS:
            self.format = "pcap"
            order, self.nanosecond = _PCAP_MAGICS[magic]
            if self._fill < 24:
                raise self._error(self._fill, f"truncated pcap file header: 24 bytes needed, {self._fill} present")
            major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", self._bytes(4, 20))
            if major != 2:
                raise self._error(4, f"unsupported pcap version {major}.{minor} (only 2.x exists)")
            self.linktype = network & 0x0FFFFFFF
            if self.linktype != LINKTYPE_ETHERNET:
                raise self._error(20, f"link type {linktype_name(self.linktype)} is not Ethernet; only Ethernet "
                                      f"(link type 1) captures can be run through XDP programs")
            self.snaplen = snaplen
            self._order = order
            self._start = 24
        elif magic == _PCAPNG_SHB:
            self.format = "pcapng"
            self.linktype = LINKTYPE_ETHERNET
            self.nanosecond = True
            self._order = "<"
            self._interfaces: list[_Interface] = []
            self._start = 0
        else:
            raise self._error(0, f"not a pcap or pcapng file (magic bytes {magic.hex(' ')})")

    def _flags(self) -> int:
        from ebpflite.helpers import pcapscan

        native = "<" if sys.byteorder == "little" else ">"
        flags = pcapscan.SWAP if self._order != native else 0
        return flags | (pcapscan.NANO if self.format == "pcap" and self.nanosecond else 0)

    # -- chunks ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PacketChunk]:
        from ebpflite.helpers import pcapscan

        Scan = pcapscan.Scan
        walker = pcapscan.Walker(pcapscan.PCAP_NAME if self.format == "pcap" else pcapscan.PCAPNG_NAME,
                                 self.chunk_packets)
        pos = self._start
        flags = self._flags()
        limit = max(MAX_SNAPLEN, getattr(self, "snaplen", 0)) if self.format == "pcap" else MAX_BLOCK
        while True:
            n, stop = 0, Scan.FULL
            while n < self.chunk_packets:
                got, pos, stop = walker.walk(self._buf, self._fill, pos, flags, n, limit)
                n += got
                if stop is Scan.OTHER:  # pcapng: one block for Python, when it is all in the buffer
                    done = self._pcapng_block(walker, pos, n)
                    if done is None:
                        stop = Scan.NEED_MORE
                        break
                    pos, n = done
                    flags = self._flags()  # a new section may change the byte order
                    continue
                if stop is Scan.NEED_MORE and n == 0 and not self._eof:
                    pos = self._read_more(pos, self._record_size(pos))
                    continue
                break
            if n:  # the buffer may only move once these packets are consumed
                yield self._chunk(walker, n)
            if stop is Scan.CORRUPT:
                (caplen,) = struct.unpack(self._order + "I", self._bytes(pos + 8, 4))
                raise self._error(self._base + pos, f"corrupt record of packet {self.packets}: it says {caplen} "
                                                    f"captured bytes, more than the {limit} any record may hold")
            if stop is Scan.NEED_MORE:
                if self._eof:  # what is left is a record cut short (or nothing)
                    if pos < self._fill:
                        self._truncated(pos)
                    return
                pos = self._read_more(pos, self._record_size(pos))

    def _record_size(self, pos: int) -> int:
        """Bytes the record at ``pos`` needs, once its header is in the buffer (else 0)."""
        if self.format == "pcap":
            if self._fill - pos < 16:
                return 0
            (caplen,) = struct.unpack(self._order + "I", self._bytes(pos + 8, 4))
            return 16 + caplen
        if self._fill - pos < 12:
            return 0
        (blen,) = struct.unpack(self._order + "I", self._bytes(pos + 4, 4))
        return blen if blen <= MAX_BLOCK else 0

    def _truncated(self, pos: int) -> None:
        """The capture ends inside the record at ``pos``: skip it (counted), or raise when strict
        or when it is not a packet (a cut section or interface header is a broken file)."""
        remain = self._fill - pos
        need = self._record_size(pos)
        packet = True
        if self.format == "pcapng" and remain >= 4:
            (btype,) = struct.unpack(self._order + "I", self._bytes(pos, 4))
            packet = btype in (_EPB, _SPB, _OPB)
        what = "record" if self.format == "pcap" else "block"
        message = (f"truncated {what} of packet {self.packets}: "
                   + (f"it says {need} bytes, {remain} remain" if need else f"{remain} bytes of its header remain"))
        if self.strict or not packet:
            if not packet:
                message = f"truncated block at the end of the file: {remain} bytes of {need or 'a header'} remain"
            raise self._error(self._base + pos, message)
        self.skipped["truncated record"] = self.skipped.get("truncated record", 0) + 1
        self.warnings.append(f"{self.name}: offset {self._base + pos}: {message} (skipped)")

    def _chunk(self, walker: Any, n: int) -> PacketChunk:
        if self.format == "pcapng":
            self._pcapng_times(walker, n)
            self._converted = 0
        chunk = PacketChunk(self._buf, walker.offsets[:n], walker.caplens[:n], walker.origlens[:n], walker.ts[:n],
                            walker.ifaces[:n],
                            self.packets, self._base)
        self.packets += n
        return chunk

    # -- pcapng blocks the walker leaves to Python --------------------------------------------
    def _pcapng_times(self, walker: Any, n: int) -> None:
        """Interface units -> nanoseconds, in place, for the packets indexed since the last call
        (before a new section replaces the interfaces; simple packet blocks have time 0)."""
        from ebpflite.helpers.pcapscan import SPB_MARK

        start = getattr(self, "_converted", 0)
        ts, ifaces = walker.ts[start:n], walker.ifaces[start:n]
        self._converted = n
        spb = (ifaces & SPB_MARK) != 0
        ifaces &= ~np.uint32(SPB_MARK)
        for iface_id in np.unique(ifaces[~spb]).tolist():
            mask = (ifaces == iface_id) & ~spb
            ts[mask] = _units_to_ns(ts[mask], self._interfaces[iface_id])
        ts[spb] = 0

    def _pcapng_block(self, walker: Any, pos: int, n: int) -> tuple[int, int] | None:
        """Handle the block at ``pos`` in Python: section and interface headers update the walker;
        a packet the walker declined is added at slot ``n`` (or skipped, or refused). None when
        the block is not all in the buffer yet (the caller reads on first)."""
        offset = self._base + pos
        if self._bytes(pos, 4) == _PCAPNG_SHB:
            bom = self._bytes(pos + 8, 4)
            if bom not in _PCAPNG_BOMS:
                raise self._error(offset + 8, f"section header with an invalid byte-order magic ({bom.hex(' ')})")
            self._order = _PCAPNG_BOMS[bom]
        order = self._order
        btype, blen = struct.unpack(order + "II", self._bytes(pos, 8))
        if blen < 12 or blen % 4:
            raise self._error(offset, f"block of type {btype:#x} has an invalid length {blen} "
                                      "(must be a multiple of 4, at least 12)")
        if blen > MAX_BLOCK:
            raise self._error(offset, f"block of type {btype:#x} says it is {blen} bytes long, more than "
                                      f"the {MAX_BLOCK} any block may be (a corrupt file?)")
        if blen > self._fill - pos:
            if not self._eof:
                return None
            if self.strict or btype not in (_EPB, _SPB, _OPB):
                raise self._error(offset, f"truncated block of type {btype:#x}: it says {blen} bytes, "
                                          f"{self._fill - pos} remain")
            self._truncated(pos)
            self._fill = pos  # nothing more to read or walk
            return pos, n
        (trailer,) = struct.unpack(order + "I", self._bytes(pos + blen - 4, 4))
        if trailer != blen:
            raise self._error(offset + blen - 4, f"block of type {btype:#x} ends with length {trailer}, "
                                                 f"but starts with {blen}")
        body, body_end = pos + 8, pos + blen - 4
        src = _BufferSource(self.name, self._buf, self._base)
        if btype == _SHB:
            if blen < 28:
                raise self._error(offset, f"section header block of {blen} bytes is too short (at least 28)")
            (major,) = struct.unpack(order + "H", self._bytes(body + 4, 2))
            if major != 1:
                raise self._error(self._base + body + 4, f"unsupported pcapng version {major} (only 1.x exists)")
            self._pcapng_times(walker, n)  # this section's interfaces end here
            self._interfaces = []
            walker.set_interfaces([])
        elif btype == _IDB:
            if body_end - body < 8:
                raise self._error(offset, "interface description block is too short")
            linktype, _reserved, snaplen = struct.unpack(order + "HHI", self._bytes(body, 8))
            iface = _Interface(linktype, snaplen)
            for code, value in _options(src, order, self._buf, body + 8, body_end):
                if code == _IF_TSRESOL and len(value) >= 1:
                    iface.tsresol = (2, value[0] & 0x7F) if value[0] & 0x80 else (10, value[0])
                elif code == _IF_TSOFFSET and len(value) >= 8:
                    (iface.tsoffset,) = struct.unpack(order + "q", value[:8])
            self._interfaces.append(iface)
            walker.set_interfaces([(i.linktype == LINKTYPE_ETHERNET, i.snaplen) for i in self._interfaces])
        elif btype in (_EPB, _OPB, _SPB):
            n = self._python_packet(walker, src, btype, pos, body, body_end, n)
        return pos + blen, n

    def _python_packet(self, walker: Any, src: Any, btype: int, pos: int, body: int, body_end: int, n: int) -> int:
        """A packet block the walker declined (obsolete block, other link type, a bad length)."""
        from ebpflite.helpers.pcapscan import SPB_MARK

        index = self.packets + n
        packet = _packet_block(src, self._order, self._buf, btype, pos, body, body_end, self._interfaces, index,
                               ethernet_only=False)
        if packet.linktype != LINKTYPE_ETHERNET:
            ethernet = any(i.linktype == LINKTYPE_ETHERNET for i in self._interfaces)
            if self.strict or not ethernet:
                raise self._error(self._base + pos, f"packet {index} is on interface {packet.interface} of link "
                                                     f"type {linktype_name(packet.linktype)}, not Ethernet; only "
                                                     "Ethernet frames can be run through XDP programs")
            self.skipped["non-Ethernet interface"] = self.skipped.get("non-Ethernet interface", 0) + 1
            return n
        walker.offsets[n] = body + (4 if btype == _SPB else 20)
        walker.caplens[n] = len(packet.data)
        walker.origlens[n] = packet.orig_len
        walker.ifaces[n] = SPB_MARK if btype == _SPB else packet.interface
        walker.ts[n] = 0
        if btype == _EPB:
            _iface, hi, lo = struct.unpack(self._order + "III", self._bytes(body, 12))
            walker.ts[n] = hi << 32 | lo
        elif btype == _OPB:
            hi, lo = struct.unpack(self._order + "II", self._bytes(body + 4, 8))
            walker.ts[n] = hi << 32 | lo
        return n + 1


def _units_to_ns(units: np.ndarray, iface: _Interface) -> np.ndarray:
    """Timestamps in an interface's units as nanoseconds (exactly as ``_Interface.to_ns``)."""
    base, exp = iface.tsresol
    offset = iface.tsoffset * 1_000_000_000
    top = int(units.max()) if len(units) else 0
    if base == 10 and exp <= 9 and top * 10 ** (9 - exp) + abs(offset) < 1 << 63:
        return (units.astype(np.int64) * 10 ** (9 - exp) + offset).astype(np.uint64)
    if base == 10 and 9 < exp <= 28 and top // 10 ** (exp - 9) + abs(offset) < 1 << 63:
        return ((units // np.uint64(10 ** (exp - 9))).astype(np.int64) + offset).astype(np.uint64)
    # binary fractions and extreme values: exact Python integers (wrapping like the uint64 array)
    return np.array([iface.to_ns(int(u)) & (1 << 64) - 1 for u in units.tolist()], dtype=np.uint64)


class _BufferSource:
    """What _options/_packet_block need of a source: a name and error(offset, message)."""

    def __init__(self, name: str, data: Any, base: int):
        self.name = name
        self.data = data
        self.base = base

    def error(self, offset: int, message: str) -> PcapError:
        offset += self.base
        return PcapError(f"{self.name}: offset {offset} (0x{offset:x}): {message}")


def stream_packets(source: str | Path | bytes | Any, **options: Any) -> CaptureStream:
    """A :class:`CaptureStream` over ``source`` (iterate it for chunks; use it as a context manager)."""
    return CaptureStream(source, **options)


# --- writing ---------------------------------------------------------------------------


def _as_packet(item: Any) -> Packet:
    """Packets, bytes or anything ``bytes()`` accepts (a built Frame)."""
    return item if isinstance(item, Packet) else Packet(bytes(item))


def write_pcap(path: str | Path, packets: Iterable[Any], nanosecond: bool = False, byteorder: str = "<",
               linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144) -> int:
    """Write a classic pcap file; returns the number of packets written.

    ``packets`` may hold :class:`Packet` objects, bytes, or built frames.
    """
    if byteorder not in ("<", ">"):
        raise PcapError(f"byteorder must be '<' or '>', not {byteorder!r}")
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    record = struct.Struct(byteorder + "IIII")
    count = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for item in packets:
            pkt = _as_packet(item)
            sec, ns = divmod(pkt.ts_ns, 1_000_000_000)
            frac = ns if nanosecond else ns // 1000
            fh.write(record.pack(sec, frac, len(pkt.data), max(pkt.orig_len, len(pkt.data))))
            fh.write(pkt.data)
            count += 1
    return count


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def write_pcapng(path: str | Path, packets: Iterable[Any], byteorder: str = "<") -> int:
    """Write a pcapng file with nanosecond timestamps, one interface per distinct
    ``Packet.interface`` (each with the link type of its first packet)."""
    if byteorder not in ("<", ">"):
        raise PcapError(f"byteorder must be '<' or '>', not {byteorder!r}")
    items = [_as_packet(p) for p in packets]
    ids: dict[int, int] = {}
    o = byteorder
    out = [_block(o, _SHB, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for pkt in items:
        if pkt.interface not in ids:
            ids[pkt.interface] = len(ids)
            tsresol = struct.pack(o + "HH", _IF_TSRESOL, 1) + b"\x09\x00\x00\x00"
            out.append(_block(o, _IDB, struct.pack(o + "HHI", pkt.linktype, 0, 0) + tsresol
                              + struct.pack(o + "HH", _OPT_END, 0)))
    for pkt in items:
        ts = pkt.ts_ns
        out.append(_block(o, _EPB, struct.pack(o + "IIIII", ids[pkt.interface], ts >> 32, ts & 0xFFFFFFFF,
                                               len(pkt.data), max(pkt.orig_len, len(pkt.data))) + pkt.data))
    Path(path).write_bytes(b"".join(out))
    return len(items)


# --- batches ---------------------------------------------------------------------------


def pack(packets: Iterable[Any], headroom: int = 0, align: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many packets in one uint8 buffer: ``(buf, offsets, lengths)``.

    Packet ``i`` is ``buf[offsets[i]:offsets[i] + lengths[i]]``; ``headroom``
    free bytes precede each packet (XDP programs may grow it forwards) and each
    packet's slot starts on a multiple of ``align``.
    """
    if headroom < 0 or align < 1:
        raise PcapError(f"pack: headroom must be >= 0 and align >= 1 (got {headroom}, {align})")
    datas = [p.data if isinstance(p, Packet) else bytes(p) for p in packets]
    lengths = np.fromiter((len(d) for d in datas), dtype=np.int64, count=len(datas))
    slots = headroom + lengths
    slots += -slots % align
    starts = np.zeros(len(datas), dtype=np.int64)
    if len(datas) > 1:
        np.cumsum(slots[:-1], out=starts[1:])
    pad = b"\x00" * headroom
    parts = []
    for d, slot in zip(datas, slots.tolist(), strict=True):
        parts.append(pad)
        parts.append(d)
        parts.append(b"\x00" * (slot - headroom - len(d)))
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
    return buf, starts + headroom, lengths
