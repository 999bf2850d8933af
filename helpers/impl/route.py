"""Routing helpers over the simulated network (helpers/net.py): fib_lookup, check_mtu, redirect_neigh/peer.

``bpf_fib_lookup`` follows ``bpf_ipv4_fib_lookup``/``bpf_ipv6_fib_lookup``
(net/core/filter.c) step by step: the input device must exist (-ENODEV) and
forward (FWD_DISABLED), IPv6 link-local and multicast addresses are never
forwarded, the route decides (no route: NOT_FWDED; blackhole, unreachable,
prohibit: their codes; only unicast routes forward), the MTU is checked
(XDP always, tc when ``tot_len`` is given, else the packet against the
egress device), the gateway replaces the destination, and the neighbour
table supplies the MAC addresses (NO_NEIGH without an entry). The table the
test fills in is ``obj.net``: ``add_device``, ``add_address``,
``add_route``, ``add_neighbour``. Policy routing rules, multipath and
lightweight tunnels are not modelled: the kernel's default rules (local
table, then main) are.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from ebpflite.helpers.impl._common import EINVAL, M32, M64, err, read, s32, write
from ebpflite.helpers.net import AF_INET, AF_INET6, Net
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError

ENODEV, EAFNOSUPPORT = 19, 97
BPF_FIB_LOOKUP_DIRECT, BPF_FIB_LOOKUP_OUTPUT, BPF_FIB_LOOKUP_SKIP_NEIGH = 1 << 0, 1 << 1, 1 << 2
BPF_FIB_LOOKUP_TBID, BPF_FIB_LOOKUP_SRC, BPF_FIB_LOOKUP_MARK = 1 << 3, 1 << 4, 1 << 5
#: BPF_FIB_LOOKUP_MARK selects policy rules by the packet's mark; no rules are simulated, so it changes nothing
_FIB_FLAGS = (BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH | BPF_FIB_LOOKUP_TBID
              | BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_MARK)
(RET_SUCCESS, RET_BLACKHOLE, RET_UNREACHABLE, RET_PROHIBIT, RET_NOT_FWDED, RET_FWD_DISABLED, RET_UNSUPP_LWT,
 RET_NO_NEIGH, RET_FRAG_NEEDED, RET_NO_SRC_ADDR) = range(10)
_ROUTE_RESULT = {"blackhole": RET_BLACKHOLE, "unreachable": RET_UNREACHABLE, "prohibit": RET_PROHIBIT}
FIB_PARAMS_SIZE = 64
RT_TABLE_MAIN = 254
BPF_MTU_CHK_SEGS = 1
BPF_MTU_CHK_RET_SUCCESS, BPF_MTU_CHK_RET_FRAG_NEEDED = 0, 1
VLAN_HLEN = 4
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7


class FibParams:
    """``struct bpf_fib_lookup`` over a 64-byte buffer (offsets of uapi/linux/bpf.h)."""

    def __init__(self, raw: bytes):
        self.raw = bytearray(raw)

    def u8(self, off: int) -> int:
        return self.raw[off]

    def u16(self, off: int) -> int:
        return struct.unpack_from("<H", self.raw, off)[0]

    def u32(self, off: int) -> int:
        return struct.unpack_from("<I", self.raw, off)[0]

    def put(self, fmt: str, off: int, *values: Any) -> None:
        struct.pack_into(fmt, self.raw, off, *values)

    family = property(lambda self: self.u8(0))
    tot_len = property(lambda self: self.u16(6))
    ifindex = property(lambda self: self.u32(8))
    tbid = property(lambda self: self.u32(48))

    def address(self, off: int, family: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        raw = bytes(self.raw[off:off + (4 if family == AF_INET else 16)])
        return ipaddress.ip_address(raw)

    def set_address(self, off: int, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        self.raw[off:off + len(addr.packed)] = addr.packed


def _lookup(net: Net, p: FibParams, flags: int, check_mtu: bool) -> int:
    """bpf_ipv{4,6}_fib_lookup on ``p`` (updated in place); a BPF_FIB_LKUP_RET_* or -errno."""
    family = p.family
    dst, src = p.address(32, family), p.address(16, family)
    if family == AF_INET6 and (dst.is_link_local or dst.is_multicast or src.is_link_local or src.is_multicast):
        return RET_NOT_FWDED
    dev = net.device(p.ifindex)
    if dev is None:
        return -ENODEV
    if not net.forwarding.get(dev.ifindex, False):
        return RET_FWD_DISABLED
    if flags & BPF_FIB_LOOKUP_DIRECT:
        table = RT_TABLE_MAIN
        if flags & BPF_FIB_LOOKUP_TBID:
            table = p.tbid
            p.put("<I", 48, 0)  # the kernel zeroes it: the same bytes carry the VLAN output
        if not any(r.table == table for r in net.routes):
            return RET_NOT_FWDED
        route = net.route_for(dst, table)
    else:
        route = net.route_for(dst)
    if route is None:
        return RET_NOT_FWDED
    if route.type != "unicast":
        return _ROUTE_RESULT.get(route.type, RET_NOT_FWDED)
    out = net.device(route.ifindex)
    if out is None:  # a route through a device that went away: nothing forwards there
        return RET_NOT_FWDED
    mtu = 0
    if check_mtu:
        bound = route.mtu if (route.mtu_lock or family == AF_INET6) else 0  # IPv4: only a locked MTU
        mtu = bound or out.mtu
        if p.tot_len > mtu:
            p.put("<H", 6, mtu)
            return RET_FRAG_NEEDED
    p.put("<I", 12, route.metric)  # rt_metric
    p.put("<I", 8, out.ifindex)
    if route.gateway is not None:
        p.set_address(32, route.gateway)
        dst = route.gateway
    if flags & BPF_FIB_LOOKUP_SRC:
        source = route.src or next((a.ip for a in net.addresses.get(out.ifindex, ()) if a.version == dst.version),
                                   None)
        if source is None:
            return RET_NO_SRC_ADDR
        p.set_address(16, source)
    if not flags & BPF_FIB_LOOKUP_SKIP_NEIGH:
        mac = net.neighbours.get((out.ifindex, dst))
        if mac is None:
            return RET_NO_NEIGH
        p.raw[58:64] = mac  # dmac
        p.raw[52:58] = out.mac  # smac
    p.put("<HH", 48, 0, 0)  # h_vlan_proto, h_vlan_TCI
    if mtu:
        p.put("<H", 6, mtu)
    return RET_SUCCESS


def _context_and_net(env: Environment, r1: int, helper: str) -> tuple[Any, Net]:
    ctx = env.world.ctx
    if ctx is None or not hasattr(ctx, "md_region") or r1 & M64 != ctx.md_region.start:
        raise HelperError(f"{helper}: r1 (0x{r1 & M64:x}) must be the program's context pointer")
    net = getattr(ctx, "net", None) or env.world.net or Net()
    return ctx, net


def fib_lookup(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_fib_lookup(ctx, params, plen, flags) for XDP and tc programs."""
    from ebpflite.helpers.skb import SkbContext

    ctx, net = _context_and_net(env, r1, "bpf_fib_lookup")
    plen, flags = s32(r3), r4 & M32
    if plen < FIB_PARAMS_SIZE or flags & ~_FIB_FLAGS:
        return err(EINVAL)
    p = FibParams(read(env, r2, FIB_PARAMS_SIZE))
    skb = isinstance(ctx, SkbContext)
    check_mtu = bool(p.tot_len) or not skb
    if p.family in (AF_INET, AF_INET6):
        rc = _lookup(net, p, flags, check_mtu)
    else:
        rc = -EAFNOSUPPORT
    if skb and rc == RET_SUCCESS and not check_mtu:
        dev = net.device(p.ifindex)
        if dev is None or ctx.length > dev.mtu + dev.hard_header_len + VLAN_HLEN:  # is_skb_forwardable
            rc = RET_FRAG_NEEDED
        p.put("<H", 6, dev.mtu if dev is not None else 0)
    write(env, r2, bytes(p.raw))
    return rc & M64 if rc >= 0 else err(-rc)


def check_mtu(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_check_mtu(ctx, ifindex, *mtu_len, len_diff, flags): BPF_MTU_CHK_RET_* or -errno; the
    device's MTU is written to ``*mtu_len``."""
    from ebpflite.helpers.skb import SkbContext

    ctx, net = _context_and_net(env, r1, "bpf_check_mtu")
    ifindex, diff, flags = r2 & M32, s32(r4), r5
    mtu_len = struct.unpack("<I", read(env, r3, 4))[0]
    skb = isinstance(ctx, SkbContext)
    if flags & ~(BPF_MTU_CHK_SEGS if skb else 0):
        return err(EINVAL)
    if flags & BPF_MTU_CHK_SEGS and (diff or mtu_len):
        return err(EINVAL)
    if ifindex == 0:
        dev = ctx.dev if skb else net.device(getattr(ctx, "ingress_ifindex", 1))
    else:
        dev = net.device(ifindex)
    if dev is None:
        return err(ENODEV)
    limit = dev.mtu + dev.hard_header_len
    length = mtu_len + dev.hard_header_len if mtu_len else ctx.length
    length += diff
    rc = BPF_MTU_CHK_RET_SUCCESS if length <= limit or (skb and ctx.gso_size) else BPF_MTU_CHK_RET_FRAG_NEEDED
    write(env, r3, struct.pack("<I", dev.mtu & M32))
    return rc


def redirect_neigh(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_neigh(ifindex, params, plen, flags): TC_ACT_REDIRECT (the neighbour is resolved
    on transmit); TC_ACT_SHOT for flags or a short ``params``."""
    plen = s32(r3)
    if (plen and plen < 20) or r4:
        return TC_ACT_SHOT
    env.world.redirect = {"ifindex": r1 & M32, "flags": 0, "neigh": read(env, r2, 20).hex() if plen else None}
    return TC_ACT_REDIRECT


def redirect_peer(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_peer(ifindex, flags): TC_ACT_REDIRECT into the peer of a veth-like device."""
    if r2:
        return TC_ACT_SHOT
    env.world.redirect = {"ifindex": r1 & M32, "flags": 0, "peer": True}
    return TC_ACT_REDIRECT


IMPLS = {"fib_lookup": fib_lookup, "check_mtu": check_mtu, "redirect_neigh": redirect_neigh,
         "redirect_peer": redirect_peer}
