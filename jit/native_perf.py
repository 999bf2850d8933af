"""Native ``bpf_perf_event_output`` for batch replay: records staged in the batch block's buffer.

helpers/impl/perf.py checks, in this order: the flags (-EINVAL outside the
CPU index and ``BPF_F_CTXLEN_MASK``), the packet bytes asked for
(``BPF_F_CTXLEN_MASK``: -EFAULT past the packet), the index (the current CPU
for ``BPF_F_CURRENT_CPU``; -E2BIG past ``max_entries``), an open slot
(-ENOENT), then appends the sample (and the packet's first bytes) to the
map. Here the record goes to the staging buffer (``BatchWord.PERF``) as
``u64 map descriptor, u32 index, u32 length, bytes`` padded to 8; jit/batch.py
``PerfStaging`` hands staged records to the maps in order.

Declines outside batch runs, for a map that is not a perf_event_array, for
a context pointer that is not the batch's ``xdp_md`` when packet bytes are
asked for, and when the record does not fit the buffer (Python then drains
the buffer first and appends it itself).
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.batch import MD_DATA, MD_DATA_END, BatchWord
from ebpflite.jit.native_ir import I32, I64, Emitter, _c

PERF_EVENT_ARRAY = 4
BPF_F_INDEX_MASK, BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU = 0xFFFFFFFF, 0xFFFFF << 32, 0xFFFFFFFF
EINVAL, EFAULT, E2BIG, ENOENT = 22, 14, 7, 2
_TYPE, _MAX_ENTRIES, _VALUES = 4, 16, 48


def build_perf_event_output(module: ir.Module, shared) -> ir.Function:
    """``bpf_perf_event_output(ctx, map, flags, data, size)``."""
    e = Emitter(module, "ebpf_native_perf_event_output")
    ctx, r1, desc, flags, data, size = e.fn.args
    b = e.b
    blk = e.batch_block(ctx)
    e.branch_if(b.icmp_unsigned("!=", e.load(desc, I32, _TYPE), _c(I32, PERF_EVENT_ARRAY)), e.declined_block(),
                "is_perf")
    errors = {errno: e.block(f"e{errno}") for errno in (EINVAL, EFAULT, E2BIG, ENOENT)}
    e.branch_if(b.icmp_unsigned("!=", b.and_(flags, _c(I64, ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK))),
                                _c(I64, 0)), errors[EINVAL], "flags")
    size = b.and_(size, _c(I64, 0xFFFFFFFF))
    ctx_len = b.lshr(b.and_(flags, _c(I64, BPF_F_CTXLEN_MASK)), _c(I64, 32))
    wants_packet = b.icmp_unsigned("!=", ctx_len, _c(I64, 0))
    md = e.word(blk, BatchWord.MD)
    e.branch_if(b.and_(wants_packet, b.icmp_unsigned("!=", r1, md)), e.declined_block(), "is_md")
    pkt = b.zext(e.load(md, I32, MD_DATA), I64)
    pkt_len = b.sub(b.zext(e.load(md, I32, MD_DATA_END), I64), pkt)
    e.branch_if(b.icmp_unsigned(">", ctx_len, pkt_len), errors[EFAULT], "ctx_len")
    index = b.and_(flags, _c(I64, BPF_F_INDEX_MASK))
    cpu = b.zext(e.load(e.word(blk, BatchWord.CPU), I32), I64)
    index = b.select(b.icmp_unsigned("==", index, _c(I64, BPF_F_CURRENT_CPU)), cpu, index)
    e.branch_if(b.icmp_unsigned(">=", index, e.field(desc, _MAX_ENTRIES)), errors[E2BIG], "index")
    opened = e.load(e.field(desc, _VALUES, I64), I64, b.mul(index, _c(I64, 8)))
    e.branch_if(b.icmp_unsigned("==", opened, _c(I64, 0)), errors[ENOENT], "open")
    length = b.add(size, ctx_len)
    record = b.add(_c(I64, 16), b.and_(b.add(length, _c(I64, 7)), _c(I64, ~7)))
    pos = e.word(blk, BatchWord.PERF_POS)
    e.branch_if(b.icmp_unsigned(">", b.add(pos, record), e.word(blk, BatchWord.PERF_CAP)), e.declined_block(),
                "fits")
    at = b.add(e.word(blk, BatchWord.PERF), pos)
    e.store(desc, at, 0)
    e.store(b.trunc(index, I32), at, 8)
    e.store(b.trunc(length, I32), at, 12)
    e.memmove(b.add(at, _c(I64, 16)), data, size)
    e.memmove(b.add(b.add(at, _c(I64, 16)), size), pkt, ctx_len)
    e.set_word(blk, BatchWord.PERF_POS, b.add(pos, record))
    e.ret(0)
    for errno, block in errors.items():
        e.at(block)
        e.ret(-errno)
    return e.fn


HELPERS = {"bpf_perf_event_output": build_perf_event_output}
