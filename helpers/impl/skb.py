"""The ``__sk_buff`` helpers: packet bytes, checksums, headers, VLANs, hashes, tunnels, redirects.

Each follows its kernel implementation (net/core/filter.c), error by error,
on the packet of :class:`~ebpflite.helpers.skb.SkbContext`: the same checks
in the same order, the same -errno, the same checksum arithmetic (RFC 1071
one's complement sums over the bytes as they lie in memory, folded the way
``csum_fold`` folds them). The packet is linear, as BPF_PROG_TEST_RUN builds
it, so the kernel's "pull more data" paths are the in-bounds checks here.
Helpers that move the packet data re-sync the ``__sk_buff`` (``data``,
``data_end``, ``len``, ``protocol``...), as ``bpf_compute_data_pointers`` does.
"""

from __future__ import annotations

from typing import Any

from ebpflite.helpers.impl._common import EFAULT, EINVAL, ENOTSUPP, M32, M64, err, read, write
from ebpflite.helpers.net import Tunnel
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError

EACCES, ENOMEM, ENOENT, EALREADY, EPROTO = 13, 12, 2, 114, 71
INT_MAX = (1 << 31) - 1

BPF_F_RECOMPUTE_CSUM, BPF_F_INVALIDATE_HASH = 1, 2
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0, BPF_F_MARK_ENFORCE, BPF_F_IPV6 = 1 << 4, 1 << 5, 1 << 6, 1 << 7
CSUM_MANGLED_0 = 0xFFFF
BPF_HDR_START_MAC, BPF_HDR_START_NET = 0, 1
BPF_CSUM_LEVEL_QUERY, BPF_CSUM_LEVEL_INC, BPF_CSUM_LEVEL_DEC, BPF_CSUM_LEVEL_RESET = 0, 1, 2, 3
SKB_MAX_CSUM_LEVEL = 3
BPF_ADJ_ROOM_NET, BPF_ADJ_ROOM_MAC = 0, 1
BPF_F_ADJ_ROOM_FIXED_GSO = 1 << 0
BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 = 1 << 1, 1 << 2
BPF_F_ADJ_ROOM_ENCAP_L4_GRE, BPF_F_ADJ_ROOM_ENCAP_L4_UDP = 1 << 3, 1 << 4
BPF_F_ADJ_ROOM_NO_CSUM_RESET, BPF_F_ADJ_ROOM_ENCAP_L2_ETH = 1 << 5, 1 << 6
BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6 = 1 << 7, 1 << 8
BPF_ADJ_ROOM_ENCAP_L2_SHIFT = 56
_ENCAP_L3 = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
_DECAP_L3 = BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_DECAP_L3_IPV6
_ADJ_ROOM_MASK = (BPF_F_ADJ_ROOM_FIXED_GSO | _ENCAP_L3 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP
                  | BPF_F_ADJ_ROOM_ENCAP_L2_ETH | (0xFF << BPF_ADJ_ROOM_ENCAP_L2_SHIFT) | _DECAP_L3)
BPF_F_INGRESS = 1
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7
BPF_F_TUNINFO_IPV6 = 1 << 0
BPF_F_ZERO_CSUM_TX, BPF_F_DONT_FRAGMENT, BPF_F_SEQ_NUMBER, BPF_F_NO_TUNNEL_KEY = 1 << 1, 1 << 2, 1 << 3, 1 << 4
BPF_F_TUNINFO_FLAGS = 1 << 4
IP_TUNNEL_OPTS_MAX = 255


def skb_context(env: Environment, r1: int, helper: str) -> Any:
    """The run's SkbContext; HelperError if there is none or r1 is not its __sk_buff."""
    from ebpflite.helpers.skb import SkbContext

    ctx = env.world.ctx
    if not isinstance(ctx, SkbContext):
        raise HelperError(f"{helper}: the program's context is not an __sk_buff")
    if r1 & M64 != ctx.md_region.start:
        raise HelperError(f"{helper}: r1 (0x{r1 & M64:x}) must be the __sk_buff context pointer "
                          f"(0x{ctx.md_region.start:x})")
    return ctx


# --- RFC 1071 arithmetic as the kernel writes it (include/net/checksum.h) -----------------------


def csum_add(a: int, b: int) -> int:
    res = (a + b) & M32
    return (res + (res < b)) & M32


def csum_sub(a: int, b: int) -> int:
    return csum_add(a, ~b & M32)


def csum_fold(csum: int) -> int:
    """32 -> 16 bits, complemented (the __sum16 a header carries)."""
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    return ~csum & 0xFFFF


def csum16_add(csum: int, addend: int) -> int:
    res = (csum + addend) & 0xFFFF
    return (res + (res < addend)) & 0xFFFF


def csum_replace4(old_sum: int, frm: int, to: int) -> int:
    tmp = csum_sub(~old_sum & M32, frm & M32)
    return csum_fold(csum_add(tmp, to & M32))


def csum_replace2(old_sum: int, frm: int, to: int) -> int:
    return ~csum16_add(csum16_add(~old_sum & 0xFFFF, ~frm & 0xFFFF), to & 0xFFFF) & 0xFFFF


def csum_replace_by_diff(old_sum: int, diff: int) -> int:
    return csum_fold(csum_add(diff & M32, ~old_sum & M32))


def _u16_at(ctx: Any, offset: int) -> int:
    return int.from_bytes(ctx.bytes_at(offset, 2), "little")


# --- bytes ------------------------------------------------------------------------------------


def skb_load_bytes(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): 0, or -EFAULT with ``to`` zeroed."""
    ctx = skb_context(env, r1, "bpf_skb_load_bytes")
    offset, length = r2 & M32, r4 & M32
    if offset > INT_MAX or offset + length > ctx.length:
        write(env, r3, bytes(length))
        return err(EFAULT)
    write(env, r3, ctx.bytes_at(offset, length))
    return 0


def skb_load_bytes_relative(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_load_bytes_relative(skb, offset, to, len, start_header): from the MAC or network header."""
    ctx = skb_context(env, r1, "bpf_skb_load_bytes_relative")
    offset, length, header = r2 & M32, r4 & M32, r5 & M32
    starts = {BPF_HDR_START_MAC: ctx.mac_header, BPF_HDR_START_NET: ctx.network_header}
    if offset > 0xFFFF or header not in starts or starts[header] + offset + length > ctx.tail:
        write(env, r3, bytes(length))
        return err(EFAULT)
    start = starts[header] + offset
    write(env, r3, ctx.buf[start:start + length].tobytes())
    return 0


def skb_store_bytes(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_store_bytes(skb, offset, from, len, flags): BPF_F_RECOMPUTE_CSUM, BPF_F_INVALIDATE_HASH."""
    ctx = skb_context(env, r1, "bpf_skb_store_bytes")
    offset, length, flags = r2 & M32, r4 & M32, r5
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return err(EINVAL)
    if offset > INT_MAX or offset + length > ctx.length:
        return err(EFAULT)
    # BPF_F_RECOMPUTE_CSUM updates skb->csum of CHECKSUM_COMPLETE packets; a test run has none
    ctx.write_at(offset, read(env, r3, length))
    if flags & BPF_F_INVALIDATE_HASH:
        ctx.clear_hash()
    ctx.sync()
    return 0


def skb_pull_data(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_pull_data(skb, len): the packet is linear already; -ENOMEM past its end."""
    ctx = skb_context(env, r1, "bpf_skb_pull_data")
    want = (r2 & M32) or ctx.length
    ctx.sync()
    return err(ENOMEM) if want > ctx.length else 0


# --- checksums --------------------------------------------------------------------------------


def _csum_target(ctx: Any, offset: int) -> int | None:
    """-errno for a bad checksum offset (odd, above 0xffff, past the packet), else None."""
    if offset > 0xFFFF or offset & 1:
        return err(EFAULT)
    if offset + 2 > ctx.length:
        return err(EFAULT)
    return None


def l3_csum_replace(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l3_csum_replace(skb, offset, from, to, flags): field size 0 (diff), 2 or 4 in flags."""
    ctx = skb_context(env, r1, "bpf_l3_csum_replace")
    offset, frm, to, flags = r2 & M32, r3, r4, r5
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return err(EINVAL)
    bad = _csum_target(ctx, offset)
    if bad is not None:
        return bad
    ctx.sync()
    old = _u16_at(ctx, offset)
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return err(EINVAL)
        new = csum_replace_by_diff(old, to)
    elif size == 2:
        new = csum_replace2(old, frm, to)
    elif size == 4:
        new = csum_replace4(old, frm, to)
    else:
        return err(EINVAL)
    ctx.write_at(offset, new.to_bytes(2, "little"))
    return 0


def l4_csum_replace(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l4_csum_replace(skb, offset, from, to, flags): BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0,
    BPF_F_MARK_ENFORCE, BPF_F_IPV6 and the field size (0, 2, 4) in flags."""
    ctx = skb_context(env, r1, "bpf_l4_csum_replace")
    offset, frm, to, flags = r2 & M32, r3, r4, r5
    allowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6
    if flags & ~allowed:
        return err(EINVAL)
    bad = _csum_target(ctx, offset)
    if bad is not None:
        return bad
    ctx.sync()
    mangled0, enforce = bool(flags & BPF_F_MARK_MANGLED_0), bool(flags & BPF_F_MARK_ENFORCE)
    old = _u16_at(ctx, offset)
    if mangled0 and not enforce and not old:
        return 0
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return err(EINVAL)
        new = csum_replace_by_diff(old, to)
    elif size == 2:  # inet_proto_csum_replace2 widens to the 4-byte form
        new = csum_replace4(old, frm & 0xFFFF, to & 0xFFFF)
    elif size == 4:
        new = csum_replace4(old, frm, to)
    else:
        return err(EINVAL)
    if mangled0 and not new:
        new = CSUM_MANGLED_0
    ctx.write_at(offset, new.to_bytes(2, "little"))
    return 0


def csum_update(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_update(skb, csum): only for CHECKSUM_COMPLETE packets (-ENOTSUPP otherwise)."""
    ctx = skb_context(env, r1, "bpf_csum_update")
    from ebpflite.helpers.skb import CHECKSUM_COMPLETE

    if ctx.ip_summed == CHECKSUM_COMPLETE:
        ctx.csum = csum_add(ctx.csum, r2 & M32)
        return ctx.csum
    return err(ENOTSUPP)


def csum_level(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_level(skb, level): query or change the CHECKSUM_UNNECESSARY level."""
    from ebpflite.helpers.skb import CHECKSUM_NONE, CHECKSUM_UNNECESSARY

    ctx = skb_context(env, r1, "bpf_csum_level")
    level = r2
    if level == BPF_CSUM_LEVEL_INC:
        if ctx.ip_summed == CHECKSUM_UNNECESSARY:
            ctx.csum_level = min(ctx.csum_level + 1, SKB_MAX_CSUM_LEVEL)
        elif ctx.ip_summed == CHECKSUM_NONE:
            ctx.ip_summed, ctx.csum_level = CHECKSUM_UNNECESSARY, 0
    elif level == BPF_CSUM_LEVEL_DEC:
        if ctx.ip_summed == CHECKSUM_UNNECESSARY:
            if ctx.csum_level == 0:
                ctx.ip_summed = CHECKSUM_NONE
            else:
                ctx.csum_level -= 1
    elif level == BPF_CSUM_LEVEL_RESET:
        ctx.reset_checksum_unnecessary()
    elif level == BPF_CSUM_LEVEL_QUERY:
        return ctx.csum_level if ctx.ip_summed == CHECKSUM_UNNECESSARY else err(EACCES)
    else:
        return err(EINVAL)
    return 0


# --- headers and length -------------------------------------------------------------------------


def skb_change_proto(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_proto(skb, proto, flags): IPv4 <-> IPv6, growing or shrinking the network
    header by 20 bytes right after the MAC header (the program rewrites the header itself)."""
    from ebpflite.helpers.skb import ETH_P_IP, ETH_P_IPV6, be16

    ctx = skb_context(env, r1, "bpf_skb_change_proto")
    if r3:
        return err(EINVAL)
    proto = r2 & 0xFFFF
    diff = 20
    if ctx.protocol == ETH_P_IP and proto == be16(ETH_P_IPV6):
        ctx.net_header_push(ctx.mac_len, diff)
        ctx.protocol = ETH_P_IPV6
    elif ctx.protocol == ETH_P_IPV6 and proto == be16(ETH_P_IP):
        rc = ctx.net_header_pop(ctx.mac_len, diff)
        if rc:
            ctx.sync()
            return err(-rc)
        ctx.protocol = ETH_P_IP
    else:
        ctx.sync()
        return err(ENOTSUPP)
    ctx.clear_hash()
    ctx.sync()
    return 0


def skb_change_type(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_type(skb, type): PACKET_HOST .. PACKET_OTHERHOST only."""
    from ebpflite.helpers.skb import PACKET_OTHERHOST

    ctx = skb_context(env, r1, "bpf_skb_change_type")
    pkt_type = r2 & M32
    if ctx.pkt_type > PACKET_OTHERHOST or pkt_type > PACKET_OTHERHOST:
        return err(EINVAL)
    ctx.pkt_type = pkt_type
    ctx.sync()
    return 0


def skb_change_tail(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_tail(skb, len, flags): grow (zero-filled) or trim the packet to ``len``."""
    from ebpflite.helpers.skb import SKB_MAX_ALLOC

    ctx = skb_context(env, r1, "bpf_skb_change_tail")
    new_len = r2 & M32
    if r3 or new_len > SKB_MAX_ALLOC or new_len < ctx.min_len:
        ctx.sync()
        return err(EINVAL)
    if ctx.encapsulation:
        ctx.sync()
        return err(ENOTSUPP)
    ctx.set_length(new_len)
    if ctx.gso_size:
        ctx.gso_reset()
    ctx.sync()
    return 0


def skb_change_head(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_head(skb, len, flags): push ``len`` zero bytes in front; they become the MAC header."""
    from ebpflite.helpers.skb import SKB_MAX_ALLOC

    ctx = skb_context(env, r1, "bpf_skb_change_head")
    room = r2 & M32
    new_len = (ctx.length + room) & M32
    if r3 or (not ctx.gso_size and new_len > SKB_MAX_ALLOC) or new_len < ctx.length:
        ctx.sync()
        return err(EINVAL)
    ctx.push(room)
    ctx.mac_header = ctx.data
    ctx.sync()
    return 0


def skb_adjust_room(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_adjust_room(skb, len_diff, mode, flags): grow or shrink room after the MAC header
    (BPF_ADJ_ROOM_MAC) or after the fixed network header (BPF_ADJ_ROOM_NET), with the encap flags."""
    from ebpflite.helpers.skb import ETH_P_IP, ETH_P_IPV6, SKB_MAX_ALLOC

    ctx = skb_context(env, r1, "bpf_skb_adjust_room")
    diff = r2 & M32
    diff = diff - (1 << 32) if diff >> 31 else diff
    mode, flags = r3 & M32, r4
    shrink, diff_abs = diff < 0, abs(diff)
    base = {ETH_P_IP: 20, ETH_P_IPV6: 40}.get(ctx.protocol)

    def done(rc: int) -> int:
        ctx.sync()
        return err(rc) if rc else 0

    if flags & ~(_ADJ_ROOM_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET):
        return done(EINVAL)
    if diff_abs > 0xFFF:
        return done(EFAULT)
    if base is None:
        return done(ENOTSUPP)
    if mode == BPF_ADJ_ROOM_NET:
        off = ctx.mac_len + base
    elif mode == BPF_ADJ_ROOM_MAC:
        off = ctx.mac_len
    else:
        return done(ENOTSUPP)
    if flags & _DECAP_L3:
        if flags & _ENCAP_L3 or (flags & _DECAP_L3) == _DECAP_L3 or not shrink:
            return done(EINVAL)
    cur = ctx.length - ctx.network_offset
    if (shrink and (diff_abs >= cur or cur - diff_abs < base)) or \
       (not shrink and ctx.length + diff_abs > SKB_MAX_ALLOC and not ctx.gso_size):
        return done(ENOTSUPP)
    rc = _net_shrink(ctx, off, diff_abs, flags) if shrink else _net_grow(ctx, off, diff_abs, flags)
    if not rc and not flags & BPF_F_ADJ_ROOM_NO_CSUM_RESET:
        ctx.reset_checksum_unnecessary()
    return done(rc)


def _net_grow(ctx: Any, off: int, diff: int, flags: int) -> int:
    from ebpflite.helpers.skb import ETH_HLEN, ETH_P_IP, ETH_P_IPV6

    inner_mac_len = (flags >> BPF_ADJ_ROOM_ENCAP_L2_SHIFT) & 0xFF
    encap = bool(flags & _ENCAP_L3)
    if encap:
        if ctx.protocol not in (ETH_P_IP, ETH_P_IPV6):
            return ENOTSUPP
        if (flags & _ENCAP_L3) == _ENCAP_L3:
            return EINVAL
        if flags & BPF_F_ADJ_ROOM_ENCAP_L4_GRE and flags & BPF_F_ADJ_ROOM_ENCAP_L4_UDP:
            return EINVAL
        if flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
            return EINVAL
        if ctx.encapsulation:
            return EALREADY
        if inner_mac_len > diff:
            return EINVAL
        mac_len = ctx.mac_len
    ctx.net_header_push(off, diff)
    if encap:
        ctx.encapsulation = True
        ctx.network_header = ctx.mac_header + mac_len
        if flags & (BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP):
            nh_len = 40 if flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 else 20
            ctx.transport_header = ctx.mac_header + mac_len + nh_len
        if ctx.protocol == ETH_P_IP and flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV6:
            ctx.protocol = ETH_P_IPV6
        elif ctx.protocol == ETH_P_IPV6 and flags & BPF_F_ADJ_ROOM_ENCAP_L3_IPV4:
            ctx.protocol = ETH_P_IP
    if ctx.gso_size:
        if not flags & BPF_F_ADJ_ROOM_FIXED_GSO:
            ctx.gso_size = max(ctx.gso_size - diff, 0)
        ctx.gso_segs = 0
    return 0


def _net_shrink(ctx: Any, off: int, diff: int, flags: int) -> int:
    from ebpflite.helpers.skb import ETH_P_IP, ETH_P_IPV6

    if flags & ~(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET | _DECAP_L3):
        return EINVAL
    rc = ctx.net_header_pop(off, diff)
    if rc:
        return rc
    if flags & _DECAP_L3:
        ctx.protocol = ETH_P_IP if flags & BPF_F_ADJ_ROOM_DECAP_L3_IPV4 else ETH_P_IPV6
        ctx.encapsulation = False
    if ctx.gso_size:
        if not flags & BPF_F_ADJ_ROOM_FIXED_GSO:
            ctx.gso_size += diff
        ctx.gso_segs = 0
    return 0


# --- VLANs ------------------------------------------------------------------------------------------


def skb_vlan_push(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_vlan_push(skb, proto, tci): an 802.1Q/802.1ad tag into the skb (an existing one
    moves into the packet first, as skb_vlan_push does)."""
    from ebpflite.helpers.skb import ETH_P_8021AD, ETH_P_8021Q, be16

    ctx = skb_context(env, r1, "bpf_skb_vlan_push")
    proto = r2 & 0xFFFF
    if proto not in (be16(ETH_P_8021Q), be16(ETH_P_8021AD)):
        proto = be16(ETH_P_8021Q)
    rc = ctx.vlan_push(be16(proto), r3 & 0xFFFF)
    ctx.sync()
    return err(rc) if rc else 0


def skb_vlan_pop(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_vlan_pop(skb): drop the skb's tag (the next one in the packet, if any, takes its place)."""
    ctx = skb_context(env, r1, "bpf_skb_vlan_pop")
    rc = ctx.vlan_pop()
    ctx.sync()
    return err(rc) if rc else 0


# --- hashes, marks, classes -----------------------------------------------------------------------


def get_hash_recalc(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_hash_recalc(skb): skb_get_hash: the set hash, else a flow hash (helpers/flowhash.py)."""
    ctx = skb_context(env, r1, "bpf_get_hash_recalc")
    value = ctx.get_hash()
    ctx.sync()
    return value


def set_hash_invalid(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    ctx = skb_context(env, r1, "bpf_set_hash_invalid")
    ctx.clear_hash()
    ctx.sync()
    return 0


def set_hash(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_set_hash(skb, hash): a software L4 hash that skb_get_hash then returns."""
    ctx = skb_context(env, r1, "bpf_set_hash")
    ctx.hash, ctx.sw_hash, ctx.l4_hash = r2 & M32, True, True
    ctx.sync()
    return 0


def get_cgroup_classid(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_cgroup_classid(skb): the net_cls class of the packet's socket (``net.cgroup_classid``)."""
    return skb_context(env, r1, "bpf_get_cgroup_classid").net.cgroup_classid & M32


def skb_cgroup_classid(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return skb_context(env, r1, "bpf_skb_cgroup_classid").net.cgroup_classid & M32


def skb_cgroup_id(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_cgroup_id(skb): the cgroup v2 id of the packet's socket (``net.cgroup_id``)."""
    return skb_context(env, r1, "bpf_skb_cgroup_id").net.cgroup_id & M64


def get_route_realm(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_route_realm(skb): the packet has no route attached in a test run: 0."""
    skb_context(env, r1, "bpf_get_route_realm")
    return 0


def skb_ecn_set_ce(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_ecn_set_ce(skb): mark an ECN-capable IPv4/IPv6 packet Congestion Experienced; 1 if marked."""
    ctx = skb_context(env, r1, "bpf_skb_ecn_set_ce")
    marked = ctx.ecn_set_ce()
    ctx.sync()
    return int(marked)


# --- redirects ------------------------------------------------------------------------------------


def clone_redirect(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): a copy of the packet to a device; 0 or -EINVAL."""
    ctx = skb_context(env, r1, "bpf_clone_redirect")
    ifindex, flags = r2 & M32, r3
    ctx.sync()
    if flags & ~BPF_F_INGRESS:
        return err(EINVAL)
    dev = ctx.net.device(ifindex)
    if dev is None:
        return err(EINVAL)
    env.world.clones.append({"ifindex": ifindex, "device": dev.name, "flags": flags,
                                               "packet": ctx.packet_out()})
    return 0


# --- tunnels --------------------------------------------------------------------------------------

_KEY_SIZE = 44  #: sizeof(struct bpf_tunnel_key)
#: shorter layouts of older uapi headers the kernel still accepts: up to local_ipv4, tunnel_label, tunnel_ext
_KEY_COMPAT = (28, 24, 22)
_KEY_IPV4_ONLY = 8  #: up to remote_ipv6[1]: the oldest layout, IPv4 tunnels only


def skb_get_tunnel_key(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_get_tunnel_key(skb, key, size, flags): the packet's tunnel metadata; -EINVAL when it
    has none (a test run starts without), -EPROTO for the wrong family; ``key`` zeroed on failure."""
    ctx = skb_context(env, r1, "bpf_skb_get_tunnel_key")
    size, flags = r3 & M32, r4
    tun: Tunnel | None = ctx.tunnel

    def fail(code: int) -> int:
        write(env, r2, bytes(size))
        return err(code)

    if tun is None or flags & ~(BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS):
        return fail(EINVAL)
    if tun.is_ipv6 != bool(flags & BPF_F_TUNINFO_IPV6):
        return fail(EPROTO)
    if size != _KEY_SIZE and size not in _KEY_COMPAT and not (size == _KEY_IPV4_ONLY and not tun.is_ipv6):
        return fail(EINVAL)
    key = bytearray(_KEY_SIZE)
    key[0:4] = (tun.tun_id & M32).to_bytes(4, "little")
    key[20], key[21] = tun.tos, tun.ttl
    if flags & BPF_F_TUNINFO_FLAGS:
        key[22:24] = (tun.flags & 0xFFFF).to_bytes(2, "big")
    if tun.is_ipv6:
        key[4:20] = tun.src
        key[24:28] = tun.label.to_bytes(4, "little")
        key[28:44] = tun.dst
    else:  # be32_to_cpu of the network-order address: the same bytes reversed into a host u32
        key[4:8] = tun.src[::-1]
        key[28:32] = tun.dst[::-1]
    write(env, r2, bytes(key[:size]))
    return 0


def skb_set_tunnel_key(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_set_tunnel_key(skb, key, size, flags): tunnel metadata for the encapsulating device."""
    from ebpflite.helpers.net import TUNNEL_CSUM, TUNNEL_DONT_FRAGMENT, TUNNEL_KEY, TUNNEL_SEQ

    ctx = skb_context(env, r1, "bpf_skb_set_tunnel_key")
    size, flags = r3 & M32, r4
    allowed = BPF_F_TUNINFO_IPV6 | BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT | BPF_F_SEQ_NUMBER | BPF_F_NO_TUNNEL_KEY
    if flags & ~allowed:
        return err(EINVAL)
    if size != _KEY_SIZE and size not in _KEY_COMPAT and size != _KEY_IPV4_ONLY:
        return err(EINVAL)
    raw = read(env, r2, size).ljust(_KEY_SIZE, b"\0")
    ipv6 = bool(flags & BPF_F_TUNINFO_IPV6)
    label = int.from_bytes(raw[24:28], "little")
    if (not ipv6 and label) or raw[22:24] != b"\0\0":
        return err(EINVAL)
    tun = Tunnel(is_ipv6=ipv6, tun_id=int.from_bytes(raw[0:4], "little"), tos=raw[20], ttl=raw[21])
    if flags & BPF_F_DONT_FRAGMENT:
        tun.flags |= TUNNEL_DONT_FRAGMENT
    if flags & BPF_F_ZERO_CSUM_TX:
        tun.flags &= ~TUNNEL_CSUM
    if flags & BPF_F_SEQ_NUMBER:
        tun.flags |= TUNNEL_SEQ
    if flags & BPF_F_NO_TUNNEL_KEY:
        tun.flags &= ~TUNNEL_KEY
    if ipv6:
        tun.dst, tun.src = raw[4:20], raw[28:44]
        tun.label = label & 0xFFFFF  # cpu_to_be32(label) & IPV6_FLOWLABEL_MASK, read back in host order
    else:  # cpu_to_be32 of the host u32: its bytes reversed
        tun.dst, tun.src = raw[4:8][::-1], raw[28:32][::-1]
    ctx.tunnel = tun
    return 0


def skb_get_tunnel_opt(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_get_tunnel_opt(skb, opt, size): the options' length (the rest of ``opt`` zeroed);
    -ENOENT without tunnel options, -ENOMEM when ``size`` is too small (``opt`` zeroed)."""
    from ebpflite.helpers.net import TUNNEL_OPTIONS_PRESENT

    ctx = skb_context(env, r1, "bpf_skb_get_tunnel_opt")
    size = r3 & M32
    tun = ctx.tunnel
    if tun is None or not tun.flags & TUNNEL_OPTIONS_PRESENT:
        write(env, r2, bytes(size))
        return err(ENOENT)
    if size < len(tun.options):
        write(env, r2, bytes(size))
        return err(ENOMEM)
    write(env, r2, tun.options.ljust(size, b"\0"))
    return len(tun.options)


def skb_set_tunnel_opt(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_set_tunnel_opt(skb, opt, size): options for the tunnel set by skb_set_tunnel_key in
    this run (-EINVAL otherwise, or for a size not a multiple of 4), at most 255 bytes (-ENOMEM)."""
    from ebpflite.helpers.net import TUNNEL_OPTIONS_PRESENT

    ctx = skb_context(env, r1, "bpf_skb_set_tunnel_opt")
    size = r3 & M32
    if ctx.tunnel is None or size & 3:
        return err(EINVAL)
    if size > IP_TUNNEL_OPTS_MAX:
        return err(ENOMEM)
    ctx.tunnel.options = read(env, r2, size)
    if size:
        ctx.tunnel.flags |= TUNNEL_OPTIONS_PRESENT
    return 0


IMPLS = {
    "skb_load_bytes": skb_load_bytes,
    "skb_load_bytes_relative": skb_load_bytes_relative,
    "skb_store_bytes": skb_store_bytes,
    "skb_pull_data": skb_pull_data,
    "l3_csum_replace": l3_csum_replace,
    "l4_csum_replace": l4_csum_replace,
    "csum_update": csum_update,
    "csum_level": csum_level,
    "skb_change_proto": skb_change_proto,
    "skb_change_type": skb_change_type,
    "skb_change_tail": skb_change_tail,
    "skb_change_head": skb_change_head,
    "skb_adjust_room": skb_adjust_room,
    "skb_vlan_push": skb_vlan_push,
    "skb_vlan_pop": skb_vlan_pop,
    "get_hash_recalc": get_hash_recalc,
    "set_hash_invalid": set_hash_invalid,
    "set_hash": set_hash,
    "get_cgroup_classid": get_cgroup_classid,
    "skb_cgroup_classid": skb_cgroup_classid,
    "skb_cgroup_id": skb_cgroup_id,
    "get_route_realm": get_route_realm,
    "skb_ecn_set_ce": skb_ecn_set_ce,
    "clone_redirect": clone_redirect,
    "skb_get_tunnel_key": skb_get_tunnel_key,
    "skb_set_tunnel_key": skb_set_tunnel_key,
    "skb_get_tunnel_opt": skb_get_tunnel_opt,
    "skb_set_tunnel_opt": skb_set_tunnel_opt,
}
