"""What every native helper is built from: the result type, the IR idioms, the batch block.

Native helpers (jit/native.py and the native_*.py modules beside it) all have
the shape ``{i1 handled, i64 r0} fn(ctx*, r1, r2, r3, r4, r5)`` and are
written with :class:`Emitter`. Helpers that only make sense inside a batch
replay (the packet's frame, the redirect slot, the simulated clock, the
seeded generator: jit/batch.py) reach the batch block through the run
context's ``Ctx.BATCH`` word with :meth:`Emitter.batch_block`, which
declines outside batch runs, so per-packet runs keep the Python helpers and
their per-run state.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
#: {handled, r0}: handled = 0 means "call the Python helper instead"
RESULT_T = ir.LiteralStructType([I1, I64])
NATIVE_FN_T = ir.FunctionType(RESULT_T, [PTR] + [I64] * 5)

def _c(ty: ir.IntType, v: int) -> ir.Constant:
    return ir.Constant(ty, v)


class Emitter:
    """An IRBuilder for one native helper with the few idioms they all use."""

    def __init__(self, module: ir.Module, name: str, fnty: ir.FunctionType = NATIVE_FN_T):
        self.module = module
        self.fn = ir.Function(module, fnty, name)
        self.fn.linkage = "internal"
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    def ptr(self, addr):
        return self.b.inttoptr(addr, PTR)

    def load(self, addr, ty: ir.IntType, offset=0):
        """``*(ty *)(addr + offset)`` (addr an i64 address)."""
        off = offset if isinstance(offset, ir.Value) else _c(I64, offset)
        return self.b.load(self.b.gep(self.ptr(addr), [off], source_etype=I8), typ=ty, align=1)

    def store(self, value, addr, offset=0) -> None:
        off = offset if isinstance(offset, ir.Value) else _c(I64, offset)
        self.b.store(value, self.b.gep(self.ptr(addr), [off], source_etype=I8), align=1)

    def field(self, desc, offset: int, ty: ir.IntType = I32):
        """A descriptor field, zero-extended to i64."""
        value = self.load(desc, ty, offset)
        return value if ty is I64 else self.b.zext(value, I64)

    def memmove(self, dst, src, size) -> None:
        fn = self.module.declare_intrinsic("llvm.memmove", [PTR, PTR, I64])
        self.b.call(fn, [self.ptr(dst), self.ptr(src), size, _c(I1, 0)])

    def memset(self, dst, size) -> None:
        fn = self.module.declare_intrinsic("llvm.memset", [PTR, I64])
        self.b.call(fn, [self.ptr(dst), _c(I8, 0), size, _c(I1, 0)])

    def ret(self, r0) -> None:
        """Return ``{1, r0}`` (handled); an int r0 is a constant (negative: -errno)."""
        if isinstance(r0, int):
            self.b.ret(ir.Constant(RESULT_T, [1, r0]))
            return
        value = self.b.insert_value(ir.Constant(RESULT_T, ir.Undefined), _c(I1, 1), 0)
        self.b.ret(self.b.insert_value(value, r0, 1))

    def decline(self) -> None:
        self.b.ret(ir.Constant(RESULT_T, [0, 0]))

    def branch_if(self, cond, then: ir.Block, name: str) -> None:
        """Go to ``then`` when ``cond`` holds, continue in a new block otherwise."""
        cont = self.block(name)
        self.b.cbranch(cond, then, cont)
        self.at(cont)

    def loop_phi(self, ty: ir.IntType, start, start_block: ir.Block):
        phi = self.b.phi(ty)
        phi.add_incoming(start, start_block)
        return phi

    def declined_block(self) -> ir.Block:
        """One shared block that declines (created on first use)."""
        block = getattr(self, "_declined", None)
        if block is None:
            here = self.b.block
            block = self._declined = self.block("decline")
            self.at(block)
            self.decline()
            self.at(here)
        return block

    def ctx_word(self, ctx, word: int):
        return self.b.load(self.b.gep(ctx, [_c(I64, int(word))], source_etype=I64), typ=I64)

    def batch_block(self, ctx):
        """The batch block's address; declines when the run is not a batch run."""
        blk = self.ctx_word(ctx, Ctx.BATCH)
        self.branch_if(self.b.icmp_unsigned("==", blk, _c(I64, 0)), self.declined_block(), "in_batch")
        return blk

    def word(self, blk, word: int):
        """Word ``word`` (a BatchWord) of the batch block."""
        return self.load(blk, I64, 8 * int(word))

    def set_word(self, blk, word: int, value) -> None:
        self.store(value if not isinstance(value, int) else _c(I64, value), blk, 8 * int(word))

    def s32(self, value):
        """The low 32 bits of a register, sign-extended (an ``int`` helper argument)."""
        return self.b.sext(self.b.trunc(value, I32), I64)
