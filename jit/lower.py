"""eBPF -> LLVM IR (``llvmlite.ir``), driven by the ISA table.

One LLVM function per eBPF function (the entry at pc 0 and every target of
a ``call local``), each holding the eBPF blocks reachable from its entry.
Registers are allocas that LLVM's mem2reg turns into SSA values. Every
instruction is lowered by one generic routine per :class:`~ebpflite.vm.isa.Kind`
that reads the spec's ``op``, ``width``, ``source`` and ``signed`` fields:
there is no per-opcode code here.

The semantics are the interpreter's (docs/architecture.md, "Semantics both
engines implement"): LLVM's undefined cases (division by zero, INT_MIN / -1,
over-wide shifts) are made defined with selects and masks.

Everything that depends on one run (stack address, region table, lddw
values, helper trampoline, budget) is read from the run context
(:mod:`ebpflite.jit.abi`), so the module depends only on the program bytes
and the mode, which is what the compile cache keys on.

Functions take ``(ctx, r0..r9, depth)`` and return ``{r0..r5}``: a callee
starts with the caller's registers and leaves r1-r5 as it found them at its
exit, exactly as the interpreter's single register file behaves; r6-r9 are
the caller's own allocas, so they are preserved for free.

Checked mode keeps two promises at the cost of as little code as it can:
every access lies inside one region (checked inline against the region its
base register last reached, :meth:`FunctionLowering.access`), and the budget
stops the program exactly where the interpreter would (counted per segment,
:func:`~ebpflite.jit.loops.segments`; loops get a fast copy that checks only
at checkpoints, jit/loops.py; the last partial segment runs in Python,
jit/budget.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir

from ebpflite.jit.abi import CALLBACK_ARGS, CallKind, Ctx, Status
from ebpflite.jit.loops import SEGMENT_ENDS as CALLS_OUT
from ebpflite.jit.loops import LoopPlan, plan_loops, segments
from ebpflite.jit.native import ENDING_NATIVE_FUNCTIONS, build_native_helpers
from ebpflite.jit.switches import SwitchPlan, recover_switch
from ebpflite.vm.cfg import Block, function_starts, reachable_blocks
from ebpflite.vm.cfg import ends_block as _ends_block
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import MAX_CALL_DEPTH, STACK_SIZE, Kind, PseudoSrc
from ebpflite.vm.program import Program

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
REGS_T = ir.LiteralStructType([I64] * 6)  # r0..r5 returned by every function
MASK64 = (1 << 64) - 1
INT_TYPES = {8: I8, 16: I16, 32: I32, 64: I64}

ENTRY_NAME = "ebpf_entry"
CHECK_NAME = "ebpf_check"
BATCH_NAME = "ebpf_batch"
#: u64 ebpf_callfn(ctx*): run the function starting at ctx[CALL_TARGET] (helper callbacks)
CALLFN_NAME = "ebpf_callfn"
#: u64 ebpf_run(ctx*): a whole fresh run with r1..r5 from the context (stack cleared, counters reset)
RUN_NAME = "ebpf_run"


def func_name(pc: int) -> str:
    return f"ebpf_fn_{pc}"


# --- control flow ------------------------------------------------------------------


@dataclass
class FunctionShape:
    """The blocks of one eBPF function, found by following jumps from its entry."""

    entry: int
    blocks: dict[int, Block]


def function_shapes(program: Program) -> list[FunctionShape]:
    """Entry function first, then each ``call local`` target and each callback
    (an lddw of a code address, as bpf_loop takes) in pc order."""
    by_pc = program.by_pc()
    entries = [pc for pc in function_starts(program.insns) if pc in by_pc]
    shapes = []
    for entry in entries:
        blocks = reachable_blocks(by_pc, entry)
        shapes.append(FunctionShape(entry, blocks))
    return shapes


#: the widest access; a region cache holds (start, span - (MAX_ACCESS - 1)): the offsets at
#: which an access of any width fits, so one compare serves every width
MAX_ACCESS = 8


def cache_keys(shape: FunctionShape) -> set[tuple[int, bool]]:
    """The region caches of a checked function: one per (base register, write) of its
    accesses. Keyed by base register so that a loop copying from one region to another
    (``r2`` loads, ``r1`` stores) keeps both regions cached; reads and writes apart because
    only a write's walk proves the region writable."""
    keys = set()
    for block in shape.blocks.values():
        for insn in block.insns:
            if insn.kind is Kind.LDX:
                keys.add((insn.src, False))
            elif insn.kind in (Kind.ST, Kind.STX, Kind.ATOMIC):
                keys.add((insn.dst, True))
    return keys


# --- per-function lowering ---------------------------------------------------------


@dataclass(frozen=True)
class LowerOptions:
    checked: bool = True  #: bounds checks and instruction budget
    count: bool = True  #: keep the executed-instruction count (always on in checked mode)
    #: (helper number, name) of the helpers lowered natively (jit/native.py; unchecked mode only)
    native: tuple[tuple[int, str], ...] = ()
    #: Linux map types the native map helpers handle (jit/native.py ``map_types_of``); None: all
    map_types: tuple[int, ...] | None = None

    @property
    def native_numbers(self) -> frozenset[int]:
        return frozenset(number for number, _ in self.native)


class ModuleLowering:
    """Builds the LLVM module for one program."""

    def __init__(self, program: Program, options: LowerOptions):
        self.program = program
        self.options = options
        self.module = ir.Module(name=program.name or "prog")
        self.shapes = function_shapes(program)
        self.lddw_slots: dict[int, int] = {}  # pc -> index in the lddw table
        for insn in program.insns:
            if insn.kind is Kind.LDDW and insn.spec.extra != PseudoSrc.IMM64:
                self.lddw_slots[insn.pc] = len(self.lddw_slots)
        self.nslots = program.nslots
        #: second slots of lddw: a jump there is a bad jump, not a gap
        self.lddw_tails = frozenset(insn.pc + 1 for insn in program.insns if insn.slots == 2)
        fnty = ir.FunctionType(REGS_T, [PTR] + [I64] * 10 + [I64])
        self.functions = {}
        for shape in self.shapes:
            fn = ir.Function(self.module, fnty, func_name(shape.entry))
            fn.linkage = "internal"
            # eBPF code cannot reach the run context (it is in no region), so LLVM may keep
            # its words (the instruction count) in registers across loads and stores
            fn.args[0].add_attribute("noalias")
            self.functions[shape.entry] = fn
        self.check_fn = self._build_check() if options.checked else None
        #: helper number -> native function (never in checked mode: helper arguments are unproven)
        native = () if options.checked else options.native
        functions = build_native_helpers(self.module, (name for _, name in native), options.map_types)
        self.native_helpers = {number: functions[name] for number, name in native}
        self.callback_ty = ir.FunctionType(I64, [PTR] + [I64] * (CALLBACK_ARGS - 1))

    def lower(self) -> ir.Module:
        for shape in self.shapes:
            FunctionLowering(self, shape).lower()
        self._build_entry()
        self._build_run()
        self._build_callfn()
        self._build_batch()
        return self.module

    def _build_callfn(self) -> None:
        """``u64 ebpf_callfn(ctx*)``: call the function whose entry pc is in
        ``ctx[CALL_TARGET]`` with r1..r5 from the context, in frame
        ``ctx[DEPTH]``; r0 goes back to ``ctx[REG0]``. Helpers that call back
        into the program (bpf_loop, for_each_map_elem) use it."""
        fn = ir.Function(self.module, ir.FunctionType(I64, [PTR]), CALLFN_NAME)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ctx = fn.args[0]
        unknown = fn.append_basic_block("unknown")
        out = fn.append_basic_block("out")
        switch = b.switch(ctx_load(b, ctx, Ctx.CALL_TARGET), unknown)
        for entry, function in self.functions.items():
            block = fn.append_basic_block(f"call_{entry}")
            switch.add_case(_c(I64, entry), block)
            b.position_at_end(block)
            args = [ctx_load(b, ctx, Ctx.REG0 + i) for i in range(10)] + [ctx_load(b, ctx, Ctx.DEPTH)]
            res = b.call(function, [ctx] + args)
            ctx_store(b, ctx, Ctx.REG0, b.extract_value(res, 0))
            b.branch(out)
        b.position_at_end(unknown)
        ctx_store(b, ctx, Ctx.STATUS, _c(I64, Status.BAD_JUMP))
        ctx_store(b, ctx, Ctx.FAULT_EXTRA, ctx_load(b, ctx, Ctx.CALL_TARGET))
        b.branch(out)
        b.position_at_end(out)
        b.ret(ctx_load(b, ctx, Ctx.STATUS))

    # the entry point: u64 ebpf_entry(ctx*) -> status
    def _build_entry(self) -> None:
        fn = ir.Function(self.module, ir.FunctionType(I64, [PTR]), ENTRY_NAME)
        fn.args[0].add_attribute("noalias")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ctx = fn.args[0]
        args = [ctx_load(b, ctx, Ctx.REG0 + i) for i in range(10)] + [ctx_load(b, ctx, Ctx.DEPTH)]
        self._call_entry_and_return(fn, b, ctx, args)

    def _call_entry_and_return(self, fn: ir.Function, b: ir.IRBuilder, ctx, args: list) -> None:
        """Call the entry function with ``args`` (r0..r9, frame) and return the status;
        on success r0..r5 go back to ``ctx[REG0..REG5]``."""
        res = b.call(self.functions[0], [ctx] + args)
        status = ctx_load(b, ctx, Ctx.STATUS)
        done = fn.append_basic_block("done")
        out = fn.append_basic_block("out")
        b.cbranch(b.icmp_unsigned("==", status, _c(I64, 0)), done, out)
        b.position_at_end(done)
        for i in range(6):
            ctx_store(b, ctx, Ctx.REG0 + i, b.extract_value(res, i))
        b.branch(out)
        b.position_at_end(out)
        b.ret(status)

    def _build_run(self) -> None:
        """``u64 ebpf_run(ctx*) -> status``: what ``JitProgram.run`` needs in one call.

        Takes r1..r5 from ``REG1..REG5``; clears the stack, zeroes r0 and r6-r9,
        the status, the count and the frame, then runs the entry function and
        stores r0..r5 back, so that a run from Python costs five word writes and
        a one-argument ctypes call (ctypes converts each argument at a cost of
        about 0.2 us) instead of a dozen numpy writes.
        """
        fn = ir.Function(self.module, ir.FunctionType(I64, [PTR]), RUN_NAME)
        fn.args[0].add_attribute("noalias")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ctx = fn.args[0]
        lo = ctx_load(b, ctx, Ctx.STACK_LO)
        memset = self.module.declare_intrinsic("llvm.memset", [PTR, I64])
        b.call(memset, [b.inttoptr(lo, PTR), _c(I8, 0), b.sub(ctx_load(b, ctx, Ctx.STACK_HI), lo), _c(I1, 0)])
        for word in (Ctx.STATUS, Ctx.COUNT, Ctx.DEPTH):
            ctx_store(b, ctx, word, 0)
        args = [_c(I64, 0)] + [ctx_load(b, ctx, Ctx.REG0 + i) for i in range(1, 6)] + [_c(I64, 0)] * 5
        self._call_entry_and_return(fn, b, ctx, args)

    # u64 ebpf_batch(ctx*, block*) -> status: jit/batch.py builds it (BatchWord is the block's layout)
    def _build_batch(self) -> None:
        from ebpflite.jit.batch import build_batch

        build_batch(self)

    # u64 ebpf_check(ctx*, addr, size, write): the address of the region table row whose region
    # holds [addr, addr+size) (and is writable if write), or 0
    def _build_check(self) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(I64, [PTR, I64, I64, I1]), CHECK_NAME)
        fn.linkage = "internal"
        fn.attributes.add("noinline")  # the miss path of every access: keep it out of line
        fn.attributes.add("cold")
        ctx, addr, size, write = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        body = fn.append_basic_block("body")
        hit = fn.append_basic_block("hit")
        nxt = fn.append_basic_block("next")
        yes = fn.append_basic_block("yes")
        no = fn.append_basic_block("no")
        b = ir.IRBuilder(entry)
        table = b.inttoptr(ctx_load(b, ctx, Ctx.REGIONS), PTR)
        count = b.load(table, typ=I64)
        b.branch(loop)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(ir.Constant(I64, 1), entry)
        b.cbranch(b.icmp_unsigned("<=", i, count), body, no)
        b.position_at_end(body)
        row = b.gep(table, [b.mul(i, ir.Constant(I64, 3))], source_etype=I64)
        start = b.load(row, typ=I64)
        end = b.load(b.gep(row, [ir.Constant(I64, 1)], source_etype=I64), typ=I64)
        span = b.sub(end, start)
        off = b.sub(addr, start)
        inside = b.and_(b.icmp_unsigned("<", off, span), b.icmp_unsigned("<=", size, b.sub(span, off)))
        b.cbranch(inside, hit, nxt)
        b.position_at_end(nxt)
        i.add_incoming(b.add(i, ir.Constant(I64, 1)), nxt)
        b.branch(loop)
        b.position_at_end(hit)
        flags = b.load(b.gep(row, [ir.Constant(I64, 2)], source_etype=I64), typ=I64)
        writable = b.icmp_unsigned("!=", b.and_(flags, ir.Constant(I64, 1)), ir.Constant(I64, 0))
        b.cbranch(b.or_(b.not_(write), writable), yes, no)
        b.position_at_end(yes)
        b.ret(b.ptrtoint(row, I64))
        b.position_at_end(no)
        b.ret(ir.Constant(I64, 0))
        return fn


def ctx_ptr(b: ir.IRBuilder, ctx, word: int):
    return b.gep(ctx, [ir.Constant(I64, int(word))], source_etype=I64)


def ctx_load(b: ir.IRBuilder, ctx, word: int):
    return b.load(ctx_ptr(b, ctx, word), typ=I64)


def ctx_store(b: ir.IRBuilder, ctx, word: int, value) -> None:
    b.store(value if not isinstance(value, int) else ir.Constant(I64, value), ctx_ptr(b, ctx, word))


def _c(ty: ir.IntType, value: int) -> ir.Constant:
    return ir.Constant(ty, value & ((1 << ty.width) - 1))


# --- ALU operations: op name -> (builder, a, b) -> result, all of one int type -----


def _udiv(b, x, y):
    zero = b.icmp_unsigned("==", y, _c(y.type, 0))
    q = b.udiv(x, b.select(zero, _c(y.type, 1), y))
    return b.select(zero, _c(y.type, 0), q)


def _umod(b, x, y):
    zero = b.icmp_unsigned("==", y, _c(y.type, 0))
    r = b.urem(x, b.select(zero, _c(y.type, 1), y))
    return b.select(zero, x, r)


def _signed_divisor(b, y):
    zero = b.icmp_unsigned("==", y, _c(y.type, 0))
    minus1 = b.icmp_unsigned("==", y, _c(y.type, -1))
    return zero, minus1, b.select(b.or_(zero, minus1), _c(y.type, 1), y)


def _sdiv(b, x, y):
    zero, minus1, safe = _signed_divisor(b, y)
    q = b.sdiv(x, safe)
    return b.select(zero, _c(y.type, 0), b.select(minus1, b.neg(x), q))


def _smod(b, x, y):
    zero, minus1, safe = _signed_divisor(b, y)
    r = b.srem(x, safe)
    return b.select(zero, x, b.select(minus1, _c(y.type, 0), r))


def _shift(kind):
    def lower(b, x, y):
        amount = b.and_(y, _c(y.type, y.type.width - 1))
        return getattr(b, kind)(x, amount)
    return lower


ALU_OPS = {
    "add": lambda b, x, y: b.add(x, y),
    "sub": lambda b, x, y: b.sub(x, y),
    "mul": lambda b, x, y: b.mul(x, y),
    "div": _udiv,
    "mod": _umod,
    "sdiv": _sdiv,
    "smod": _smod,
    "or": lambda b, x, y: b.or_(x, y),
    "and": lambda b, x, y: b.and_(x, y),
    "xor": lambda b, x, y: b.xor(x, y),
    "lsh": _shift("shl"),
    "rsh": _shift("lshr"),
    "arsh": _shift("ashr"),
    "mov": lambda b, x, y: y,
    "neg": lambda b, x, y: b.neg(x),
}

#: conditional jumps: op -> icmp predicate (signed ops use icmp_signed)
JUMP_PREDICATES = {
    "jeq": "==", "jne": "!=", "jgt": ">", "jge": ">=", "jlt": "<", "jle": "<=",
    "jsgt": ">", "jsge": ">=", "jslt": "<", "jsle": "<=",
}

#: atomics: op (without "fetch_") -> atomicrmw operation
ATOMIC_RMW = {"add": "add", "or": "or", "and": "and", "xor": "xor", "xchg": "xchg"}


class FunctionLowering:
    """Lowers one eBPF function's blocks into its LLVM function."""

    def __init__(self, mod: ModuleLowering, shape: FunctionShape):
        self.mod = mod
        self.shape = shape
        self.fn = mod.functions[shape.entry]
        self.opts = mod.options
        self.ctx = self.fn.args[0]
        self.depth = self.fn.args[11]

    # -- registers ----------------------------------------------------------
    def reg(self, n: int):
        if n == 10:
            return self.fp
        return self.b.load(self.regs[n], typ=I64)

    def set_reg(self, n: int, value) -> None:
        if value.type != I64:
            value = self.b.zext(value, I64)
        self.b.store(value, self.regs[n])

    def operand(self, insn: Insn, width: int):
        """The source operand, as an int of ``width`` bits."""
        if insn.spec.source == "X":
            value = self.reg(insn.src)
            return value if width == 64 else self.b.trunc(value, INT_TYPES[width])
        return _c(INT_TYPES[width], insn.imm)  # imm is sign-extended to 64 bits, or truncated to 32

    def dst(self, insn: Insn, width: int):
        value = self.reg(insn.dst)
        return value if width == 64 else self.b.trunc(value, INT_TYPES[width])

    # -- structure ------------------------------------------------------------
    def lower(self) -> None:
        fn = self.fn
        entry = fn.append_basic_block("entry")
        self.bail_block = fn.append_basic_block("bail")
        blocks = {pc: fn.append_basic_block(f"pc_{pc}") for pc in self.shape.blocks}
        self.plan = plan_loops(self.shape.blocks) if self.opts.checked else LoopPlan()
        fast = {pc: fn.append_basic_block(f"fast_{pc}") for pc in sorted(self.plan.fast_blocks)}
        #: where a jump to each pc goes from the ordinary copy (to a loop's fast copy at its
        #: checkpoints) and from a fast copy (within it, else back to the ordinary copy)
        ordinary = {pc: fast[pc] if pc in self.plan.checkpoints else block for pc, block in blocks.items()}
        self.copies = (ordinary, {pc: fast.get(pc, block) for pc, block in ordinary.items()})
        #: segment start -> its block in the ordinary copy, where a fast checkpoint falls back to
        self.exact = dict(blocks)
        self.fast = False
        self.blocks = ordinary
        self.b = b = ir.IRBuilder(entry)
        self.regs = [b.alloca(I64, name=f"r{i}") for i in range(10)]
        for i in range(10):
            b.store(fn.args[1 + i], self.regs[i])
        self.base = b.inttoptr(ctx_load(b, self.ctx, Ctx.ZERO_BASE), PTR, name="base")
        self.fp = b.sub(ctx_load(b, self.ctx, Ctx.STACK_TOP), b.mul(self.depth, _c(I64, STACK_SIZE)), name="r10")
        self.caches: dict[tuple[int, bool], tuple[ir.AllocaInstr, ir.AllocaInstr]] = {}
        if self.opts.checked:
            self.budget = ctx_load(b, self.ctx, Ctx.BUDGET)
            self.stack_lo = ctx_load(b, self.ctx, Ctx.STACK_LO)
            stack_span = b.sub(ctx_load(b, self.ctx, Ctx.STACK_HI), self.stack_lo)
            self.stack_starts = b.sub(stack_span, _c(I64, MAX_ACCESS - 1))
            for key in sorted(cache_keys(self.shape)):
                reg, write = key
                side = "w" if write else "r"
                self.caches[key] = (b.alloca(I64, name=f"lo_r{reg}{side}"), b.alloca(I64, name=f"n_r{reg}{side}"))
            self.reset_caches()
        b.branch(self.blocks[self.shape.entry])
        b.position_at_end(self.bail_block)
        b.ret(ir.Constant(REGS_T, [0] * 6))
        for pc, block in self.shape.blocks.items():
            self.b.position_at_end(blocks[pc])
            self.lower_block(block)
        self.fast, self.blocks = True, self.copies[1]
        for pc, block in fast.items():
            self.b.position_at_end(block)
            self.lower_block(self.shape.blocks[pc])

    def new_block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def bail(self, status: Status, pc: int, addr=None, size=None, write=None, extra=None) -> None:
        """Record why we stop in the run context and return (callers propagate)."""
        b = self.b
        ctx_store(b, self.ctx, Ctx.STATUS, int(status))
        ctx_store(b, self.ctx, Ctx.FAULT_PC, pc)
        for word, value in ((Ctx.FAULT_ADDR, addr), (Ctx.FAULT_SIZE, size), (Ctx.FAULT_WRITE, write),
                            (Ctx.FAULT_EXTRA, extra)):
            if value is not None:
                ctx_store(b, self.ctx, word, value)
        b.branch(self.bail_block)

    def bail_if(self, cond, status: Status, pc: int, **fields) -> None:
        """Branch to a bail-out (marked unlikely) when ``cond`` holds; continue after it otherwise."""
        fail = self.new_block(f"fail_{pc}")
        cont = self.new_block(f"ok_{pc}")
        br = self.b.cbranch(cond, fail, cont)
        br.set_weights([1, 1000])
        self.b.position_at_end(fail)
        self.bail(status, pc, **fields)
        self.b.position_at_end(cont)

    def check_status(self, pc: int) -> None:
        """After a local call: propagate a stop of the callee."""
        b = self.b
        status = ctx_load(b, self.ctx, Ctx.STATUS)
        fail = self.new_block(f"stopped_{pc}")
        cont = self.new_block(f"resume_{pc}")
        br = b.cbranch(b.icmp_unsigned("!=", status, _c(I64, 0)), fail, cont)
        br.set_weights([1, 1000])
        b.position_at_end(fail)
        if self.counting and self.remaining:
            # the rest of this block was counted on entry but will not run (matters when the
            # program ended early, e.g. an out-of-bounds legacy packet load in the callee)
            ctx_store(b, self.ctx, Ctx.COUNT, b.sub(ctx_load(b, self.ctx, Ctx.COUNT), _c(I64, self.remaining)))
        b.branch(self.bail_block)
        b.position_at_end(cont)

    @property
    def counting(self) -> bool:
        return self.opts.checked or self.opts.count

    def lower_block(self, block: Block) -> None:
        b = self.b
        switch = None if self.counting else recover_switch(self.shape.blocks, block)
        for i, segment in enumerate(segments(block.insns)):
            if i and not self.fast and self.plan.fast_blocks:  # a segment a fast copy can fall back to
                self.exact[segment[0].pc] = exact = self.new_block(f"segment_{segment[0].pc}")
                b.branch(exact)
                b.position_at_end(exact)
            if self.counting:
                self.count_segment(segment)
            for index, insn in enumerate(segment):
                self.remaining = len(segment) - index - 1
                if switch is not None and insn is block.last:
                    self.lower_switch(switch)
                getattr(self, "lower_" + insn.kind.value)(insn)
                if insn.kind in CALLS_OUT:
                    self.reset_caches()
        last = block.insns[-1]
        if not _ends_block(last):
            nxt = last.pc + last.slots
            if nxt in self.blocks:
                b.branch(self.blocks[nxt])
            else:
                self.bail_stepping(nxt, Status.FELL_OFF, nxt)

    def count_segment(self, segment: list[Insn]) -> None:
        """Count a segment's instructions on entry; in checked mode, first stop if they do not
        all fit the budget. The stop hands the registers to Python (jit/budget.py), which runs
        the instructions that do fit through the interpreter's handlers and raises the
        interpreter's error: exact to the instruction, with no per-instruction copy of the
        block here. In a loop's fast copy (jit/loops.py) only checkpoints check, and fall back
        to this copy when the run to the next checkpoint might not fit."""
        b = self.b
        before = ctx_load(b, self.ctx, Ctx.COUNT)
        after = b.add(before, _c(I64, len(segment)))
        start = segment[0].pc
        if self.fast:  # jit/loops.py: only checkpoints check, for the run up to the next one
            if start in self.plan.checkpoints:
                cont = self.new_block(f"fits_{start}")
                reach = b.add(before, _c(I64, self.plan.longest[start]))
                b.cbranch(b.icmp_unsigned(">", reach, self.budget), self.exact[start], cont).set_weights([1, 1000])
                b.position_at_end(cont)
        elif self.opts.checked:
            fail = self.new_block(f"budget_{segment[0].pc}")
            cont = self.new_block(f"counted_{segment[0].pc}")
            b.cbranch(b.icmp_unsigned(">", after, self.budget), fail, cont).set_weights([1, 1000])
            b.position_at_end(fail)
            self.bail_budget(segment[0].pc, before)
            b.position_at_end(cont)
        ctx_store(b, self.ctx, Ctx.COUNT, after)

    def bail_budget(self, pc: int, before) -> None:
        """Stop for the budget at the segment starting at ``pc`` with ``before`` instructions
        counted: the registers go to ``REG0..REG9`` and r10 to ``FAULT_SIZE`` (Status.BUDGET)."""
        for i in range(10):
            ctx_store(self.b, self.ctx, Ctx.REG0 + i, self.reg(i))
        self.bail(Status.BUDGET, pc, addr=before, size=self.fp)

    def bail_stepping(self, at: int, status: Status, pc: int, **fields) -> None:
        """Stop where execution steps to ``at``, outside the code (off the end, a jump or call
        outside the program). The interpreter runs an error handler there that counts as an
        instruction, so with the budget spent the error is the budget's, at ``at``."""
        b = self.b
        if self.opts.checked:
            count = ctx_load(b, self.ctx, Ctx.COUNT)
            spent = self.new_block(f"spent_{pc}")
            cont = self.new_block(f"step_{pc}")
            b.cbranch(b.icmp_unsigned(">=", count, self.budget), spent, cont)
            b.position_at_end(spent)
            self.bail_budget(at, count)
            b.position_at_end(cont)
        self.bail(status, pc, **fields)

    def bail_outside(self, insn: Insn) -> None:
        """Stop at a jump or call whose target is no instruction of this function: a slot
        inside the program that starts nothing (a gap in a hand-built program) is reported
        there, like falling into it; anything else (outside, inside an lddw) at the jump."""
        target = insn.target
        if 0 <= target < self.mod.nslots and target not in self.mod.lddw_tails:
            self.bail_stepping(target, Status.FELL_OFF, target)
        else:
            self.bail_stepping(target, Status.BAD_JUMP, insn.pc, extra=target)

    # -- instruction kinds ----------------------------------------------------------
    def lower_alu(self, insn: Insn) -> None:
        spec = insn.spec
        width = spec.width
        b = self.b
        if spec.op == "movsx":
            value = b.sext(b.trunc(self.reg(insn.src), INT_TYPES[spec.extra]), INT_TYPES[width])
        else:
            x = self.dst(insn, width) if spec.op != "mov" else None
            y = self.operand(insn, width) if spec.op != "neg" else None
            value = ALU_OPS[spec.op](b, x, y)
        self.set_reg(insn.dst, value)

    def lower_endian(self, insn: Insn) -> None:
        b = self.b
        bits = insn.spec.extra
        value = self.reg(insn.dst)
        if bits != 64:
            value = b.trunc(value, INT_TYPES[bits])
        if insn.spec.op != "le":  # be and bswap: the host is little-endian
            swap = self.mod.module.declare_intrinsic("llvm.bswap", [INT_TYPES[bits]])
            value = b.call(swap, [value])
        self.set_reg(insn.dst, value)

    def lower_jump(self, insn: Insn) -> None:
        spec = insn.spec
        b = self.b
        x = self.dst(insn, spec.width)
        y = self.operand(insn, spec.width)
        if spec.op == "jset":
            cond = b.icmp_unsigned("!=", b.and_(x, y), _c(x.type, 0))
        elif spec.signed:
            cond = b.icmp_signed(JUMP_PREDICATES[spec.op], x, y)
        else:
            cond = b.icmp_unsigned(JUMP_PREDICATES[spec.op], x, y)
        nxt = insn.pc + insn.slots
        fallthrough = self.blocks.get(nxt)
        if fallthrough is None:  # conditional jump as the last instruction
            fallthrough = self.new_block(f"end_{insn.pc}")
            b.cbranch(cond, self.target_block(insn), fallthrough)
            b.position_at_end(fallthrough)
            self.bail_stepping(nxt, Status.FELL_OFF, nxt)
            return
        b.cbranch(cond, self.target_block(insn), fallthrough)

    def lower_switch(self, plan: SwitchPlan) -> None:
        """Dispatch a recovered compare tree (jit/switches.py) as one LLVM switch; values it
        does not list go on to the tree's root jump, lowered next in the default block."""
        b = self.b
        tree = self.new_block("switch_default")
        value = self.reg(plan.reg)
        if plan.width != 64:
            value = b.trunc(value, INT_TYPES[plan.width])
        switch = b.switch(value, tree)
        for case, leaf in plan.cases.items():
            switch.add_case(ir.Constant(value.type, case), self.blocks[leaf])
        b.position_at_end(tree)

    def target_block(self, insn: Insn) -> ir.Block:
        """The block of a jump's target, or one that reports a jump outside the program."""
        block = self.blocks.get(insn.target)
        if block is None:
            block = self.new_block(f"bad_target_{insn.pc}")
            here = self.b.block
            self.b.position_at_end(block)
            self.bail_outside(insn)
            self.b.position_at_end(here)
        return block

    def lower_ja(self, insn: Insn) -> None:
        self.b.branch(self.target_block(insn))

    def lower_exit(self, insn: Insn) -> None:
        b = self.b
        value = ir.Constant(REGS_T, ir.Undefined)
        for i in range(6):
            value = b.insert_value(value, self.reg(i), i)
        b.ret(value)

    def lower_lddw(self, insn: Insn) -> None:
        b = self.b
        if insn.spec.extra == PseudoSrc.IMM64:
            self.set_reg(insn.dst, _c(I64, insn.imm64))
            return
        table = b.inttoptr(ctx_load(b, self.ctx, Ctx.LDDW), PTR)
        slot = self.mod.lddw_slots[insn.pc]
        ok = b.load(b.gep(table, [_c(I64, 2 * slot + 1)], source_etype=I64), typ=I64)
        self.bail_if(b.icmp_unsigned("==", ok, _c(I64, 0)), Status.LDDW, insn.pc)
        self.set_reg(insn.dst, b.load(b.gep(table, [_c(I64, 2 * slot)], source_etype=I64), typ=I64))

    # -- memory -----------------------------------------------------------------------
    def address(self, base: int, off: int):
        return self.b.add(self.reg(base), _c(I64, off))

    def reset_caches(self) -> None:
        """Point every region cache at the stack (on entry, and after a call: a helper may
        add, move, shrink or drop regions, so what was cached before it is forgotten)."""
        for lo, starts in self.caches.values():
            self.b.store(self.stack_lo, lo)
            self.b.store(self.stack_starts, starts)

    def access(self, insn: Insn, addr, size: int, write: bool):
        """A pointer for ``size`` bytes at ``addr``, bounds-checked in checked mode.

        The check is inline against the region this base register last reached
        (:func:`cache_keys`): one subtraction and one unsigned compare, kept in
        registers across loop iterations. A miss walks the region table
        (``ebpf_check``, out of line) and refills the cache; a failed walk is
        the interpreter's MemoryFault, so no address outside every region is
        ever dereferenced.
        """
        b = self.b
        if self.opts.checked:
            lo_ptr, starts_ptr = self.caches[(insn.src, False) if insn.kind is Kind.LDX else (insn.dst, True)]
            hit = b.icmp_unsigned("<", b.sub(addr, b.load(lo_ptr, typ=I64)), b.load(starts_ptr, typ=I64))
            slow = self.new_block(f"check_{insn.pc}")
            refill = self.new_block(f"refill_{insn.pc}")
            fail = self.new_block(f"fault_{insn.pc}")
            cont = self.new_block(f"access_{insn.pc}")
            b.cbranch(hit, cont, slow).set_weights([1000, 1])
            b.position_at_end(slow)
            row = b.call(self.mod.check_fn, [self.ctx, addr, _c(I64, size), _c(I1, int(write))])
            b.cbranch(b.icmp_unsigned("!=", row, _c(I64, 0)), refill, fail).set_weights([1000, 1])
            b.position_at_end(refill)
            row = b.inttoptr(row, PTR)
            start = b.load(row, typ=I64)
            span = b.sub(b.load(b.gep(row, [_c(I64, 1)], source_etype=I64), typ=I64), start)
            b.store(start, lo_ptr)
            # a region shorter than MAX_ACCESS is never cached: its accesses always walk the table
            wide = b.icmp_unsigned(">=", span, _c(I64, MAX_ACCESS))
            b.store(b.select(wide, b.sub(span, _c(I64, MAX_ACCESS - 1)), _c(I64, 0)), starts_ptr)
            b.branch(cont)
            b.position_at_end(fail)
            self.bail(Status.MEMORY_FAULT, insn.pc, addr=addr, size=size, write=int(write))
            b.position_at_end(cont)
        # an offset from a base pointer rather than inttoptr: scalar evolution sees through a
        # GEP, so loops over strided addresses become interleaved vector loads
        return b.gep(self.base, [addr], source_etype=I8)

    def lower_ldx(self, insn: Insn) -> None:
        size = insn.spec.size
        ptr = self.access(insn, self.address(insn.src, insn.off), size, False)
        value = self.b.load(ptr, typ=INT_TYPES[size * 8], align=1)
        if insn.spec.signed:
            value = self.b.sext(value, I64)
        self.set_reg(insn.dst, value)

    def _store(self, insn: Insn, value) -> None:
        size = insn.spec.size
        ptr = self.access(insn, self.address(insn.dst, insn.off), size, True)
        ty = INT_TYPES[size * 8]
        if value.type != ty:
            value = self.b.trunc(value, ty)
        self.b.store(value, ptr, align=1)

    def lower_st(self, insn: Insn) -> None:
        self._store(insn, _c(INT_TYPES[insn.spec.size * 8], insn.imm))

    def lower_stx(self, insn: Insn) -> None:
        self._store(insn, self.reg(insn.src))

    def lower_atomic(self, insn: Insn) -> None:
        b = self.b
        spec = insn.spec
        ty = INT_TYPES[spec.size * 8]
        ptr = self.access(insn, self.address(insn.dst, insn.off), spec.size, True)
        src = self.reg(insn.src)
        src = src if ty is I64 else b.trunc(src, ty)
        if spec.op == "cmpxchg":
            expected = self.reg(0)
            expected = expected if ty is I64 else b.trunc(expected, ty)
            pair = b.cmpxchg(ptr, expected, src, "seq_cst", "seq_cst")
            self.set_reg(0, b.extract_value(pair, 0))
            return
        fetch = spec.op.startswith("fetch_") or spec.op == "xchg"
        old = b.atomic_rmw(ATOMIC_RMW[spec.op.removeprefix("fetch_")], ptr, src, "seq_cst")
        if fetch:
            self.set_reg(insn.src, old)

    # -- calls ---------------------------------------------------------------------------
    def callback(self, insn: Insn, kind: CallKind, num, args) -> None:
        """Call the Python trampoline (r0 = its result) and act on the status it leaves."""
        b = self.b
        for i in range(6, 10):  # a tail call's target starts with the caller's registers
            ctx_store(b, self.ctx, Ctx.REG0 + i, self.reg(i))
        ctx_store(b, self.ctx, Ctx.CALL_DEPTH, self.depth)
        ctx_store(b, self.ctx, Ctx.CALL_REMAINING, self.remaining)
        fnptr = b.inttoptr(ctx_load(b, self.ctx, Ctx.CALLBACK), self.mod.callback_ty.as_pointer())
        kind_pc = _c(I64, (int(kind) << 32) | insn.pc)
        self.set_reg(0, b.call(fnptr, [self.ctx, kind_pc, num] + list(args)))
        self.after_call(insn)

    def after_call(self, insn: Insn) -> None:
        """Act on the status a call left: a stop propagates; a tail call's target exited, so this
        function returns its registers (``Status.TAIL_RETURN``)."""
        b = self.b
        status = ctx_load(b, self.ctx, Ctx.STATUS)
        stopped = self.new_block(f"stopped_{insn.pc}")
        tail = self.new_block(f"tail_return_{insn.pc}")
        cont = self.new_block(f"resume_{insn.pc}")
        br = b.cbranch(b.icmp_unsigned("!=", status, _c(I64, 0)), stopped, cont)
        br.set_weights([1, 1000])
        b.position_at_end(stopped)
        b.cbranch(b.icmp_unsigned("==", status, _c(I64, Status.TAIL_RETURN)), tail, self.bail_block)
        b.position_at_end(tail)  # the tail-called program exited: so does this function
        ctx_store(b, self.ctx, Ctx.STATUS, int(Status.OK))
        value = ir.Constant(REGS_T, ir.Undefined)
        for i in range(6):
            value = b.insert_value(value, ctx_load(b, self.ctx, Ctx.REG0 + i), i)
        b.ret(value)
        b.position_at_end(cont)

    def helper_args(self):
        return [self.reg(i) for i in range(1, 6)]

    def lower_call(self, insn: Insn) -> None:
        native = self.mod.native_helpers.get(insn.imm)
        if native is not None:
            self.native_helper(insn, native)
            return
        self.callback(insn, CallKind.HELPER, _c(I64, insn.imm), self.helper_args())

    def native_helper(self, insn: Insn, native: ir.Function) -> None:
        """r0 = the native helper (jit/native.py), or the Python helper when it declines. A
        native helper that may end the function (a tail call, jit/native_tail.py) is told the
        calling frame and its status is checked as after a callback."""
        b = self.b
        ends = native.name in ENDING_NATIVE_FUNCTIONS
        if ends:
            ctx_store(b, self.ctx, Ctx.CALL_DEPTH, self.depth)
        res = b.call(native, [self.ctx] + self.helper_args())
        fast = self.new_block(f"native_{insn.pc}")
        slow = self.new_block(f"helper_{insn.pc}")
        join = self.new_block(f"after_{insn.pc}")
        b.cbranch(b.extract_value(res, 0), fast, slow)
        b.position_at_end(fast)
        self.set_reg(0, b.extract_value(res, 1))
        if ends:
            self.after_call(insn)
        b.branch(join)
        b.position_at_end(slow)
        self.callback(insn, CallKind.HELPER, _c(I64, insn.imm), self.helper_args())
        b.branch(join)
        b.position_at_end(join)

    def lower_callx(self, insn: Insn) -> None:
        self.callback(insn, CallKind.HELPER, self.reg(insn.dst), self.helper_args())

    def lower_call_kfunc(self, insn: Insn) -> None:
        self.callback(insn, CallKind.KFUNC, _c(I64, insn.imm), self.helper_args())

    def lower_ld_abs(self, insn: Insn) -> None:
        self.callback(insn, CallKind.LEGACY_LOAD, _c(I64, 0), self.helper_args())

    def lower_ld_ind(self, insn: Insn) -> None:
        self.callback(insn, CallKind.LEGACY_LOAD, self.reg(insn.src), self.helper_args())

    def lower_call_local(self, insn: Insn) -> None:
        b = self.b
        callee = self.mod.functions.get(insn.target)
        depth = b.add(self.depth, _c(I64, 1))
        self.bail_if(b.icmp_unsigned(">=", depth, _c(I64, MAX_CALL_DEPTH)), Status.CALL_DEPTH, insn.pc,
                     extra=insn.target)
        if callee is None:  # a call outside the program (only from hand-built programs)
            self.bail_outside(insn)
            self.b.position_at_end(self.new_block(f"dead_{insn.pc}"))  # no predecessors
            return
        res = b.call(callee, [self.ctx] + [self.reg(i) for i in range(10)] + [depth])
        for i in range(6):
            self.set_reg(i, b.extract_value(res, i))
        self.check_status(insn.pc)


def lower_program(program: Program, options: LowerOptions) -> ModuleLowering:
    """Lower a program; ``.module`` is the LLVM module, ``.lddw_slots`` the lddw table layout."""
    lowering = ModuleLowering(program, options)
    lowering.lower()
    return lowering
