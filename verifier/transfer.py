"""Transfer functions: how each instruction changes the abstract state.

Dispatch is by the ISA table's ``kind`` (one method per kind), and within
a kind by the spec's ``op`` and ``width`` fed to the numeric domain, so no
opcode is listed here. Every method checks what the instruction needs
(:mod:`ebpflite.verifier.checks`) before updating the state in place.
Conditional jumps return the two successor states (None when a branch
cannot be taken).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ebpflite.helpers import allowed, registry
from ebpflite.helpers.registry import Arg, Ret
from ebpflite.verifier import checks, dialect
from ebpflite.verifier.checks import MAX_PACKET_OFF, MAX_VAR_OFF, READONLY_MEM, fail, read_reg, require_number
from ebpflite.verifier.domain import NEGATE, SWAP, ZERO, Scalar, alu_op, endian_op, refine_width
from ebpflite.verifier.state import (
    LOCK_UNKNOWN,
    NO_ID,
    NULLABLE,
    UNINIT,
    UNKNOWN,
    State,
    T,
    Value,
)
from ebpflite.vm.contexts import ContextDescriptor, attach_of
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import MAX_CALL_DEPTH, Kind, PseudoSrc

M32 = (1 << 32) - 1

#: (platform, prog_type) whose packet is read-only
_READONLY_PACKET = {("linux", "socket_filter"), ("linux", "cgroup_skb"), ("linux", "lwt_in"),
                    ("linux", "lwt_out"), ("linux", "sk_lookup"), ("windows", "bind")}
#: program types that may use the legacy ld_abs/ld_ind packet loads
_LD_ABS_TYPES = {"socket_filter", "sched_cls", "sched_act", "unspec"}
_RDONLY_PROG = 1 << 7  #: BPF_F_RDONLY_PROG map flag
_MAP_IN_MAP = {"array_of_maps", "hash_of_maps"}
#: helpers that call a callback subprogram we can verify, and the callback's return range
_CALLBACK_HELPERS = {"bpf_loop": (0, 1), "bpf_for_each_map_elem": (0, 1)}
BPF_MAX_LOOPS = 8 * 1024 * 1024  #: bpf_loop's largest iteration count
#: ALU ops the kernel refuses with an immediate 0 operand ("div by zero")
_DIVISIONS = frozenset({"div", "mod", "sdiv", "smod"})


class Machine:
    """Everything the transfer functions need to know about the program being verified."""

    def __init__(self, program, ctx: ContextDescriptor, helpers: dict[int, registry.HelperSpec],
                 call_function: Callable[[State, int, int], State | None],
                 call_callback: Callable[..., State] | None = None):
        self.program = program
        self.ctx = ctx
        self.prog_type = program.prog_type
        self.platform = program.platform
        self.maps = list(program.maps or [])
        self.program_maps = len(self.maps)
        #: outer map index -> index in ``maps`` of its inner map template (appended on first lookup)
        self.inner_maps: dict[int, int] = {}
        self.helpers = helpers
        #: short names of the helpers this program type may call (None: any)
        self.allowed_helpers = allowed.allowed(program.prog_type, program.platform,
                                               attach_of(program.section))
        self.sleepable = allowed.sleepable(program.prog_type, program.section)
        #: entry pc -> global function (BTF linkage global), which calls reach as the kernel does
        self.global_functions: dict = {}
        self.call_function = call_function
        #: (state, target, r1..r5 of the callback, pc, return range, times) -> state after the helper
        self.call_callback = call_callback
        self.packet_writable = (program.platform, program.prog_type) not in _READONLY_PACKET
        #: the platform verifier's decisions where Linux and PREVAIL differ (dialect.py)
        self.rules = dialect.rules(program.platform)
        #: pc -> text: things worth knowing that are not errors (e.g. uninitialised stack read as root)
        self.notes: dict[int, str] = {}
        #: function start -> deepest stack byte any analysis touched
        self.stack_depth: dict[int, int] = {}
        #: pc -> context fields stored to there, and pcs storing elsewhere (verifier/xlate.py)
        self.ctx_stores: dict[int, set[str]] = {}
        self.other_stores: set[int] = set()
        self.frame_funcs: list[int] = [0]
        self.dispatch = {
            Kind.ALU: self.alu, Kind.ENDIAN: self.endian, Kind.LDDW: self.lddw, Kind.LDX: self.ldx,
            Kind.ST: self.st, Kind.STX: self.stx, Kind.ATOMIC: self.atomic, Kind.CALL: self.call,
            Kind.CALLX: self.callx, Kind.CALL_LOCAL: self.call_local, Kind.CALL_KFUNC: self.kfunc,
            Kind.LD_ABS: self.ld_abs, Kind.LD_IND: self.ld_abs,
        }

    # -- maps -------------------------------------------------------------------------------
    def map_attr(self, index: int, name: str, default=0):
        spec = self.maps[index]
        if isinstance(spec, dict):
            return spec.get(name, default)
        return getattr(spec, name, default)

    def map_name(self, index: int) -> str:
        return str(self.map_attr(index, "name", f"#{index}") or f"#{index}")

    def map_readonly(self, index: int) -> bool:
        return bool(int(self.map_attr(index, "flags", 0) or 0) & _RDONLY_PROG)

    def map_type(self, index: int) -> str:
        t = self.map_attr(index, "type", "")
        return t if isinstance(t, str) else registry.map_type_name(int(t), self.platform)

    def note_stack_depth(self, st: State, frame: int, depth: int) -> None:
        func = self.frame_funcs[frame] if frame < len(self.frame_funcs) else 0
        if depth > self.stack_depth.get(func, 0):
            self.stack_depth[func] = depth

    # -- one instruction ----------------------------------------------------------------------
    def step(self, st: State, insn: Insn) -> State | None:
        """Apply a non-branching instruction; returns the state after it (None: path ends)."""
        handler = self.dispatch[insn.kind]
        return handler(st, insn)

    def operand(self, st: State, insn: Insn, what: str) -> Value:
        if insn.spec.source == "X":
            return read_reg(st, insn.src, insn.pc, what)
        return Value.const(insn.imm)

    # ALU --------------------------------------------------------------------------------------
    def alu(self, st: State, insn: Insn) -> State:
        s = insn.spec
        op, width, pc = s.op, s.width, insn.pc
        regs = st.regs
        if op in ("mov", "movsx"):
            src = self.operand(st, insn, "the source of a move")
            if src.is_pointer and (width == 32 or op == "movsx"):
                raise fail(pc, "pointer_leak", f"a {width}-bit {'sign-extending ' if op == 'movsx' else ''}"
                           f"copy of r{insn.src} ({src.type.value}) truncates the pointer into a number",
                           f"r{insn.src}.type == number", HINT_TRUNC, **{f"r{insn.src}": src})
            if src.is_pointer:
                regs[insn.dst] = src
            elif op == "mov" and s.source == "X" and not src.num.is_const and (width == 64 or src.num.umax <= M32):
                # a copy: both registers hold the same number, so a test on one bounds the other
                if src.id <= 0:
                    src = replace(src, id=st.fresh_id(pc + 1))
                    regs[insn.src] = src
                regs[insn.dst] = src
            else:
                regs[insn.dst] = Value.scalar(alu_op(op, ZERO, src.num, width, s.extra))
            return st
        dst = read_reg(st, insn.dst, pc, "an operand")
        if op == "neg":
            if dst.is_pointer:
                raise fail(pc, "pointer_arith", f"negating r{insn.dst} ({dst.type.value}) is not allowed",
                           f"r{insn.dst}.type == number", **{f"r{insn.dst}": dst})
            regs[insn.dst] = Value.scalar(alu_op("neg", dst.num, ZERO, width))
            return st
        if op in _DIVISIONS and s.source == "K" and insn.imm == 0:
            raise fail(pc, "div_zero", f"{s.name} by the constant 0", "imm != 0",
                       "the kernel refuses a division by an immediate zero (a register holding 0 is "
                       "allowed: the result is 0, or dst unchanged for modulo)")
        src = self.operand(st, insn, "an operand")
        if not dst.is_pointer and not src.is_pointer:
            regs[insn.dst] = Value.scalar(alu_op(op, dst.num, src.num, width, s.extra))
            return st
        regs[insn.dst] = self.pointer_arith(insn, dst, src, st)
        return st

    def pointer_arith(self, insn: Insn, dst: Value, src: Value, st: State) -> Value:
        s, pc = insn.spec, insn.pc
        dname = f"r{insn.dst}"
        sname = f"r{insn.src}" if s.source == "X" else str(insn.imm)
        regs = {dname: dst} | ({sname: src} if s.source == "X" else {})
        if s.width == 32 and s.op == "sub" and dst.is_pointer and src.is_pointer and self._same_region(dst, src):
            return Value.scalar(Scalar.unknown(32))  # e.g. (u32)(data_end - data): a length
        if s.width == 32:
            raise fail(pc, "pointer_arith", f"32-bit arithmetic on a pointer ({s.name}) truncates it",
                       f"{dname}.type == number && {sname}.type == number", HINT_TRUNC, **regs)
        if dst.is_pointer and src.is_pointer:
            if s.op != "sub":
                raise fail(pc, "pointer_arith", f"{s.op} of two pointers is not allowed (only pointer - pointer)",
                           "at most one operand is a pointer", **regs)
            if not self._same_region(dst, src):
                raise fail(pc, "pointer_arith", f"subtracting a {src.type.value} from a {dst.type.value}: "
                           "they point into different regions", f"region({dname}) == region({sname})", **regs)
            if dst.type == src.type and dst.type is not T.PACKET_END and (dst.id == src.id != NO_ID):
                diff = alu_op("sub", Scalar.const(dst.off - src.off), ZERO)
                if dst.num == src.num:
                    return Value.scalar(diff)
            if dst.type is T.PACKET_END and src.type is T.PACKET and src.id != NO_ID and self.rules.end_distance:
                return self._distance_to_end(src)
            return UNKNOWN
        if src.is_pointer:  # number + pointer
            if s.op != "add":
                raise fail(pc, "pointer_arith", f"{s.op} with a pointer as the second operand is not allowed",
                           f"{sname}.type == number", **regs)
            dst, src = src, dst
        if s.op not in ("add", "sub"):
            raise fail(pc, "pointer_arith", f"{s.op} on a {dst.type.value} is not allowed: only add and sub "
                       "work on pointers", f"{dname}.type == number", "do the arithmetic on the offset "
                       "before adding it to the pointer", **regs)
        if dst.type in (T.PACKET_END, T.MAP_PTR, T.FUNC) or dst.type in NULLABLE:
            hint = checks.HINT_NULL if dst.type in NULLABLE else ""
            raise fail(pc, "pointer_arith", f"arithmetic on a {dst.type.value} is not allowed",
                       f"{dname}.type in {{ctx, stack, packet, map_value, mem}}", hint, **regs)
        num = src.num
        if num.is_const:
            delta = -num.smin if s.op == "sub" else num.smin
            off = dst.off + delta
            if abs(off) >= MAX_VAR_OFF:
                raise fail(pc, "pointer_arith", f"pointer offset {off} is out of range",
                           f"|{dname}.offset| < {MAX_VAR_OFF}", **regs)
            return replace(dst, off=off)
        if dst.type is T.CTX:
            raise fail(pc, "ctx_access", "adding a variable to a context pointer is not allowed",
                       f"{sname} is constant", "index context fields with constants only", **regs)
        var = alu_op(s.op, dst.num, num)
        limit = MAX_PACKET_OFF if dst.type in (T.PACKET, T.PACKET_META) else MAX_VAR_OFF
        if s.op == "sub" or num.smin < 0:
            if dst.type in (T.PACKET, T.PACKET_META):
                raise fail(pc, "pointer_arith", f"{dname} {s.op} {sname}: a packet pointer may only grow "
                           f"by a non-negative number ({sname} is {num})", f"{sname} >= 0", checks.HINT_BOUND,
                           **regs)
        if var.smax >= limit or var.smin <= -limit:
            raise fail(pc, "unbounded_offset", f"{dname} {'+' if s.op == 'add' else '-'}= {sname}: "
                       f"{sname} is not bounded ({num}), so the pointer could go anywhere",
                       f"{sname} <= {limit}", checks.HINT_BOUND, **regs)
        ident = dst.id
        rng = dst.range
        if dst.type in (T.PACKET, T.PACKET_META):
            ident = st.fresh_id(pc + 1)
            rng = 0
        return replace(dst, num=var, id=ident, range=rng)

    @staticmethod
    def _distance_to_end(p: Value) -> Value:
        """``data_end - p``: a number at least what p's proven range implies, linked to p (see state.py)."""
        if p.range > 0:
            low = p.range - p.off  # end >= base + range
        elif p.id == 0:
            low = -p.off  # p is data + off, and data <= data_end always
        else:
            low = None
        num = UNKNOWN.num if low is None else Scalar.srange(low, (1 << 63) - 1)
        return Value(T.SCALAR, num, dist=(p.id, p.off))

    @staticmethod
    def _same_region(a: Value, b: Value) -> bool:
        if {a.type, b.type} <= {T.PACKET, T.PACKET_END, T.PACKET_META}:
            return True
        return a.type == b.type and a.ref == b.ref and a.type is not T.MAP_PTR

    def endian(self, st: State, insn: Insn) -> State:
        v = read_reg(st, insn.dst, insn.pc, "a byte swap operand")
        if v.is_pointer:
            raise fail(insn.pc, "pointer_arith", f"byte-swapping r{insn.dst} ({v.type.value}) is not allowed",
                       f"r{insn.dst}.type == number", **{f"r{insn.dst}": v})
        st.regs[insn.dst] = Value.scalar(endian_op(insn.spec.op, v.num, insn.spec.extra))
        return st

    # loads and stores -------------------------------------------------------------------------
    def lddw(self, st: State, insn: Insn) -> State:
        src, pc = insn.src, insn.pc
        if src == PseudoSrc.IMM64:
            st.regs[insn.dst] = Value.const(insn.imm64)
            return st
        if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
            idx = insn.imm
            if not 0 <= idx < self.program_maps:
                raise fail(pc, "bad_map", f"lddw refers to map {idx}, but the program has {self.program_maps} maps",
                           f"0 <= {idx} < {self.program_maps}", "map references must come from the object's "
                           "relocations")
            if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX):
                st.regs[insn.dst] = Value(T.MAP_PTR, ZERO, 0, 0, 0, idx)
                return st
            size = int(self.map_attr(idx, "value_size", 0))
            off = insn.imm_hi & 0xFFFFFFFF
            if off >= size:
                raise fail(pc, "map_bounds", f"lddw points {off} bytes into map {self.map_name(idx)}, whose "
                           f"value has {size} bytes", f"{off} < {size}")
            st.regs[insn.dst] = Value(T.MAP_VALUE, ZERO, off, 0, size, idx)
            return st
        if src == PseudoSrc.CODE_ADDR:
            st.regs[insn.dst] = Value(T.FUNC, ZERO, 0, 0, 0, pc + insn.imm + 1)
            return st
        raise fail(pc, "unsupported", f"lddw pseudo source {PseudoSrc(src).name} is not supported")

    def ldx(self, st: State, insn: Insn) -> State:
        size = insn.spec.width
        v = checks.access(self, st, insn.src, insn.off, size, False, None, insn.pc)
        if insn.spec.signed and v.type is T.SCALAR:
            v = Value.scalar(v.num.sext(size * 8))
        st.regs[insn.dst] = v
        return st

    def st(self, st: State, insn: Insn) -> State:
        size = insn.spec.width
        value = Value.scalar(Scalar.const(insn.imm).trunc(size * 8) if size < 8 else Scalar.const(insn.imm))
        checks.access(self, st, insn.dst, insn.off, size, True, value, insn.pc)
        return st

    def stx(self, st: State, insn: Insn) -> State:
        size = insn.spec.width
        value = read_reg(st, insn.src, insn.pc, "the value to store")
        if size < 8 and value.type is T.SCALAR:
            value = Value.scalar(value.num.trunc(size * 8))
        elif size < 8:
            target = st.regs[insn.dst]
            if target.type is not T.STACK:
                raise fail(insn.pc, "pointer_leak", f"storing part of a {value.type.value} leaks an address",
                           f"r{insn.src}.type == number", checks.HINT_LEAK, **{f"r{insn.src}": value})
            value = None
        checks.access(self, st, insn.dst, insn.off, size, True, value, insn.pc)
        return st

    def atomic(self, st: State, insn: Insn) -> State:
        s, pc = insn.spec, insn.pc
        size = s.width
        require_number(st, insn.src, pc, "an atomic operand")
        if s.op == "cmpxchg":
            require_number(st, 0, pc, "the cmpxchg comparand (r0)")
        checks.access(self, st, insn.dst, insn.off, size, False, None, pc, atomic=True)
        checks.access(self, st, insn.dst, insn.off, size, True, None, pc, atomic=True)
        old = Value.scalar(Scalar.unknown(size * 8))
        if s.op == "cmpxchg":
            st.regs[0] = old
        elif s.op.startswith("fetch_") or s.op == "xchg":
            st.regs[insn.src] = old
        return st

    def ld_abs(self, st: State, insn: Insn) -> State:
        pc = insn.pc
        if self.prog_type not in _LD_ABS_TYPES or self.platform != "linux":
            raise fail(pc, "ld_abs", f"legacy packet loads ({insn.spec.name}) are not allowed in "
                       f"{self.prog_type} programs", "prog_type in {socket_filter, sched_cls, sched_act}",
                       "read the packet through data/data_end or bpf_skb_load_bytes")
        ctx = read_reg(st, 6, pc, "the context of a legacy packet load")
        if ctx.type is not T.CTX:
            raise fail(pc, "ld_abs", "legacy packet loads need the context in r6", "r6.type == ctx",
                       **{"r6": ctx})
        if insn.kind is Kind.LD_IND:
            require_number(st, insn.src, pc, "the offset of a packet load")
        for r in range(1, 6):
            st.regs[r] = UNINIT
        st.regs[0] = Value.scalar(Scalar.unknown(insn.spec.width * 8))
        return st

    # calls ---------------------------------------------------------------------------------------
    def kfunc(self, st: State, insn: Insn) -> State:
        raise fail(insn.pc, "unsupported", f"kernel function calls (BTF id {insn.imm}) cannot run in ebpflite",
                   hint="use a helper instead of a kfunc")

    def callx(self, st: State, insn: Insn) -> State:
        v = require_number(st, insn.dst, insn.pc, "a helper number")
        if not v.num.is_const:
            raise fail(insn.pc, "helper", f"callx through r{insn.dst} whose helper number is not known "
                       f"({v.num})", f"r{insn.dst} is constant", **{f"r{insn.dst}": v})
        return self._helper(st, insn, v.num.value)

    def call(self, st: State, insn: Insn) -> State:
        return self._helper(st, insn, insn.imm)

    def _helper(self, st: State, insn: Insn, number: int) -> State:
        pc = insn.pc
        spec = self.helpers.get(number)
        if spec is None:
            # a CO-RE relocation the loader could not resolve (loader/core.py poisons the instruction)
            poisoned = (self.program.meta or {}).get("core", {}).get("poisoned", {}).get(pc)
            if poisoned is not None:
                raise fail(pc, "core", poisoned, hint="guard the access with bpf_core_field_exists() (or "
                           "bpf_core_type_exists/bpf_core_enum_value_exists), or relocate against the BTF of "
                           "the kernel the program is for (--btf)")
            raise fail(pc, "helper", f"unknown helper #{number} on {self.platform}",
                       f"{number} in helpers({self.platform})")
        if not spec.known:
            raise fail(pc, "helper", f"{spec.name}#{number} has no prototype in ebpflite's helper registry, "
                       "so its arguments cannot be checked", hint="add the prototype to helpers/registry.py")
        if self.allowed_helpers is not None and spec.short_name not in self.allowed_helpers:
            raise fail(pc, "helper_type", f"{self.prog_type} programs cannot use helper {spec.name}#{number}",
                       f"{spec.short_name} in helpers({self.prog_type})",
                       "the kernel offers each program type its own helpers (its get_func_proto); "
                       "use one this type has, or load the program as the type the helper is for")
        if self.platform == "linux" and spec.short_name in allowed.MIGHT_SLEEP and not self.sleepable:
            raise fail(pc, "helper_type", f"{spec.name}#{number} might sleep, and this {self.prog_type} "
                       "program is not sleepable", f"sleepable({self.prog_type})",
                       "call it from a sleepable program (a '.s' section such as uprobe.s/ or lsm.s/)")
        map_idx: int | None = None
        alloc_size = 0
        callback: int | None = None
        lock: tuple[int, int] | None = None
        if st.lock is not None and spec.name != "bpf_spin_unlock":
            raise fail(pc, "spin_lock", f"{spec.name} is called while {self._holding(st)}",
                       "no helper calls between bpf_spin_lock and bpf_spin_unlock",
                       "unlock first: keep the locked section to loads, stores and arithmetic")
        args = spec.args
        for i, arg in enumerate(args):
            r = i + 1
            what = f"argument {r} of {spec.name}"
            v = st.regs[r]
            if arg in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
                continue  # checked with the pointer before it
            if arg is Arg.ANYTHING:
                if i in spec.address_args:  # an address the helper reads itself: any initialised value
                    read_reg(st, r, pc, what)
                else:
                    require_number(st, r, pc, what)
            elif arg is Arg.CONST_MAP_PTR:
                v = read_reg(st, r, pc, what)
                if v.type is not T.MAP_PTR:
                    raise fail(pc, "helper_arg", f"{what} must be a map (from lddw), not a {v.type.value}",
                               f"r{r}.type == map", checks.HINT_NULL if v.type in NULLABLE
                               else "pass the map itself: &my_map", **{f"r{r}": v})
                map_idx = v.ref
                why = allowed.map_incompatibility(spec.short_name, self.map_type(map_idx), self.platform)
                if why is not None:
                    raise fail(pc, "map_type", f"{what} is map {self.map_name(map_idx)} "
                               f"({self.map_type(map_idx)}), but {why}",
                               f"compatible({spec.name}, {self.map_type(map_idx)})", **{f"r{r}": v})
            elif arg in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE, Arg.PTR_TO_UNINIT_MAP_VALUE,
                         Arg.PTR_TO_MAP_VALUE_OR_NULL):
                if arg is Arg.PTR_TO_MAP_VALUE_OR_NULL and v.type is T.SCALAR and v.num == ZERO:
                    continue
                read_reg(st, r, pc, what)
                if map_idx is None:
                    raise fail(pc, "helper_arg", f"{what} needs a map argument before it")
                attr = "key_size" if arg is Arg.PTR_TO_MAP_KEY else "value_size"
                size = int(self.map_attr(map_idx, attr, 0))
                checks.check_mem_arg(self, st, r, Scalar.const(size), arg is Arg.PTR_TO_UNINIT_MAP_VALUE, pc,
                                     f"{what} ({attr} {size} of map {self.map_name(map_idx)})")
            elif arg in (Arg.PTR_TO_MEM, Arg.PTR_TO_READONLY_MEM, Arg.PTR_TO_UNINIT_MEM, Arg.PTR_TO_MEM_OR_NULL):
                self._mem_pair(st, pc, spec, i, arg, what)
            elif arg is Arg.CONST_ALLOC_SIZE_OR_ZERO:
                n = require_number(st, r, pc, what)
                if not n.num.is_const:
                    raise fail(pc, "helper_arg", f"{what} must be a constant size, not {n.num}",
                               f"r{r} is constant", **{f"r{r}": n})
                alloc_size = n.num.value
            elif arg in (Arg.PTR_TO_CTX, Arg.PTR_TO_CTX_OR_NULL):
                v = read_reg(st, r, pc, what)
                if arg is Arg.PTR_TO_CTX_OR_NULL and v.type is T.SCALAR and v.num == ZERO:
                    continue
                if v.type is not T.CTX or v.off or v.num != ZERO:
                    raise fail(pc, "helper_arg", f"{what} must be the context pointer (r1 at entry), not "
                               f"{v.describe()}", f"r{r}.type == ctx && r{r}.offset == 0",
                               "keep the context in a callee-saved register (r6) and pass it", **{f"r{r}": v})
            elif arg in (Arg.PTR_TO_STACK, Arg.PTR_TO_STACK_OR_NULL):
                v = read_reg(st, r, pc, what)
                if not (v.type is T.STACK or (arg is Arg.PTR_TO_STACK_OR_NULL and v.type is T.SCALAR
                                               and v.num == ZERO)):
                    raise fail(pc, "helper_arg", f"{what} must point to the stack", f"r{r}.type == stack",
                               **{f"r{r}": v})
            elif arg in (Arg.PTR_TO_INT, Arg.PTR_TO_LONG, Arg.PTR_TO_FIXED_SIZE_MEM):
                read_reg(st, r, pc, what)
                size = spec.arg_sizes[i]
                checks.check_mem_arg(self, st, r, Scalar.const(size), arg is not Arg.PTR_TO_FIXED_SIZE_MEM, pc,
                                     f"{what} ({size} bytes)")
            elif arg is Arg.PTR_TO_SPIN_LOCK:
                lock = self._lock_arg(st, r, pc, what)
            elif arg is Arg.PTR_TO_FUNC:
                v = read_reg(st, r, pc, what)
                if v.type is not T.FUNC:
                    raise fail(pc, "helper_arg", f"{what} must be a function (a static function named in "
                               f"the call), not {v.describe()}", f"r{r}.type == function", **{f"r{r}": v})
                if spec.name not in _CALLBACK_HELPERS:
                    raise fail(pc, "unsupported", f"callbacks of {spec.name} are not supported by ebpflite's "
                               "verifier yet (bpf_loop and bpf_for_each_map_elem are)")
                callback = v.ref
            elif arg is Arg.PTR_TO_ALLOC_MEM:
                v = read_reg(st, r, pc, what)
                if v.type is not T.MEM or v.off or v.num != ZERO:
                    raise fail(pc, "helper_arg", f"{what} must be a record from bpf_ringbuf_reserve "
                               f"(null-checked, unmodified), not {v.describe()}", f"r{r}.type == mem",
                               checks.HINT_NULL if v.type is T.MEM_OR_NULL else "", **{f"r{r}": v})
                self._release(st, v)
            else:
                raise fail(pc, "unsupported", f"{what} has type {arg.name}, which ebpflite's verifier does "
                           "not support yet")
        for r in range(len(args) + 1, min(len(args) + spec.varargs, 5) + 1):
            if st.regs[r].type is not T.NOT_INIT:  # an optional value the program passed: a number
                require_number(st, r, pc, f"argument {r} of {spec.name}")
        if lock is not None:
            self._lock_transition(st, spec.name, lock, pc)
        if callback is not None:
            st = self._callback(st, spec.name, callback, map_idx, pc)
        if spec.changes_pkt_data:
            for fi, where, v in list(st.values()):
                if v.type in (T.PACKET, T.PACKET_END, T.PACKET_META):
                    st.put(fi, where, UNKNOWN)
                elif v.dist is not None:
                    st.put(fi, where, replace(v, dist=None))
        for r in range(1, 6):
            st.regs[r] = UNINIT
        st.regs[0] = self._ret(st, spec, map_idx, alloc_size, pc)
        return st

    def _lock_arg(self, st: State, r: int, pc: int, what: str) -> tuple[int, int]:
        """A ``struct bpf_spin_lock`` inside a map value: (map, offset)."""
        v = read_reg(st, r, pc, what)
        if v.type is not T.MAP_VALUE or not v.num.is_const or v.ref < 0:
            raise fail(pc, "spin_lock", f"{what} must point to a bpf_spin_lock in a map value (at a constant "
                       f"offset), not {v.describe()}", f"r{r}.type == map_value && r{r}.offset is constant",
                       checks.HINT_NULL if v.type in NULLABLE else "", **{f"r{r}": v})
        off = v.off + v.num.value
        if off % 4 or not 0 <= off <= v.range - 4:
            raise fail(pc, "spin_lock", f"{what}: a bpf_spin_lock is 4 aligned bytes inside the value, but "
                       f"offset {off} of {v.range}-byte values is not", f"{off} % 4 == 0 && {off} + 4 <= {v.range}",
                       **{f"r{r}": v})
        return (v.ref, off)

    def _holding(self, st: State) -> str:
        """Which lock the state holds, for messages."""
        if st.lock is None:
            return "holding no lock"
        if st.lock == LOCK_UNKNOWN:
            return "holding a bpf_spin_lock on some paths to here and not on others"
        return f"holding the bpf_spin_lock at offset {st.lock[1]} of a {self.map_name(st.lock[0])} value"

    def _lock_transition(self, st: State, helper: str, lock: tuple[int, int], pc: int) -> None:
        if helper == "bpf_spin_lock":  # (a second lock was refused above: no helper calls while locked)
            st.lock = lock
        elif st.lock != lock:
            raise fail(pc, "spin_lock", f"bpf_spin_unlock of a lock not held ({self._holding(st)})",
                       "unlock the lock this path locked", "lock and unlock the same map value on every path")
        else:
            st.lock = None

    def _callback(self, st: State, helper: str, target: int, map_idx: int | None, pc: int) -> State:
        """Verify the callback with the arguments the helper gives it; the state after the helper."""
        if len(st.frames) >= MAX_CALL_DEPTH:
            raise fail(pc, "call_depth", f"the call chain is more than {MAX_CALL_DEPTH} functions deep",
                       f"depth <= {MAX_CALL_DEPTH}")
        data = st.regs[3]  # callback_ctx: passed through unchanged
        if helper == "bpf_loop":
            n = st.regs[1].num.trunc(32)
            times = min(n.umax, BPF_MAX_LOOPS)
            index = Value.scalar(Scalar.urange(0, max(times - 1, 0)))
            args = [index, data]
        else:
            assert map_idx is not None
            key_size = int(self.map_attr(map_idx, "key_size", 0))
            value_size = int(self.map_attr(map_idx, "value_size", 0))
            times = int(self.map_attr(map_idx, "max_entries", 0))
            args = [Value(T.MAP_PTR, ZERO, 0, 0, 0, map_idx), Value(T.MEM, ZERO, 0, 0, key_size, READONLY_MEM),
                    Value(T.MAP_VALUE, ZERO, 0, 0, value_size, map_idx), data]
        if times == 0:
            return st
        assert self.call_callback is not None
        return self.call_callback(st, target, args, pc, _CALLBACK_HELPERS[helper], times)

    def _mem_pair(self, st: State, pc: int, spec, i: int, arg: Arg, what: str) -> None:
        r = i + 1
        v = st.regs[r]
        size_arg = spec.args[i + 1] if i + 1 < len(spec.args) else None
        if size_arg not in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
            raise fail(pc, "unsupported", f"{what}: memory argument without a size argument")
        sz = require_number(st, r + 1, pc, f"the size argument {r + 1} of {spec.name}")
        if sz.num.smin < 0:
            raise fail(pc, "helper_arg", f"size argument r{r + 1} of {spec.name} may be negative ({sz.num})",
                       f"r{r + 1} >= 0", checks.HINT_BOUND, **{f"r{r + 1}": sz})
        if sz.num.umax >= MAX_VAR_OFF:
            raise fail(pc, "helper_arg", f"size argument r{r + 1} of {spec.name} is not bounded ({sz.num})",
                       f"r{r + 1} <= {MAX_VAR_OFF}", checks.HINT_BOUND, **{f"r{r + 1}": sz})
        if size_arg is Arg.CONST_SIZE and sz.num.umin == 0:
            raise fail(pc, "helper_arg", f"size argument r{r + 1} of {spec.name} may be zero ({sz.num})",
                       f"r{r + 1} > 0", "check the size is not zero before the call", **{f"r{r + 1}": sz})
        if arg is Arg.PTR_TO_MEM_OR_NULL and v.type is T.SCALAR and v.num == ZERO:
            return
        read_reg(st, r, pc, what)
        if v.type is T.PACKET and sz.dist == (v.id, v.off) and v.id != NO_ID:
            # the size is exactly data_end - v: every byte of the access lies before the end
            st.regs[r] = replace(v, range=max(v.range, v.off + sz.num.umax))
            try:
                checks.check_mem_arg(self, st, r, sz.num, arg is Arg.PTR_TO_UNINIT_MEM, pc, what)
            finally:
                st.regs[r] = v
            return
        checks.check_mem_arg(self, st, r, sz.num, arg is Arg.PTR_TO_UNINIT_MEM, pc, what)

    def _release(self, st: State, v: Value) -> None:
        if v.id > 0:
            st.update_same(v.id, (T.MEM,), lambda x: UNKNOWN)
        st.refs = st.refs - {v.id}

    def _ret(self, st: State, spec, map_idx: int | None, alloc_size: int, pc: int) -> Value:
        ret = spec.ret
        if ret is Ret.INTEGER:
            return UNKNOWN
        if ret is Ret.VOID:
            return UNINIT
        if ret in (Ret.PTR_TO_MAP_VALUE_OR_NULL, Ret.PTR_TO_MAP_VALUE):
            if map_idx is None:
                raise fail(pc, "unsupported", f"{spec.name} returns a map value but takes no map")
            if self.map_type(map_idx) in _MAP_IN_MAP:
                return self._inner_map(st, spec, map_idx, pc)
            size = int(self.map_attr(map_idx, "value_size", 0))
            if ret is Ret.PTR_TO_MAP_VALUE:
                return Value(T.MAP_VALUE, ZERO, 0, 0, size, map_idx)
            return Value(T.MAP_VALUE_OR_NULL, ZERO, 0, st.fresh_id(pc + 1), size, map_idx)
        if ret is Ret.PTR_TO_MEM_OR_NULL:
            ident = st.fresh_id(pc + 1)
            st.refs = st.refs | {ident}
            return Value(T.MEM_OR_NULL, ZERO, 0, ident, alloc_size, -1)
        raise fail(pc, "unsupported", f"{spec.name} returns {ret.name}, which ebpflite's verifier does not "
                   "support yet")

    def _inner_map(self, st: State, spec, outer: int, pc: int) -> Value:
        """A map-in-map lookup: the inner map (typed by the outer map's template) or NULL."""
        template = self.map_attr(outer, "inner", None)
        if template is None:
            raise fail(pc, "bad_map", f"map-in-map {self.map_name(outer)} has no inner map template, so "
                       "the maps a lookup returns cannot be typed", "outer.inner is set",
                       "declare the outer map with __array(values, struct inner_map_type)")
        if spec.ret is Ret.PTR_TO_MAP_VALUE:
            raise fail(pc, "unsupported", f"{spec.name} on map-in-map {self.map_name(outer)} is not supported")
        if outer not in self.inner_maps:
            self.inner_maps[outer] = len(self.maps)
            self.maps.append(template)
        return Value(T.MAP_PTR_OR_NULL, ZERO, 0, st.fresh_id(pc + 1), 0, self.inner_maps[outer])

    def call_local(self, st: State, insn: Insn) -> State | None:
        pc = insn.pc
        if st.lock is not None:
            raise fail(pc, "spin_lock", f"a function is called while {self._holding(st)}",
                       "no calls between bpf_spin_lock and bpf_spin_unlock", "unlock before the call")
        if len(st.frames) >= MAX_CALL_DEPTH:
            raise fail(pc, "call_depth", f"the call chain is more than {MAX_CALL_DEPTH} functions deep",
                       f"depth <= {MAX_CALL_DEPTH}")
        return self.call_function(st, insn.target, pc)

    # exit ----------------------------------------------------------------------------------------
    def check_exit(self, st: State, pc: int) -> None:
        """The main function returns: r0 must be a number in the program type's range."""
        if st.lock is not None:
            raise fail(pc, "spin_lock", f"the program can exit while {self._holding(st)}",
                       "every bpf_spin_lock is unlocked", "call bpf_spin_unlock on every path before returning")
        if st.refs:
            raise fail(pc, "unreleased", f"the program can exit holding {len(st.refs)} ring buffer record(s) "
                       "it reserved", "every bpf_ringbuf_reserve is submitted or discarded",
                       "call bpf_ringbuf_submit or bpf_ringbuf_discard on every path after the NULL check")
        r0 = read_reg(st, 0, pc, "the return value")
        if r0.type is not T.SCALAR:
            raise fail(pc, "pointer_leak", f"the program returns a {r0.type.value}, which leaks an address",
                       "r0.type == number", checks.HINT_LEAK, r0=r0)
        rr = self.ctx.return_range
        if rr is not None:
            lo, hi = rr
            if r0.num.smin < lo or r0.num.smax > hi or r0.num.umax > hi:
                raise fail(pc, "return_range", f"{self.prog_type} programs must return a value in [{lo}, {hi}], "
                           f"but r0 may be {r0.num}", f"{lo} <= r0 <= {hi}", r0=r0)

    # conditional jumps ---------------------------------------------------------------------------
    def branch(self, st: State, insn: Insn) -> tuple[State | None, State | None]:
        """(state where the jump is taken, state where it falls through)."""
        s, pc = insn.spec, insn.pc
        a = read_reg(st, insn.dst, pc, "a comparison operand")
        b = self.operand(st, insn, "a comparison operand")
        op = s.op
        if a.type is T.SCALAR and b.type is T.SCALAR:
            return (self._scalar_branch(st, insn, a, b, op), self._scalar_branch(st, insn, a, b, NEGATE[op]))
        return (self._pointer_branch(st, insn, a, b, op), self._pointer_branch(st, insn, a, b, NEGATE[op]))

    def _scalar_branch(self, st: State, insn: Insn, a: Value, b: Value, op: str) -> State | None:
        r = refine_width(op, a.num, b.num, insn.spec.width)
        if r is None:
            return None
        out = st.copy()
        out.regs[insn.dst] = replace(a, num=r[0])
        if insn.spec.source == "X":
            out.regs[insn.src] = replace(b, num=r[1]) if insn.src != insn.dst else replace(a, num=r[0])
            self._propagate_spill(out, insn.src, b, out.regs[insn.src])
        self._propagate_spill(out, insn.dst, a, out.regs[insn.dst])
        for v in (out.regs[insn.dst], out.regs[insn.src] if insn.spec.source == "X" else None):
            if v is not None and v.dist is not None:
                self._learn_distance(out, v)
        return out

    @staticmethod
    def _learn_distance(st: State, v: Value) -> None:
        """``v == data_end - (base + off)`` and ``v >= smin``: the packet pointers of that base learn a range."""
        ident, off = v.dist
        new = off + v.num.smin
        if new > 0:
            st.update_same(ident, (T.PACKET,), lambda p: replace(p, range=max(p.range, new)))

    def _propagate_spill(self, st: State, reg: int, old: Value, new: Value) -> None:
        """Copies of the compared number (same id, in registers or spilled) learn the same bounds."""
        if old.id > 0:
            num = new.num
            st.update_same(old.id, (T.SCALAR,), lambda v: replace(v, num=num))

    def _pointer_branch(self, st: State, insn: Insn, a: Value, b: Value, op: str) -> State | None:
        out = st.copy()
        # null checks
        for p, other, where in ((a, b, insn.dst), (b, a, insn.src if insn.spec.source == "X" else None)):
            if other.type is T.SCALAR and other.num == ZERO and op in ("jeq", "jne"):
                if p.type in NULLABLE:
                    is_null = op == "jeq"
                    self._null_refine(out, p, where, is_null)
                    return out
                if p.is_pointer and p.type not in (T.PACKET_END,):
                    return None if op == "jeq" else out  # a valid pointer is never NULL
        # packet bounds: normalise to "lhs op rhs" with lhs the packet pointer being bounded
        if insn.spec.width == 32 and not self.rules.packet_compare32:
            return out
        if a.type in (T.PACKET, T.PACKET_META) and self._is_end_for(a, b):
            self._learn_range(out, a, op)
        elif b.type in (T.PACKET, T.PACKET_META) and self._is_end_for(b, a):
            self._learn_range(out, b, SWAP[op])
        return out

    @staticmethod
    def _is_end_for(p: Value, e: Value) -> bool:
        if p.type is T.PACKET:
            return e.type is T.PACKET_END
        return e.type is T.PACKET and e.off == 0 and e.num == ZERO and e.id == 0

    def _learn_range(self, st: State, p: Value, op: str) -> None:
        """``p op end`` holds: how many bytes past p's variable base are before the end?

        The kernel learns from the unsigned orderings only (``find_good_pkt_pointers``),
        nothing from a strict test at offset 0 nor from a variable part that
        may exceed MAX_PACKET_OFF; PREVAIL also from signed ones, ``==`` and ``!=``.
        """
        rules = self.rules
        if op not in rules.packet_compare_ops:
            return
        if p.off < 0 or p.num.umax > MAX_PACKET_OFF or p.num.umax + p.off > MAX_PACKET_OFF:
            return
        if op in ("jle", "jsle", "jeq"):
            new = p.off  # p <= end
        elif op in ("jlt", "jslt"):
            if p.off == 0 and not rules.open_compare_at_start:
                return
            new = p.off + 1  # p < end
        elif op == "jne" and ((0 < p.range and p.off <= p.range) or (p.id == 0 and p.off == 0 and p.type is T.PACKET)):
            new = p.off + 1  # p <= end is known (proven, or data <= data_end), so p != end means p < end
        else:
            return  # p > end, p >= end, p != end: nothing is proven
        if new <= 0:
            return

        def widen(v: Value) -> Value:
            return replace(v, range=max(v.range, new))

        if p.id == NO_ID:
            for fi, where, v in list(st.values()):
                if v == p:
                    st.put(fi, where, widen(v))
            return
        st.update_same(p.id, (p.type,), widen)

    def _null_refine(self, st: State, p: Value, where: int | None, is_null: bool) -> None:
        def conv(v: Value) -> Value:
            return Value.const(0) if is_null else replace(v, type=NULLABLE[v.type])

        if p.id > 0:
            st.update_same(p.id, (p.type,), conv)
        elif where is not None:
            st.regs[where] = conv(p)
        if is_null:
            st.refs = st.refs - {p.id}  # nothing was reserved on this path


HINT_TRUNC = "keep pointers in 64-bit registers; do 32-bit arithmetic on numbers only"
