"""XDP helpers: adjust_head/tail/meta, get_buff_len, load/store_bytes, redirect, redirect_map.

The buffer operations are methods of :class:`~ebpflite.helpers.contexts.XdpContext`
(they follow the kernel's limits); these wrappers check that ``r1`` is the
run's XDP context and convert results to r0.
"""

from __future__ import annotations

from typing import Any

from ebpflite.helpers.impl._common import EFAULT, M64, err, map_at, read, s32, write
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError

XDP_ABORTED, XDP_REDIRECT = 0, 4
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7
BPF_F_INGRESS = 1
BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
_ACTION_MASK = 3  #: XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX: the fallback action on a miss
_REDIRECT_MAPS = {"devmap", "devmap_hash", "cpumap", "xskmap"}


def xdp_context(env: Environment, r1: int, helper: str) -> Any:
    """The run's XdpContext; HelperError if there is none or r1 is not its xdp_md."""
    from ebpflite.helpers.contexts import XdpContext

    ctx = env.world.ctx
    if not isinstance(ctx, XdpContext):
        raise HelperError(f"{helper}: the program's context is not an XDP buffer")
    if r1 & M64 != ctx.md_region.start:
        raise HelperError(f"{helper}: r1 (0x{r1 & M64:x}) must be the xdp_md context pointer "
                          f"(0x{ctx.md_region.start:x})")
    return ctx


def xdp_adjust_head(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return xdp_context(env, r1, "bpf_xdp_adjust_head").adjust_head(s32(r2)) & M64


def xdp_adjust_tail(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return xdp_context(env, r1, "bpf_xdp_adjust_tail").adjust_tail(s32(r2)) & M64


def xdp_adjust_meta(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return xdp_context(env, r1, "bpf_xdp_adjust_meta").adjust_meta(s32(r2)) & M64


def xdp_get_buff_len(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return xdp_context(env, r1, "bpf_xdp_get_buff_len").length


def xdp_load_bytes(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Copy ``len`` packet bytes at ``offset`` (from data) into ``buf``; 0 or -EFAULT/-EINVAL."""
    got = xdp_context(env, r1, "bpf_xdp_load_bytes").load_bytes(r2 & 0xFFFFFFFF, r4 & 0xFFFFFFFF)
    if isinstance(got, int):
        return got & M64
    write(env, r3, got)
    return 0


def xdp_store_bytes(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    ctx = xdp_context(env, r1, "bpf_xdp_store_bytes")
    length = r4 & 0xFFFFFFFF
    if length > 0xFFFF:
        return err(EFAULT)  # checked before the source is read, as in the kernel
    return ctx.store_bytes(r2 & 0xFFFFFFFF, read(env, r3, length)) & M64


def redirect(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect(ifindex, flags): XDP_REDIRECT (XDP) or TC_ACT_REDIRECT; bad flags abort/shoot."""
    from ebpflite.helpers.contexts import XdpContext

    xdp = isinstance(env.world.ctx, XdpContext)
    if (xdp and r2) or (not xdp and r2 & ~BPF_F_INGRESS):
        return XDP_ABORTED if xdp else TC_ACT_SHOT
    env.world.redirect = {"ifindex": r1 & 0xFFFFFFFF, "flags": r2}
    return XDP_REDIRECT if xdp else TC_ACT_REDIRECT


def redirect_map(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_map(map, key, flags): XDP_REDIRECT when the key has a target, else the
    action in the low two bits of ``flags`` (the kernel's fallback); XDP_ABORTED for bad flags."""
    live = map_at(env, r1, "bpf_redirect_map")
    if live.type not in _REDIRECT_MAPS:
        raise HelperError(f"bpf_redirect_map: map {live.name} is a {live.type} map, not one of "
                          f"{', '.join(sorted(_REDIRECT_MAPS))}")
    allowed = _ACTION_MASK
    if live.type in ("devmap", "devmap_hash"):
        allowed |= BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS
    if r3 & ~allowed:
        return XDP_ABORTED
    key = r2 & 0xFFFFFFFF
    target = live.redirect_target(key)
    if target is None and not r3 & BPF_F_BROADCAST:
        return r3 & _ACTION_MASK
    env.world.redirect = {"map": live.name, "type": live.type, "key": key, "target": target,
                             "flags": r3}
    return XDP_REDIRECT


IMPLS = {
    "xdp_adjust_head": xdp_adjust_head,
    "xdp_adjust_tail": xdp_adjust_tail,
    "xdp_adjust_meta": xdp_adjust_meta,
    "xdp_get_buff_len": xdp_get_buff_len,
    "xdp_load_bytes": xdp_load_bytes,
    "xdp_store_bytes": xdp_store_bytes,
    "redirect": redirect,
    "redirect_map": redirect_map,
}
