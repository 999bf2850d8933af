"""What ``r1`` points to when a program starts: XDP (Linux and Windows), bind, raw contexts.

Each context owns its buffers, adds its regions to a run's address space
(:meth:`Context.attach`), gives the entry registers, and after the run hands
back the output packet and context bytes the way ``BPF_PROG_TEST_RUN`` does.

XDP (:class:`XdpContext`) follows the kernel's test run (net/bpf/test_run.c)
so results agree with ``bpftool prog run``:

- the packet sits in a 4096-byte frame after ``XDP_HEADROOM`` (256) bytes of
  headroom; the last ``XDP_TAILROOM`` (320, the aligned ``skb_shared_info``)
  bytes are reserved, so a linear packet holds at most 3520 bytes;
- ``data_meta`` starts equal to ``data``; ``bpf_xdp_adjust_head`` may not
  move ``data`` into the first 40 bytes (``struct xdp_frame``) nor leave
  less than 14 bytes; ``adjust_tail`` keeps at least 14 bytes and stays in
  the frame; ``adjust_meta`` keeps the metadata 4-byte aligned and at most
  255 bytes (so 252; kernels before 6.x allowed 32). Failures are ``-EINVAL``/``-EACCES`` like the kernel's;
- packets shorter than 14 bytes are refused (the kernel's ``EINVAL``);
- the output packet runs from ``data_meta`` to ``data_end``.

The frame and the Linux ``xdp_md`` come from :func:`vm.memory.low_alloc`
(below 2 GiB), so the u32 ``data``/``data_end``/``data_meta`` fields hold
the real addresses and programs compiled by clang (32-bit loads) run
unchanged in both engines, with no context-access rewriting. The packet is
one region from ``data_meta`` to ``data_end``: any access outside it is a
MemoryFault, as the verifier's bounds checks would have refused it.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

import numpy as np

from ebpflite.vm.contexts import (  # noqa: F401 - the frame geometry is re-exported here
    ETH_HLEN,
    XDP_FRAME_SIZE,
    XDP_FRAME_STRUCT,
    XDP_HEADROOM,
    XDP_MAX_DATA,
    XDP_META_MAX,
    XDP_TAILROOM,
    descriptor,
)
from ebpflite.vm.errors import ContextError
from ebpflite.vm.memory import AddressSpace, Region, low_alloc

EACCES = 13
EINVAL = 22
EFAULT = 14


BIND_OPERATIONS = {"bind": 0, "post_bind": 1, "unbind": 2}

# Layouts and action names come from the one table of context descriptors (vm/contexts.py),
# which the verifier and the JIT batch loop read too.
_LINUX_XDP = descriptor("xdp", "linux")
_WINDOWS_XDP = descriptor("xdp", "windows")
LINUX_XDP_ACTIONS = _LINUX_XDP.actions
WINDOWS_XDP_ACTIONS = _WINDOWS_XDP.actions
BIND_ACTIONS = descriptor("bind", "windows").actions
#: Linux xdp_md: six u32 (data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex)
LINUX_XDP_MD = _LINUX_XDP.layout
#: ebpf-for-windows xdp_md_t: data, data_end, data_meta (u64), ingress_ifindex (u32), padding
WINDOWS_XDP_MD = _WINDOWS_XDP.layout
#: ebpf-for-windows bind_md_t (ebpf_nethooks.h)
BIND_MD = descriptor("bind", "windows").layout

WINDOWS_AF_INET = 2


def xdp_refusal(size: int, max_data: int = XDP_MAX_DATA) -> str:
    """Why an XDP test run refuses a frame of ``size`` bytes (shared with the batch replay, which
    refuses the same frames without building a context)."""
    if size < ETH_HLEN:
        return (f"packet of {size} bytes is shorter than an Ethernet header ({ETH_HLEN} bytes); "
                "the kernel refuses it with EINVAL")
    return (f"packet of {size} bytes exceeds the {max_data} bytes of a linear XDP buffer "
            "(multi-buffer XDP frames are not emulated)")


class Context:
    """Base class: regions to map, entry registers, results."""

    #: names of return values (XDP_PASS...), for results and the CLI
    actions: dict[int, str] = {}
    #: True when the context is laid out exactly as the verifier's descriptor for the program
    #: type assumes: every field a verified program may touch exists, and its pointer fields
    #: (data, data_end...) hold the addresses of regions the run maps. Only then may verified
    #: code run unchecked; on any other context (raw bytes, a memory buffer) a verified program
    #: runs in the JIT's checked mode, so a wrong guess costs a MemoryFault, never a segfault.
    exact: bool = False
    #: address of the record native JIT helpers read for this context (jit/native_skb.py's skb
    #: record), or 0: there is none and they call the Python helpers
    native_record: int = 0

    def __init__(self) -> None:
        self.memory: AddressSpace | None = None
        self._regions: list[Region] = []

    def attach(self, memory: AddressSpace) -> None:
        """Make the context's buffers visible to a run."""
        self.memory = memory
        for region in self._regions:
            memory.add(region)

    def detach(self) -> None:
        """Remove the context's regions again (the environment outlives one run)."""
        if self.memory is not None:
            for region in self._regions:
                if len(region.buf) and region in self.memory.regions:
                    self.memory.remove(region)
        self.memory = None

    def registers(self) -> tuple[int, ...]:
        """r1.. at entry."""
        raise NotImplementedError

    def packet_out(self) -> bytes | None:
        return None

    def ctx_out(self) -> bytes | None:
        return None

    def action(self, r0: int) -> str | None:
        return self.actions.get(r0 & 0xFFFFFFFF)


class XdpContext(Context):
    """An XDP buffer and its ``xdp_md``, for ``platform`` ``"linux"`` or ``"windows"``."""

    exact = True

    def __init__(self, packet: bytes, platform: str = "linux", *, meta_len: int = 0,
                 ingress_ifindex: int = 1, rx_queue_index: int = 0):
        super().__init__()
        self.platform = platform
        self.actions = LINUX_XDP_ACTIONS if platform == "linux" else WINDOWS_XDP_ACTIONS
        self.layout = LINUX_XDP_MD if platform == "linux" else WINDOWS_XDP_MD
        self.frame = low_alloc(XDP_FRAME_SIZE)
        self.md = low_alloc(self.layout.size)
        self.md_region = Region("ctx xdp_md", self.md, "ctx", writable=False)
        self.ingress_ifindex = ingress_ifindex
        self.rx_queue_index = rx_queue_index
        self.packet_region: Region | None = None
        self.load(packet, meta_len)

    @property
    def base(self) -> int:
        return int(self.frame.ctypes.data)

    def load(self, packet: bytes, meta_len: int = 0) -> None:
        """Put a fresh packet in the frame (the first ``meta_len`` bytes are metadata)."""
        size = len(packet)
        if size < ETH_HLEN:
            raise ContextError(xdp_refusal(size))
        if meta_len < 0 or meta_len > size or meta_len % 4 or meta_len > XDP_META_MAX:
            raise ContextError(f"xdp_md.data (metadata length) {meta_len} must be a multiple of 4, at "
                               f"most {XDP_META_MAX} and within the {size}-byte input")
        headroom = XDP_HEADROOM - meta_len
        max_data = XDP_FRAME_SIZE - headroom - XDP_TAILROOM
        if size > max_data:
            raise ContextError(xdp_refusal(size, max_data))
        self.frame[:] = 0
        self.frame[headroom:headroom + size] = np.frombuffer(bytes(packet), dtype=np.uint8)
        self.meta = headroom
        self.data = headroom + meta_len
        self.data_end = headroom + size
        self._sync()

    # -- regions and fields ---------------------------------------------------------
    def attach(self, memory: AddressSpace) -> None:
        self._regions = [self.md_region] + ([self.packet_region] if self.packet_region else [])
        super().attach(memory)

    def _sync(self) -> None:
        """Rewrite the xdp_md fields and the packet region after the buffer moved."""
        base = self.base
        if self.platform == "linux":
            raw = self.layout.pack(base + self.data, base + self.data_end, base + self.meta,
                                   self.ingress_ifindex, self.rx_queue_index, 0)
        else:
            raw = self.layout.pack(base + self.data, base + self.data_end, base + self.meta,
                                   self.ingress_ifindex)
        self.md[:] = np.frombuffer(raw, dtype=np.uint8)
        new = Region("packet", self.frame[self.meta:self.data_end], "packet")
        old, self.packet_region = self.packet_region, new
        if self.memory is not None:
            if old is not None and old in self.memory.regions:
                self.memory.remove(old)
            self.memory.add(new)
            self._regions = [self.md_region, new]

    def registers(self) -> tuple[int, ...]:
        return (self.md_region.start,)

    def packet_out(self) -> bytes:
        return self.frame[self.meta:self.data_end].tobytes()

    def ctx_out(self) -> bytes:
        """``xdp_md`` as BPF_PROG_TEST_RUN returns it: data/data_end relative to data_meta."""
        if self.platform == "linux":
            return self.layout.pack(self.data - self.meta, self.data_end - self.meta, 0,
                                    self.ingress_ifindex, self.rx_queue_index, 0)
        return self.layout.pack(self.data - self.meta, self.data_end - self.meta, 0, self.ingress_ifindex)

    @property
    def length(self) -> int:
        return self.data_end - self.data

    # -- the kernel's buffer operations (bpf_xdp_adjust_* and friends) -------------------
    def adjust_head(self, delta: int) -> int:
        """Move ``data`` by ``delta`` (negative grows the packet); 0 or -errno."""
        metalen = self.data - self.meta
        data = self.data + delta
        if data < XDP_FRAME_STRUCT + metalen or data > self.data_end - ETH_HLEN:
            return -EINVAL
        if metalen:
            self.frame[self.meta + delta:data] = self.frame[self.meta:self.data].copy()
        self.meta += delta
        self.data = data
        self._sync()
        return 0

    def adjust_tail(self, delta: int) -> int:
        """Move ``data_end`` by ``delta``; grown bytes are zeroed. 0 or -errno."""
        end = self.data_end + delta
        if end > XDP_FRAME_SIZE - XDP_TAILROOM or end < self.data + ETH_HLEN:
            return -EINVAL
        if delta > 0:
            self.frame[self.data_end:end] = 0
        self.data_end = end
        self._sync()
        return 0

    def adjust_meta(self, delta: int) -> int:
        """Move ``data_meta`` by ``delta``; 0, -EINVAL or -EACCES (bad metadata length)."""
        meta = self.meta + delta
        if meta < XDP_FRAME_STRUCT or meta > self.data:
            return -EINVAL
        metalen = self.data - meta
        if metalen % 4 or metalen > XDP_META_MAX:
            return -EACCES
        self.meta = meta
        self._sync()
        return 0

    def _span(self, offset: int, length: int) -> tuple[int, int] | int:
        if offset > 0xFFFF or length > 0xFFFF:
            return -EFAULT
        if offset + length > self.length:
            return -EINVAL
        return self.data + offset, self.data + offset + length

    def load_bytes(self, offset: int, length: int) -> bytes | int:
        span = self._span(offset, length)
        if isinstance(span, int):
            return span
        return self.frame[span[0]:span[1]].tobytes()

    def store_bytes(self, offset: int, data: bytes) -> int:
        span = self._span(offset, len(data))
        if isinstance(span, int):
            return span
        self.frame[span[0]:span[1]] = np.frombuffer(data, dtype=np.uint8)
        return 0


class RawContext(Context):
    """Bytes in, bytes out (BPF_PROG_TEST_RUN's ctx_in/ctx_out) for every other program type."""

    def __init__(self, data: bytes, *, name: str = "ctx", writable: bool = True):
        super().__init__()
        self.buf = low_alloc(max(1, len(data)))[:len(data)] if data else np.zeros(0, dtype=np.uint8)
        if data:
            self.buf[:] = np.frombuffer(bytes(data), dtype=np.uint8)
        self.region = Region(name, self.buf, "ctx", writable)
        self._regions = [self.region]

    def registers(self) -> tuple[int, ...]:
        return (self.region.start,)

    def ctx_out(self) -> bytes:
        return self.buf.tobytes()


class MemContext(RawContext):
    """The conformance convention: r1 = a copy of the bytes, r2 = their length; output = the bytes."""

    def __init__(self, data: bytes):
        super().__init__(data, name="mem")

    def registers(self) -> tuple[int, ...]:
        return (self.region.start, len(self.buf))

    def packet_out(self) -> bytes:
        return self.buf.tobytes()

    def ctx_out(self) -> None:
        return None


@dataclass
class BindRequest:
    """One bind() call as the ebpf-for-windows bind hook sees it."""

    address: str  #: "IP:PORT"
    protocol: str = "tcp"
    process_id: int = 0
    app_id: str = ""
    operation: str = "bind"


def parse_endpoint(text: str) -> tuple[ipaddress.IPv4Address, int]:
    """``"10.0.0.1:8080"`` -> (address, port), or ContextError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ContextError(f"address {text!r} must be IP:PORT, e.g. 0.0.0.0:8080")
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ContextError(f"address {text!r}: {host!r} is not an IP address") from None
    if addr.version != 4:
        raise ContextError(f"address {text!r}: bind_md.socket_address holds 16 bytes (a sockaddr_in); "
                           "IPv6 addresses do not fit")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ContextError(f"address {text!r}: port {port_text!r} is not a number from 0 to 65535")
    return addr, int(port_text)


class BindContext(Context):
    """ebpf-for-windows ``bind_md_t``: app id (UTF-16LE, NUL-terminated), pid, sockaddr_in."""

    actions = BIND_ACTIONS
    exact = True

    def __init__(self, request: BindRequest):
        super().__init__()
        addr, port = parse_endpoint(request.address)
        protocols = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
        if request.protocol.lower() not in protocols:
            raise ContextError(f"protocol {request.protocol!r} must be tcp or udp")
        if request.operation.lower() not in BIND_OPERATIONS:
            raise ContextError(f"operation {request.operation!r} must be one of "
                               f"{', '.join(BIND_OPERATIONS)}")
        if not 0 <= request.process_id < 1 << 64:
            raise ContextError(f"process id {request.process_id} does not fit in 64 bits")
        app = (request.app_id + "\0").encode("utf-16-le")
        self.app = np.frombuffer(app, dtype=np.uint8).copy()
        self.app_region = Region("ctx app_id", self.app, "ctx", writable=False)
        sockaddr = struct.pack("<H", WINDOWS_AF_INET) + struct.pack(">H", port) + addr.packed + bytes(8)
        raw = BIND_MD.pack(self.app_region.start, self.app_region.end, request.process_id, sockaddr,
                           len(sockaddr), BIND_OPERATIONS[request.operation.lower()],
                           protocols[request.protocol.lower()])
        self.md = np.frombuffer(raw, dtype=np.uint8).copy()
        self.md_region = Region("ctx bind_md", self.md, "ctx", writable=False)
        self._regions = [self.md_region, self.app_region]

    def registers(self) -> tuple[int, ...]:
        return (self.md_region.start,)

    def ctx_out(self) -> bytes:
        return self.md.tobytes()


def xdp_from_ctx_in(packet: bytes, ctx_in: bytes, platform: str = "linux") -> XdpContext:
    """An XDP context from BPF_PROG_TEST_RUN inputs: ``data_in`` and an ``xdp_md`` ``ctx_in``.

    As in the kernel: data_meta must be 0, data_end the input size, data the
    metadata length at the start of the input, egress_ifindex 0, and a
    nonzero rx_queue_index needs an ingress_ifindex.
    """
    if platform != "linux":
        raise ContextError("ctx_in for XDP is supported for the Linux xdp_md only")
    if len(ctx_in) > LINUX_XDP_MD.size and any(ctx_in[LINUX_XDP_MD.size:]):
        raise ContextError(f"ctx_in is {len(ctx_in)} bytes; bytes after the {LINUX_XDP_MD.size}-byte "
                           "xdp_md must be zero")
    fields = LINUX_XDP_MD.unpack(bytes(ctx_in[:LINUX_XDP_MD.size]).ljust(LINUX_XDP_MD.size, b"\0"))
    data, data_end, data_meta, ingress, rx_queue, egress = fields
    if data_meta != 0:
        raise ContextError("ctx_in: xdp_md.data_meta must be 0")
    if data_end != len(packet):
        raise ContextError(f"ctx_in: xdp_md.data_end ({data_end}) must equal the input size ({len(packet)})")
    if data > data_end:
        raise ContextError(f"ctx_in: xdp_md.data ({data}) is after data_end ({data_end})")
    if egress != 0:
        raise ContextError("ctx_in: xdp_md.egress_ifindex must be 0")
    if not ingress and rx_queue:
        raise ContextError("ctx_in: xdp_md.rx_queue_index needs an ingress_ifindex")
    return XdpContext(packet, platform, meta_len=data, ingress_ifindex=ingress or 1,
                      rx_queue_index=rx_queue)
