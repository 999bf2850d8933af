"""Native clock, random and CPU helpers for batch replay.

The Python helpers read the world from ``env.world`` (vm/world.py): a
:class:`~ebpflite.vm.world.Clock` (host clocks, or a fixed clock
advanced by ``step_ns`` per reading), a ``random.Random`` (seeded from the
runtime's ``seed``) and the current CPU. A batch run copies the clock and
the generator's MT19937 state into the batch block (jit/batch.py
``World``) and these helpers use them there, drawing exactly the values the
Python helpers would, in the same order: ``getrandbits(32)`` is one
MT19937 output, and the clock reading rules are helpers/impl/time.py's.
Outside batch runs they decline.
"""

from __future__ import annotations

import time as _time

import llvmlite.ir as ir

from ebpflite.jit.batch import BatchWord
from ebpflite.jit.native_ir import I32, I64, PTR, Emitter, _c

HZ = 250  #: helpers/impl/time.py: jiffies and the coarse clock tick at this rate
TICK_NS = 1_000_000_000 // HZ
CLOCK_MONOTONIC = _time.CLOCK_MONOTONIC
CLOCK_BOOTTIME = getattr(_time, "CLOCK_BOOTTIME", _time.CLOCK_MONOTONIC)
CLOCK_TAI = getattr(_time, "CLOCK_TAI", _time.CLOCK_REALTIME)
MT_N, MT_M = 624, 397
MT_MATRIX, MT_UPPER, MT_LOWER = 0x9908B0DF, 0x80000000, 0x7FFFFFFF


def _build_read_clock(module: ir.Module) -> ir.Function:
    """``{i1 ok, i64 ns} read(block, clock_id, offset)``: Clock._read on the block's clock (the
    offset applies to the fixed clock only, as there)."""
    from ebpflite.jit.native_ir import RESULT_T

    e = Emitter(module, "ebpf_native_read_clock", ir.FunctionType(RESULT_T, [I64, I64, I64]))
    blk, clock_id, offset = e.fn.args
    b = e.b
    host, fixed = e.block("host"), e.block("fixed")
    sw = b.switch(e.word(blk, BatchWord.CLOCK_MODE), e.declined_block())
    sw.add_case(_c(I64, 1), host)
    sw.add_case(_c(I64, 2), fixed)

    e.at(fixed)  # now = fixed_ns + offset; fixed_ns += step_ns
    now = e.word(blk, BatchWord.CLOCK_NS)
    e.set_word(blk, BatchWord.CLOCK_NS, b.add(now, e.word(blk, BatchWord.CLOCK_STEP)))
    e.ret(b.add(now, offset))

    e.at(host)  # clock_gettime through the pointer the runner took from libc
    spec = b.alloca(I64, size=2)
    gettime = b.inttoptr(e.word(blk, BatchWord.CLOCK_GETTIME), ir.FunctionType(I32, [I32, PTR]).as_pointer())
    b.call(gettime, [b.trunc(clock_id, I32), spec])
    sec = b.load(spec, typ=I64)
    nsec = b.load(b.gep(spec, [_c(I64, 1)], source_etype=I64), typ=I64)
    e.ret(b.add(b.mul(sec, _c(I64, 1_000_000_000)), nsec))
    return e.fn


#: helper -> (clock id, offset word or None, post-processing)
_CLOCKS = {
    "bpf_ktime_get_ns": (CLOCK_MONOTONIC, None, None),
    "bpf_ktime_get_boot_ns": (CLOCK_BOOTTIME, BatchWord.CLOCK_BOOT, None),
    "bpf_ktime_get_coarse_ns": (CLOCK_MONOTONIC, None, "coarse"),
    "bpf_ktime_get_tai_ns": (CLOCK_TAI, BatchWord.CLOCK_TAI, None),
    "bpf_jiffies64": (CLOCK_BOOTTIME, BatchWord.CLOCK_BOOT, "jiffies"),
}


def _clock_helper(name: str):
    clock_id, offset_word, post = _CLOCKS[name]

    def build(module: ir.Module, shared) -> ir.Function:
        reader = shared.get("read_clock")
        if reader is None:
            reader = shared["read_clock"] = _build_read_clock(module)
        e = Emitter(module, f"ebpf_native_{name[4:]}")
        ctx = e.fn.args[0]
        b = e.b
        blk = e.batch_block(ctx)
        offset = e.word(blk, offset_word) if offset_word is not None else _c(I64, 0)
        res = b.call(reader, [blk, _c(I64, clock_id), offset])
        e.branch_if(b.not_(b.extract_value(res, 0)), e.declined_block(), "clock")
        now = b.extract_value(res, 1)
        if post == "coarse":
            now = b.sub(now, b.urem(now, _c(I64, TICK_NS)))
        elif post == "jiffies":
            now = b.udiv(now, _c(I64, TICK_NS))
        e.ret(now)
        return e.fn

    return build


def build_prandom(module: ir.Module, shared) -> ir.Function:
    """``bpf_get_prandom_u32()``: one MT19937 output from the block's state (random.getrandbits(32))."""
    e = Emitter(module, "ebpf_native_get_prandom_u32")
    b = e.b
    blk = e.batch_block(e.fn.args[0])
    mt = e.word(blk, BatchWord.PRANDOM)
    e.branch_if(b.icmp_unsigned("==", mt, _c(I64, 0)), e.declined_block(), "seeded")

    def word(index):
        return e.load(mt, I32, b.mul(index, _c(I64, 4)))

    def put(index, value):
        e.store(value, mt, b.mul(index, _c(I64, 4)))

    n = _c(I64, MT_N)
    mti = b.zext(word(n), I64)
    check = b.block
    twist, loop, body, draw = e.block("twist"), e.block("loop"), e.block("body"), e.block("draw")
    b.cbranch(b.icmp_unsigned(">=", mti, n), twist, draw)
    e.at(twist)  # regenerate all 624 words (indexes mod N give the reference algorithm's order)
    b.branch(loop)
    e.at(loop)
    kk = e.loop_phi(I64, _c(I64, 0), twist)
    b.cbranch(b.icmp_unsigned("<", kk, n), body, draw)
    e.at(body)
    y = b.or_(b.and_(word(kk), _c(I32, MT_UPPER)), b.and_(word(b.urem(b.add(kk, _c(I64, 1)), n)), _c(I32, MT_LOWER)))
    mag = b.select(b.icmp_unsigned("!=", b.and_(y, _c(I32, 1)), _c(I32, 0)), _c(I32, MT_MATRIX), _c(I32, 0))
    put(kk, b.xor(b.xor(word(b.urem(b.add(kk, _c(I64, MT_M)), n)), b.lshr(y, _c(I32, 1))), mag))
    kk.add_incoming(b.add(kk, _c(I64, 1)), body)
    b.branch(loop)
    e.at(draw)  # temper the word at the index, then advance it
    index = b.phi(I64)
    index.add_incoming(mti, check)
    index.add_incoming(_c(I64, 0), loop)
    y = word(index)
    y = b.xor(y, b.lshr(y, _c(I32, 11)))
    y = b.xor(y, b.and_(b.shl(y, _c(I32, 7)), _c(I32, 0x9D2C5680)))
    y = b.xor(y, b.and_(b.shl(y, _c(I32, 15)), _c(I32, 0xEFC60000)))
    y = b.xor(y, b.lshr(y, _c(I32, 18)))
    put(n, b.trunc(b.add(index, _c(I64, 1)), I32))
    e.ret(b.zext(y, I64))
    return e.fn


def build_smp_processor_id(module: ir.Module, shared) -> ir.Function:
    """``bpf_get_smp_processor_id()``: the current CPU cell (helpers/maps/layout.py)."""
    e = Emitter(module, "ebpf_native_get_smp_processor_id")
    blk = e.batch_block(e.fn.args[0])
    e.ret(e.b.zext(e.load(e.word(blk, BatchWord.CPU), I32), I64))
    return e.fn


HELPERS = {name: _clock_helper(name) for name in _CLOCKS}
HELPERS.update({"bpf_get_prandom_u32": build_prandom, "bpf_get_smp_processor_id": build_smp_processor_id})
