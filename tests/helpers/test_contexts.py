"""Contexts: XDP (both layouts) and its kernel limits, bind, raw and mem contexts, bad input."""

from __future__ import annotations

import struct

import pytest

from ebpflite.errors import ContextError
from ebpflite.helpers import contexts as C
from ebpflite.runtime.contexts import build as build_context
from ebpflite.vm.memory import AddressSpace

FRAME = bytes(range(60))


def attached(ctx):
    mem = AddressSpace()
    ctx.attach(mem)
    return mem


def test_linux_xdp_md_holds_real_32bit_addresses():
    ctx = C.XdpContext(FRAME)
    mem = attached(ctx)
    data, end, meta, ifindex, rxq, egress = struct.unpack("<6I", ctx.md.tobytes())
    assert mem.read_bytes(data, end - data) == FRAME and meta == data
    assert (ifindex, rxq, egress) == (1, 0, 0)
    assert data - ctx.base == C.XDP_HEADROOM
    assert ctx.registers() == (ctx.md_region.start,)
    assert ctx.action(2) == "XDP_PASS" and ctx.action(4) == "XDP_REDIRECT"


def test_windows_xdp_md_is_64bit():
    ctx = C.XdpContext(FRAME, "windows")
    mem = attached(ctx)
    data, end, meta, ifindex = struct.unpack("<QQQI4x", ctx.md.tobytes())
    assert mem.read_bytes(data, end - data) == FRAME and len(ctx.md) == 32
    assert ctx.action(1) == "XDP_PASS" and ctx.action(2) == "XDP_DROP"


def test_adjust_head_limits_and_region_follows():
    ctx = C.XdpContext(FRAME)
    mem = attached(ctx)
    assert ctx.adjust_head(-(C.XDP_HEADROOM - C.XDP_FRAME_STRUCT)) == 0  # 216 bytes: the limit
    assert ctx.adjust_head(-1) == -C.EINVAL
    assert ctx.length == 60 + 216
    assert ctx.adjust_head(216 + 60 - 14) == 0 and ctx.length == 14
    assert ctx.adjust_head(1) == -C.EINVAL  # would leave less than an Ethernet header
    data = struct.unpack("<6I", ctx.md.tobytes())[0]
    assert mem.read_bytes(data, 14) == FRAME[-14:]
    with pytest.raises(Exception, match="invalid read"):
        mem.read_bytes(data - 1, 1)  # the packet region moved with data


def test_adjust_tail_and_meta():
    ctx = C.XdpContext(FRAME)
    attached(ctx)
    assert ctx.adjust_tail(4) == 0 and ctx.packet_out() == FRAME + bytes(4)
    assert ctx.adjust_tail(-(64 - 13)) == -C.EINVAL
    assert ctx.adjust_tail(C.XDP_MAX_DATA) == -C.EINVAL
    assert ctx.adjust_meta(-8) == 0 and len(ctx.packet_out()) == 64 + 8
    assert ctx.adjust_meta(-2) == -C.EACCES
    assert ctx.adjust_meta(100) == -C.EINVAL
    assert ctx.ctx_out()[:8] == struct.pack("<II", 8, 72)


def test_load_and_store_bytes_bounds():
    ctx = C.XdpContext(FRAME)
    assert ctx.load_bytes(56, 4) == FRAME[56:]
    assert ctx.load_bytes(57, 4) == -C.EINVAL
    assert ctx.load_bytes(0x10000, 1) == -C.EFAULT
    assert ctx.store_bytes(0, b"\xaa") == 0 and ctx.packet_out()[0] == 0xAA


@pytest.mark.parametrize("size", [0, 1, 13])
def test_short_packets_are_refused(size):
    with pytest.raises(ContextError, match=f"packet of {size} bytes is shorter than an Ethernet header"):
        C.XdpContext(bytes(size))


def test_oversized_packet_is_refused():
    C.XdpContext(bytes(C.XDP_MAX_DATA))
    with pytest.raises(ContextError, match="exceeds the 3520 bytes"):
        C.XdpContext(bytes(C.XDP_MAX_DATA + 1))


def test_ctx_in_rules():
    ctx = C.xdp_from_ctx_in(FRAME, struct.pack("<6I", 8, 60, 0, 3, 1, 0))
    assert ctx.packet_out() == FRAME and ctx.length == 52 and ctx.ingress_ifindex == 3
    bad = {
        struct.pack("<6I", 0, 60, 4, 0, 0, 0): "data_meta must be 0",
        struct.pack("<6I", 0, 59, 0, 0, 0, 0): "must equal the input size",
        struct.pack("<6I", 0, 60, 0, 0, 0, 2): "egress_ifindex must be 0",
        struct.pack("<6I", 0, 60, 0, 0, 1, 0): "needs an ingress_ifindex",
        struct.pack("<6I", 6, 60, 0, 0, 0, 0): "multiple of 4",
    }
    for raw, message in bad.items():
        with pytest.raises(ContextError, match=message):
            C.xdp_from_ctx_in(FRAME, raw)


def test_bind_context_layout():
    ctx = C.BindContext(C.BindRequest("10.1.2.3:8080", "udp", 77, "app.exe", "post_bind"))
    mem = attached(ctx)
    start, end, pid, sockaddr, length, operation, protocol = C.BIND_MD.unpack(ctx.md.tobytes())
    assert mem.read_bytes(start, end - start) == "app.exe\0".encode("utf-16-le")
    assert pid == 77 and length == 16 and operation == 1 and protocol == 17
    assert sockaddr[:8] == struct.pack("<H", 2) + struct.pack(">H", 8080) + bytes([10, 1, 2, 3])
    assert ctx.action(1) == "BIND_DENY"


@pytest.mark.parametrize("address, message", [
    ("10.0.0.1", "must be IP:PORT"), ("nothost:80", "is not an IP address"),
    ("10.0.0.1:99999", "is not a number from 0 to 65535"), ("[::1]:80", "IPv6 addresses do not fit"),
])
def test_bind_bad_addresses(address, message):
    with pytest.raises(ContextError, match=message):
        C.BindContext(C.BindRequest(address))


def test_bind_bad_protocol():
    with pytest.raises(ContextError, match="must be tcp or udp"):
        C.BindContext(C.BindRequest("1.2.3.4:5", "sctp"))


def test_raw_and_mem_contexts():
    raw = build_context("kprobe", "linux", ctx=b"\x01\x02")
    mem = attached(raw)
    mem.write_bytes(raw.registers()[0], b"\x09")
    assert raw.ctx_out() == b"\x09\x02" and raw.packet_out() is None
    m = build_context("unspec", "linux", packet=b"abc")
    assert m.registers()[1] == 3 and m.packet_out() == b"abc"
    with pytest.raises(ContextError, match="either a packet or a context"):
        build_context("kprobe", "linux", packet=b"a", ctx=b"b")
    with pytest.raises(ContextError, match="needs a packet"):
        build_context("xdp", "linux", ctx=b"")


def test_detach_removes_regions():
    ctx = C.XdpContext(FRAME)
    mem = attached(ctx)
    ctx.adjust_head(-8)
    ctx.detach()
    assert mem.regions == ()


def test_runtime_layouts_are_the_kernel_structures():
    """The runtime packs contexts with the descriptors' layouts; pin them to the C structures
    (uapi xdp_md, ebpf-for-windows xdp_md_t and bind_md_t) written out independently."""
    assert struct.calcsize(C.LINUX_XDP_MD.format) == 24
    assert C.LINUX_XDP_MD.unpack(struct.pack("<6I", *range(1, 7))) == tuple(range(1, 7))
    assert C.WINDOWS_XDP_MD.size == struct.calcsize("<QQQI4x") == 32
    assert C.WINDOWS_XDP_MD.unpack(struct.pack("<QQQI4x", 1, 2, 3, 4)) == (1, 2, 3, 4)
    raw = struct.pack("<QQQ16sB3xIB7x", 1, 2, 3, b"a" * 16, 5, 6, 7)
    assert C.BIND_MD.size == 56 and C.BIND_MD.unpack(raw) == (1, 2, 3, b"a" * 16, 5, 6, 7)
    assert C.LINUX_XDP_ACTIONS[2] == "XDP_PASS" and C.WINDOWS_XDP_ACTIONS[1] == "XDP_PASS"
