"""Native XDP helpers for batch replay: the packet's frame and where it is redirected.

In a batch run (jit/batch.py) the packet sits in the runner's frame and the
Linux ``xdp_md`` holds data, data_end and data_meta as u32 addresses; these
helpers move them with the same limits as helpers/contexts.py
``XdpContext`` (the kernel's test run): ``adjust_head`` keeps the 40-byte
``xdp_frame`` and 14 bytes of packet, ``adjust_tail`` stays inside the
frame's usable part (grown bytes zeroed), ``adjust_meta`` keeps metadata
4-byte aligned and at most 255 bytes. The packet's region-table row follows
``[data_meta, data_end)`` so checked code and Python helpers see the new
bounds. ``bpf_redirect`` and ``bpf_redirect_map`` write the batch block's
redirect slot (helpers/impl/xdp.py records the same facts in
``env.world.redirect``).

Outside batch runs, or when ``r1`` is not the batch's ``xdp_md``, they
decline: the Python helpers then act on the run's ``XdpContext``.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.batch import (
    ETH_HLEN,
    FRAME_SIZE,
    FRAME_STRUCT,
    MD_DATA,
    MD_DATA_END,
    MD_META,
    META_MAX,
    NO_TARGET,
    TAILROOM,
    BatchWord,
    Redirect,
)
from ebpflite.jit.native_ir import I8, I32, I64, Emitter, _c

EINVAL, EACCES, EFAULT = 22, 13, 14
XDP_ABORTED, XDP_REDIRECT = 0, 4
BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS = 1 << 3, 1 << 4
_ACTION_MASK = 3
# map types bpf_redirect_map accepts (Linux numbers) and descriptor offsets it reads
DEVMAP, CPUMAP, XSKMAP, DEVMAP_HASH = 14, 16, 17, 25
_TYPE, _MAX_ENTRIES, _ENTRY_STRIDE, _SLOT_SIZE, _VALUES, _SLOTS, _AUX = 4, 16, 32, 36, 48, 56, 80


class _Packet:
    """The batch block, the frame and the xdp_md fields, for one XDP helper."""

    def __init__(self, e: Emitter, ctx, md):
        self.e = e
        b = e.b
        self.blk = e.batch_block(ctx)
        self.md = e.word(self.blk, BatchWord.MD)
        e.branch_if(b.icmp_unsigned("!=", md, self.md), e.declined_block(), "is_md")
        self.frame = e.word(self.blk, BatchWord.FRAME)

    def get(self, offset: int):
        return self.e.b.zext(self.e.load(self.md, I32, offset), I64)

    def put(self, offset: int, value) -> None:
        self.e.store(self.e.b.trunc(value, I32), self.md, offset)

    def row(self, start=None, end=None) -> None:
        """Point the packet's region row at its new bounds."""
        row = self.e.word(self.blk, BatchWord.REGION_ROW)
        if start is not None:
            self.e.store(start, row, 0)
        if end is not None:
            self.e.store(end, row, 8)


def _xdp_helper(module: ir.Module, name: str):
    e = Emitter(module, f"ebpf_native_{name}")
    ctx, r1, r2, r3, r4, _ = e.fn.args
    return e, _Packet(e, ctx, r1), (r2, r3, r4)


def _fail(e: Emitter, cond, errno: int, name: str) -> None:
    """Return -errno when ``cond`` holds."""
    block = e.block(f"e{errno}_{name}")
    here = e.b.block
    e.at(block)
    e.ret(-errno)
    e.at(here)
    e.branch_if(cond, block, f"ok_{name}")


def build_adjust_head(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_adjust_head(xdp, delta)``: XdpContext.adjust_head."""
    e, pkt, (r2, _, _) = _xdp_helper(module, "xdp_adjust_head")
    b = e.b
    delta = e.s32(r2)
    data, end, meta = pkt.get(MD_DATA), pkt.get(MD_DATA_END), pkt.get(MD_META)
    metalen = b.sub(data, meta)
    new_data = b.add(data, delta)
    low = b.add(b.add(pkt.frame, _c(I64, FRAME_STRUCT)), metalen)
    _fail(e, b.or_(b.icmp_signed("<", new_data, low), b.icmp_signed(">", new_data, b.sub(end, _c(I64, ETH_HLEN)))),
          EINVAL, "bounds")
    new_meta = b.add(meta, delta)
    with b.if_then(b.icmp_unsigned("!=", metalen, _c(I64, 0))):
        e.memmove(new_meta, meta, metalen)
    pkt.put(MD_META, new_meta)
    pkt.put(MD_DATA, new_data)
    pkt.row(start=new_meta)
    e.ret(0)
    return e.fn


def build_adjust_tail(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_adjust_tail(xdp, delta)``: XdpContext.adjust_tail (grown bytes zeroed)."""
    e, pkt, (r2, _, _) = _xdp_helper(module, "xdp_adjust_tail")
    b = e.b
    delta = e.s32(r2)
    data, end = pkt.get(MD_DATA), pkt.get(MD_DATA_END)
    new_end = b.add(end, delta)
    limit = b.add(pkt.frame, _c(I64, FRAME_SIZE - TAILROOM))
    _fail(e, b.or_(b.icmp_signed(">", new_end, limit), b.icmp_signed("<", new_end, b.add(data, _c(I64, ETH_HLEN)))),
          EINVAL, "bounds")
    with b.if_then(b.icmp_signed(">", delta, _c(I64, 0))):
        e.memset(end, delta)
    pkt.put(MD_DATA_END, new_end)
    pkt.row(end=new_end)
    e.ret(0)
    return e.fn


def build_adjust_meta(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_adjust_meta(xdp, delta)``: XdpContext.adjust_meta (-EINVAL, -EACCES)."""
    e, pkt, (r2, _, _) = _xdp_helper(module, "xdp_adjust_meta")
    b = e.b
    data, meta = pkt.get(MD_DATA), pkt.get(MD_META)
    new_meta = b.add(meta, e.s32(r2))
    _fail(e, b.or_(b.icmp_signed("<", new_meta, b.add(pkt.frame, _c(I64, FRAME_STRUCT))),
                   b.icmp_signed(">", new_meta, data)), EINVAL, "bounds")
    metalen = b.sub(data, new_meta)
    _fail(e, b.or_(b.icmp_unsigned("!=", b.and_(metalen, _c(I64, 3)), _c(I64, 0)),
                   b.icmp_unsigned(">", metalen, _c(I64, META_MAX))), EACCES, "length")
    pkt.put(MD_META, new_meta)
    pkt.row(start=new_meta)
    e.ret(0)
    return e.fn


def build_get_buff_len(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_get_buff_len(xdp)``: data_end - data."""
    e, pkt, _ = _xdp_helper(module, "xdp_get_buff_len")
    e.ret(e.b.sub(pkt.get(MD_DATA_END), pkt.get(MD_DATA)))
    return e.fn


def _span(e: Emitter, pkt: _Packet, offset, length):
    """XdpContext._span: the address of ``offset`` in the packet, after the -EFAULT/-EINVAL checks."""
    b = e.b
    _fail(e, b.or_(b.icmp_unsigned(">", offset, _c(I64, 0xFFFF)), b.icmp_unsigned(">", length, _c(I64, 0xFFFF))),
          EFAULT, "span")
    data = pkt.get(MD_DATA)
    _fail(e, b.icmp_unsigned(">", b.add(offset, length), b.sub(pkt.get(MD_DATA_END), data)), EINVAL, "span")
    return b.add(data, offset)


def build_load_bytes(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_load_bytes(xdp, offset, buf, len)``."""
    e, pkt, (r2, r3, r4) = _xdp_helper(module, "xdp_load_bytes")
    m32 = _c(I64, 0xFFFFFFFF)
    length = e.b.and_(r4, m32)
    at = _span(e, pkt, e.b.and_(r2, m32), length)
    e.memmove(r3, at, length)
    e.ret(0)
    return e.fn


def build_store_bytes(module: ir.Module, shared) -> ir.Function:
    """``bpf_xdp_store_bytes(xdp, offset, buf, len)`` (the length is checked before the source is read)."""
    e, pkt, (r2, r3, r4) = _xdp_helper(module, "xdp_store_bytes")
    m32 = _c(I64, 0xFFFFFFFF)
    length = e.b.and_(r4, m32)
    _fail(e, e.b.icmp_unsigned(">", length, _c(I64, 0xFFFF)), EFAULT, "length")
    at = _span(e, pkt, e.b.and_(r2, m32), length)
    e.memmove(at, r3, length)
    e.ret(0)
    return e.fn


def _record(e: Emitter, blk, kind: Redirect, a, b_=None, c=None, flags=None) -> None:
    words = (_c(I64, int(kind)), a, b_ if b_ is not None else _c(I64, 0), c if c is not None else _c(I64, 0),
             flags if flags is not None else _c(I64, 0))
    for k, value in enumerate(words):
        e.set_word(blk, BatchWord.REDIRECT + k, value)


def build_redirect(module: ir.Module, shared) -> ir.Function:
    """``bpf_redirect(ifindex, flags)`` in XDP: any flag aborts; else the ifindex is recorded."""
    e = Emitter(module, "ebpf_native_redirect")
    ctx, r1, r2, _, _, _ = e.fn.args
    b = e.b
    blk = e.batch_block(ctx)
    _fail_action(e, b.icmp_unsigned("!=", r2, _c(I64, 0)), XDP_ABORTED, "flags")
    _record(e, blk, Redirect.IFINDEX, b.and_(r1, _c(I64, 0xFFFFFFFF)), flags=r2)
    e.ret(XDP_REDIRECT)
    return e.fn


def _fail_action(e: Emitter, cond, action, name: str) -> None:
    """Return ``action`` (a constant or a value) when ``cond`` holds."""
    block = e.block(f"act_{name}")
    here = e.b.block
    e.at(block)
    e.ret(action)
    e.at(here)
    e.branch_if(cond, block, f"go_{name}")


def build_redirect_map(module: ir.Module, shared) -> ir.Function:
    """``bpf_redirect_map(map, key, flags)`` (helpers/impl/xdp.py redirect_map): the target behind
    the key of a devmap (its ifindex), devmap_hash (its ifindex), cpumap or xskmap (the key);
    without one, the action in the flags' low bits, unless BPF_F_BROADCAST."""
    e = Emitter(module, "ebpf_native_redirect_map")
    ctx, desc, r2, r3, _, _ = e.fn.args
    b = e.b
    blk = e.batch_block(ctx)
    mtype = e.load(desc, I32, _TYPE)
    is_dev = b.or_(b.icmp_unsigned("==", mtype, _c(I32, DEVMAP)), b.icmp_unsigned("==", mtype, _c(I32, DEVMAP_HASH)))
    known = b.or_(is_dev, b.or_(b.icmp_unsigned("==", mtype, _c(I32, CPUMAP)),
                                b.icmp_unsigned("==", mtype, _c(I32, XSKMAP))))
    e.branch_if(b.not_(known), e.declined_block(), "redirect_type")  # Python names the wrong map type
    allowed = b.select(is_dev, _c(I64, _ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS), _c(I64, _ACTION_MASK))
    _fail_action(e, b.icmp_unsigned("!=", b.and_(r3, b.not_(allowed)), _c(I64, 0)), XDP_ABORTED, "flags")
    key = b.and_(r2, _c(I64, 0xFFFFFFFF))
    hashed, slotted, found, missing = (e.block(n) for n in ("hashed", "slotted", "found", "missing"))
    b.cbranch(b.icmp_unsigned("==", mtype, _c(I32, DEVMAP_HASH)), hashed, slotted)

    e.at(slotted)  # devmap, cpumap, xskmap: a presence byte per index in aux
    in_range = b.icmp_unsigned("<", key, e.field(desc, _MAX_ENTRIES))
    present_at = b.add(e.field(desc, _AUX, I64), b.select(in_range, key, _c(I64, 0)))
    slot_present = b.and_(in_range, b.icmp_unsigned("!=", e.load(present_at, I8), _c(I8, 0)))
    value_at = b.add(e.field(desc, _VALUES, I64), b.mul(key, e.field(desc, _ENTRY_STRIDE)))
    slot_block = b.block
    b.cbranch(slot_present, found, missing)

    e.at(hashed)  # devmap_hash: the hash table, keyed by the u32 key's bytes
    keybuf = b.alloca(I32)
    b.store(b.trunc(key, I32), keybuf)
    key_addr = b.ptrtoint(keybuf, I64)
    h = b.call(shared["fnv"], [desc, key_addr])
    slot = b.call(shared["find"], [desc, key_addr, h])
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), missing, "hash_found")
    vidx = b.sub(b.zext(e.load(b.add(e.field(desc, _SLOTS, I64), b.mul(slot, e.field(desc, _SLOT_SIZE))), I32, 4),
                        I64), _c(I64, 1))
    hash_value_at = b.add(e.field(desc, _VALUES, I64), b.mul(vidx, e.field(desc, _ENTRY_STRIDE)))
    hash_block = b.block
    b.branch(found)

    e.at(found)
    at = b.phi(I64)
    at.add_incoming(value_at, slot_block)
    at.add_incoming(hash_value_at, hash_block)
    stored = b.zext(e.load(at, I32), I64)
    target = b.select(is_dev, stored, key)
    _record(e, blk, Redirect.MAP, desc, key, target, r3)
    e.ret(XDP_REDIRECT)

    e.at(missing)
    _fail_action(e, b.icmp_unsigned("==", b.and_(r3, _c(I64, BPF_F_BROADCAST)), _c(I64, 0)),
                 b.and_(r3, _c(I64, _ACTION_MASK)), "fallback")
    _record(e, blk, Redirect.MAP, desc, key, _c(I64, NO_TARGET), r3)
    e.ret(XDP_REDIRECT)
    return e.fn


#: helper name -> builder (Linux only: ebpf-for-windows' XDP context differs)
HELPERS = {
    "bpf_xdp_adjust_head": build_adjust_head,
    "bpf_xdp_adjust_tail": build_adjust_tail,
    "bpf_xdp_adjust_meta": build_adjust_meta,
    "bpf_xdp_get_buff_len": build_get_buff_len,
    "bpf_xdp_load_bytes": build_load_bytes,
    "bpf_xdp_store_bytes": build_store_bytes,
    "bpf_redirect": build_redirect,
    "bpf_redirect_map": build_redirect_map,
}
