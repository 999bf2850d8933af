"""Native ring buffer helpers for batch replay: output, reserve, submit, discard, query.

They follow helpers/maps/ringbuf.py record for record: free-running
producer and consumer positions in ``meta``, an 8-byte header per record
(length with the BUSY bit while reserved, DISCARD once discarded, and the
page offset), records rounded up to 8 bytes, a reservation refused when the
producer would get ``size - 1`` bytes ahead, and a record that wraps
written into the second copy of the data area and brought round on commit.

``submit``/``discard`` get only the record's address: the ring holding it
is found among the map table's rings (jit/native.py ``map_table_rows``).
Reservations are counted in the batch block (``RB_RESERVED``); the batch
loop stops at a packet that exits holding one, as a per-packet run raises.
Outside batch runs (where Python tracks reservations per run) and for a
ring not in the map table they decline.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx
from ebpflite.jit.batch import BatchWord
from ebpflite.jit.native_ir import I32, I64, Emitter, _c

RINGBUF = 27
BUSY_BIT, DISCARD_BIT, HDR_SIZE, PG_OFF_BASE = 1 << 31, 1 << 30, 8, 3
META_CONSUMER, META_PRODUCER = 5, 6
EINVAL, EAGAIN = 22, 11
BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP = 1, 2
_TYPE, _CAPACITY, _VALUES, _META = 4, 40, 48, 64


def _round8(b: ir.IRBuilder, value):
    return b.and_(b.add(value, _c(I64, 7)), _c(I64, ~7))


def _build_reserve(module: ir.Module) -> ir.Function:
    """``i64 reserve(desc, size)``: RingBufMap.reserve with flags 0 (the record's address, or 0)."""
    e = Emitter(module, "ebpf_native_rb_reserve", ir.FunctionType(I64, [I64, I64]))
    desc, size = e.fn.args
    b = e.b
    null = e.block("null")
    e.at(null)
    b.ret(_c(I64, 0))
    e.at(e.fn.entry_basic_block)
    e.branch_if(b.icmp_unsigned(">", size, _c(I64, (1 << 30) - 1)), null, "size_ok")
    length = _round8(b, b.add(size, _c(I64, HDR_SIZE)))
    capacity = e.field(desc, _CAPACITY)
    e.branch_if(b.icmp_unsigned(">", length, capacity), null, "fits")
    meta = e.field(desc, _META, I64)
    cons, prod = e.load(meta, I64, 8 * META_CONSUMER), e.load(meta, I64, 8 * META_PRODUCER)
    mask = b.sub(capacity, _c(I64, 1))
    e.branch_if(b.icmp_unsigned(">", b.sub(b.add(prod, length), cons), mask), null, "room")
    off = b.and_(prod, mask)
    hdr = b.add(e.field(desc, _VALUES, I64), off)
    e.store(b.trunc(b.or_(size, _c(I64, BUSY_BIT)), I32), hdr, 0)
    e.store(b.trunc(b.add(b.lshr(off, _c(I64, 12)), _c(I64, PG_OFF_BASE)), I32), hdr, 4)
    e.store(b.add(prod, length), meta, 8 * META_PRODUCER)
    b.ret(b.add(hdr, _c(I64, HDR_SIZE)))
    return e.fn


def _build_commit(module: ir.Module) -> ir.Function:
    """``void commit(desc, sample, discard)``: RingBufMap._commit (the sample known to be reserved)."""
    e = Emitter(module, "ebpf_native_rb_commit", ir.FunctionType(ir.VoidType(), [I64, I64, I64]))
    desc, sample, discard = e.fn.args
    b = e.b
    data, capacity = e.field(desc, _VALUES, I64), e.field(desc, _CAPACITY)
    off = b.sub(b.sub(sample, _c(I64, HDR_SIZE)), data)
    size = b.and_(b.zext(e.load(data, I32, off), I64), _c(I64, ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF))
    end = b.add(off, _round8(b, b.add(size, _c(I64, HDR_SIZE))))
    with b.if_then(b.icmp_unsigned(">", end, capacity)):  # wrapped: bring the tail round to the start
        e.memmove(data, b.add(data, capacity), b.sub(end, capacity))
    flag = b.select(b.icmp_unsigned("!=", discard, _c(I64, 0)), _c(I64, DISCARD_BIT), _c(I64, 0))
    e.store(b.trunc(b.or_(size, flag), I32), data, off)
    b.ret_void()
    return e.fn


def _shared(module: ir.Module, shared: dict) -> tuple[ir.Function, ir.Function]:
    if "rb_reserve" not in shared:
        shared["rb_reserve"] = _build_reserve(module)
        shared["rb_commit"] = _build_commit(module)
    return shared["rb_reserve"], shared["rb_commit"]


def _ring(e: Emitter, shared: dict, ctx, desc):
    """Decline unless ``desc`` is a ring buffer in the map table and this is a batch run."""
    b = e.b
    blk = e.batch_block(ctx)
    e.branch_if(b.icmp_unsigned("!=", e.load(desc, I32, _TYPE), _c(I32, RINGBUF)), e.declined_block(), "is_ring")
    row = b.call(shared["row"], [ctx, desc])
    e.branch_if(b.not_(b.extract_value(row, 0)), e.declined_block(), "writable")
    return blk


def _held(e: Emitter, blk, delta: int) -> None:
    e.set_word(blk, BatchWord.RB_RESERVED, e.b.add(e.word(blk, BatchWord.RB_RESERVED), _c(I64, delta)))


def build_reserve(module: ir.Module, shared) -> ir.Function:
    """``bpf_ringbuf_reserve(ring, size, flags)``."""
    reserve, _ = _shared(module, shared)
    e = Emitter(module, "ebpf_native_ringbuf_reserve")
    ctx, desc, size, flags, _, _ = e.fn.args
    b = e.b
    blk = _ring(e, shared, ctx, desc)
    null = e.block("null")
    e.branch_if(b.icmp_unsigned("!=", flags, _c(I64, 0)), null, "no_flags")
    sample = b.call(reserve, [desc, size])
    e.branch_if(b.icmp_unsigned("==", sample, _c(I64, 0)), null, "reserved")
    _held(e, blk, 1)
    e.ret(sample)
    e.at(null)
    e.ret(0)
    return e.fn


def _build_release(module: ir.Module, shared, discard: bool) -> ir.Function:
    """``bpf_ringbuf_submit/discard(sample, flags)``: find the ring among the map table's rows."""
    _, commit = _shared(module, shared)
    e = Emitter(module, f"ebpf_native_ringbuf_{'discard' if discard else 'submit'}")
    ctx, sample = e.fn.args[0], e.fn.args[1]
    b = e.b
    blk = e.batch_block(ctx)
    table = e.ctx_word(ctx, Ctx.MAPS)
    count = e.load(table, I64)
    entry = b.block
    loop, body, ring, hit = e.block("loop"), e.block("body"), e.block("ring"), e.block("hit")
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    e.branch_if(b.icmp_unsigned(">=", i, count), e.declined_block(), "more")  # not ours: Python names it
    b.branch(body)
    e.at(body)
    desc = e.load(table, I64, b.add(_c(I64, 8), b.mul(i, _c(I64, 16))))
    i.add_incoming(b.add(i, _c(I64, 1)), body)
    i.add_incoming(b.add(i, _c(I64, 1)), ring)
    b.cbranch(b.icmp_unsigned("==", e.load(desc, I32, _TYPE), _c(I32, RINGBUF)), ring, loop)
    e.at(ring)
    data = e.field(desc, _VALUES, I64)
    off = b.sub(b.sub(sample, _c(I64, HDR_SIZE)), data)
    inside = b.and_(b.icmp_unsigned("<", off, e.field(desc, _CAPACITY)),
                    b.icmp_unsigned("==", b.and_(off, _c(I64, 7)), _c(I64, 0)))
    busy_at = b.select(inside, off, _c(I64, 0))
    busy = b.icmp_unsigned("!=", b.and_(e.load(data, I32, busy_at), _c(I32, BUSY_BIT)), _c(I32, 0))
    b.cbranch(b.and_(inside, busy), hit, loop)
    e.at(hit)
    b.call(commit, [desc, sample, _c(I64, int(discard))])
    _held(e, blk, -1)
    e.ret(0)
    return e.fn


def build_submit(module: ir.Module, shared) -> ir.Function:
    return _build_release(module, shared, discard=False)


def build_discard(module: ir.Module, shared) -> ir.Function:
    return _build_release(module, shared, discard=True)


def build_output(module: ir.Module, shared) -> ir.Function:
    """``bpf_ringbuf_output(ring, data, size, flags)``: RingBufMap.output (-EINVAL, -EAGAIN)."""
    reserve, commit = _shared(module, shared)
    e = Emitter(module, "ebpf_native_ringbuf_output")
    ctx, desc, data, size, flags, _ = e.fn.args
    b = e.b
    _ring(e, shared, ctx, desc)
    bad, full = e.block("einval"), e.block("eagain")
    e.branch_if(b.icmp_unsigned("!=", b.and_(flags, _c(I64, ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))),
                                _c(I64, 0)), bad, "flags")
    size = b.and_(size, _c(I64, 0xFFFFFFFF))
    sample = b.call(reserve, [desc, size])
    e.branch_if(b.icmp_unsigned("==", sample, _c(I64, 0)), full, "reserved")
    e.memmove(sample, data, size)
    b.call(commit, [desc, sample, _c(I64, 0)])
    e.ret(0)
    e.at(bad)
    e.ret(-EINVAL)
    e.at(full)
    e.ret(-EAGAIN)
    return e.fn


def build_query(module: ir.Module, shared) -> ir.Function:
    """``bpf_ringbuf_query(ring, flags)``: available data, size, consumer or producer position."""
    e = Emitter(module, "ebpf_native_ringbuf_query")
    desc, flags = e.fn.args[1], e.fn.args[2]
    b = e.b
    e.branch_if(b.icmp_unsigned("!=", e.load(desc, I32, _TYPE), _c(I32, RINGBUF)), e.declined_block(), "is_ring")
    meta = e.field(desc, _META, I64)
    cons, prod = e.load(meta, I64, 8 * META_CONSUMER), e.load(meta, I64, 8 * META_PRODUCER)
    value = b.select(b.icmp_unsigned("==", flags, _c(I64, 0)), b.sub(prod, cons), _c(I64, 0))
    value = b.select(b.icmp_unsigned("==", flags, _c(I64, 1)), e.field(desc, _CAPACITY), value)
    value = b.select(b.icmp_unsigned("==", flags, _c(I64, 2)), cons, value)
    value = b.select(b.icmp_unsigned("==", flags, _c(I64, 3)), prod, value)
    e.ret(value)
    return e.fn


HELPERS = {
    "bpf_ringbuf_output": build_output,
    "bpf_ringbuf_reserve": build_reserve,
    "bpf_ringbuf_submit": build_submit,
    "bpf_ringbuf_discard": build_discard,
    "bpf_ringbuf_query": build_query,
}
