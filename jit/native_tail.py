"""Native ``bpf_tail_call`` for batch replay: jump to another compiled program without Python.

Before a batch call, jit/batch.py ``TailTable`` compiles every program held
by a ``prog_array`` of the object, prepares a run context for each (its own
lddw table and map table, the batch block in ``Ctx.BATCH``) and lays out a
*tail table* the batch block points at (``BatchWord.TAIL_TABLE``)::

    u64 rows; rows x (u64 prog_array descriptor, u64 slots address)
    slots: max_entries x (u64 ebpf_entry address or 0, u64 run context address)

The helper follows helpers/impl/tailcall.py: past ``MAX_TAIL_CALLS`` in this
packet's run it returns -E2BIG, an empty or out-of-range slot -ENOENT (the
program carries on); otherwise it runs the target in the caller's frame
with the caller's context pointer in r1, copies the target's r0..r5 into
the caller's run context and sets ``Status.TAIL_RETURN``, so the calling
function returns them at once (jit/lower.py checks the status after this
helper, as after a callback). A fault in the target is the caller's stop.

It declines (Python's tail call runs) outside batch runs, for a map that is
not a prog_array (Python names the mistake) and for a slot without a
compiled target.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx, Status
from ebpflite.jit.batch import BatchWord
from ebpflite.jit.native_ir import I8, I32, I64, PTR, Emitter, _c
from ebpflite.vm.isa import MAX_TAIL_CALLS

PROG_ARRAY = 3
E2BIG, ENOENT = 7, 2
_TYPE, _MAX_ENTRIES, _AUX = 4, 16, 80
#: run-context words copied from the target when it stops with a fault
_FAULT_WORDS = (Ctx.STATUS, Ctx.FAULT_PC, Ctx.FAULT_ADDR, Ctx.FAULT_SIZE, Ctx.FAULT_WRITE, Ctx.FAULT_EXTRA)


def build_tail_call(module: ir.Module, shared) -> ir.Function:
    """``bpf_tail_call(ctx, prog_array, index)``."""
    e = Emitter(module, "ebpf_native_tail_call")
    ctx, r1, desc, index, _, _ = e.fn.args
    b = e.b
    blk = e.batch_block(ctx)
    e.branch_if(b.icmp_unsigned("!=", e.load(desc, I32, _TYPE), _c(I32, PROG_ARRAY)), e.declined_block(), "is_array")
    table = e.word(blk, BatchWord.TAIL_TABLE)
    e.branch_if(b.icmp_unsigned("==", table, _c(I64, 0)), e.declined_block(), "has_table")
    rows = e.load(table, I64)
    entry = b.block
    loop, body, found = e.block("loop"), e.block("body"), e.block("found")
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    e.branch_if(b.icmp_unsigned(">=", i, rows), e.declined_block(), "more")
    b.branch(body)
    e.at(body)
    row = b.add(table, b.add(_c(I64, 8), b.mul(i, _c(I64, 16))))
    i.add_incoming(b.add(i, _c(I64, 1)), body)
    b.cbranch(b.icmp_unsigned("==", e.load(row, I64), desc), found, loop)

    e.at(found)
    too_many, empty = e.block("e2big"), e.block("enoent")
    count = e.word(blk, BatchWord.TAIL_CALLS)
    e.branch_if(b.icmp_unsigned(">=", count, _c(I64, MAX_TAIL_CALLS)), too_many, "count_ok")
    slot = b.and_(index, _c(I64, 0xFFFFFFFF))
    in_range = b.icmp_unsigned("<", slot, e.field(desc, _MAX_ENTRIES))
    present = e.load(b.add(e.field(desc, _AUX, I64), b.select(in_range, slot, _c(I64, 0))), I8)
    e.branch_if(b.or_(b.not_(in_range), b.icmp_unsigned("==", present, _c(I8, 0))), empty, "filled")
    slots = e.load(row, I64, 8)
    target = e.load(slots, I64, b.mul(slot, _c(I64, 16)))
    tctx = e.load(slots, I64, b.add(b.mul(slot, _c(I64, 16)), _c(I64, 8)))
    e.branch_if(b.icmp_unsigned("==", target, _c(I64, 0)), e.declined_block(), "compiled")
    e.set_word(blk, BatchWord.TAIL_CALLS, b.add(count, _c(I64, 1)))

    def word_of(context, word):
        return e.load(context, I64, 8 * int(word))

    def set_word_of(context, word, value):
        e.store(value if not isinstance(value, int) else _c(I64, value), context, 8 * int(word))

    for word, value in ((Ctx.STATUS, 0), (Ctx.COUNT, 0), (Ctx.DEPTH, e.ctx_word(ctx, Ctx.CALL_DEPTH)),
                        (Ctx.REG0, 0), (Ctx.REG0 + 1, r1)):
        set_word_of(tctx, word, value)
    for k in range(2, 10):
        set_word_of(tctx, Ctx.REG0 + k, 0)
    run = b.inttoptr(target, ir.FunctionType(I64, [PTR]).as_pointer())
    status = b.call(run, [b.inttoptr(tctx, PTR)])
    caller = b.ptrtoint(ctx, I64)
    stopped, done = e.block("stopped"), e.block("done")
    b.cbranch(b.icmp_unsigned("!=", status, _c(I64, 0)), stopped, done)
    e.at(stopped)  # the target's fault stops the caller
    for word in _FAULT_WORDS:
        set_word_of(caller, word, word_of(tctx, word))
    e.ret(0)
    e.at(done)
    for k in range(6):
        set_word_of(caller, Ctx.REG0 + k, word_of(tctx, Ctx.REG0 + k))
    set_word_of(caller, Ctx.STATUS, int(Status.TAIL_RETURN))
    e.ret(word_of(tctx, Ctx.REG0))

    for block, errno in ((too_many, E2BIG), (empty, ENOENT)):
        e.at(block)
        e.ret(-errno)
    return e.fn


HELPERS = {"bpf_tail_call": build_tail_call}
#: native functions after which the caller checks the run context's status (jit/lower.py)
ENDING = frozenset({"ebpf_native_tail_call"})
