"""Turning each decoded instruction into a pre-bound Python closure.

The interpreter decodes a program once: every instruction becomes a
*handler*, a closure with its registers, constants and successor pc already
bound, that executes the instruction and returns the pc of the next one. The
dispatch loop in ``vm.interp`` is then just ``pc = code[pc]()``, with no
decoding, no table lookup and no branching on the opcode at run time.

The arithmetic comes from the tables in ``vm.alu``: for each (op, width,
source) the expression is compiled once into a small handler factory (see
:func:`_template`), so the semantics are written in exactly one place.

Control flow that leaves the loop uses two private exceptions: :class:`Exit`
(the entry function returned, or a legacy packet load went out of bounds)
and :class:`Switch` (continue in another program: a tail call, or returning
from a bpf-to-bpf call into a program that tail-called away).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ebpflite.vm import alu
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import CallDepthExceeded, ExecutionError, HelperError
from ebpflite.vm.helper_ids import PLATFORMS, name_of
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import MAX_CALL_DEPTH, MAX_TAIL_CALLS, Kind, PseudoSrc

Handler = Callable[[], int]
M64 = alu.M64

#: unsigned and signed load/store formats by access size
UNSIGNED = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}
SIGNED = {1: struct.Struct("<b"), 2: struct.Struct("<h"), 4: struct.Struct("<i"), 8: struct.Struct("<q")}


class Exit(Exception):
    """The program finished: r0 holds the result."""


class Switch(Exception):
    """Continue at ``pc`` of ``program`` (tail call, or return across programs)."""

    def __init__(self, program: Any, pc: int):
        super().__init__(program, pc)
        self.program = program
        self.pc = pc


@dataclass
class Machine:
    """The state the handlers of one interpreter share.

    ``regs`` is r0..r10 as unsigned ints; ``frames`` holds, per active
    bpf-to-bpf call, ``(return pc, r6, r7, r8, r9, r10, calling program)``.
    """

    env: Environment
    regs: list[int] = field(default_factory=lambda: [0] * 11)
    frames: list[tuple] = field(default_factory=list)

    def refill(self, cache: list, address: int, size: int, write: bool, pc: int) -> tuple[memoryview, int]:
        """Resolve an access through ``env.memory`` (faulting if invalid) and remember the region.

        Each load or store (of one ``size``) keeps ``[version, start, limit,
        view]`` for the region it last touched, where ``limit`` is the last
        offset at which ``size`` bytes fit. With ``offset = address - start``
        its fast path is ``seen == memory.version and 0 <= offset <= limit``;
        it comes here when that fails: the address is elsewhere (or was not
        yet cut to 64 bits: a sum past 2**64 or below 0 can never pass the
        test, so callers need not mask before it) or a region was added or
        removed since (by a helper, or between runs). The view is a
        memoryview of the region's numpy buffer: ``struct`` reads and writes
        through it about a third faster than through the array itself.

        Returns (view, offset of the access in it).
        """
        memory = self.env.memory
        address &= M64
        buf, offset = memory.resolve(address, size, write, pc)
        view = memoryview(buf)
        cache[:] = [memory.version, address - offset, len(buf) - size, view]
        return view, offset


def empty_cache() -> list:
    """A region cache that matches no address (see :meth:`Machine.refill`)."""
    return [-1, 0, -1, None]


# --- code generation from the alu tables -------------------------------------------------


def cut(operand: str, width: int) -> str:
    """Source text for an operand cut to ``width`` bits (registers hold 64)."""
    return operand if width == 64 else f"({operand} & {hex((1 << width) - 1)})"


@cache
def _template(table: str, op: str, width: int, source: str, bits: int) -> Callable[..., Handler]:
    """A factory ``f(R, d, s, k, target, nxt) -> handler`` for one operation.

    ``table`` is ``alu``/``endian`` (the handler writes ``dst``) or ``jump``
    (it returns ``target`` or ``nxt``); ``k`` is the immediate operand,
    already cut to width.
    """
    expression = alu.render(table, op, width, cut("R[d]", width), "k" if source == "K" else cut("R[s]", width), bits)
    if table == "jump":
        body = f"return target if {expression} else nxt"
    else:
        body = f"R[d] = {alu.masked(op, expression, width)}\n        return nxt"
    # the defaults make the bound values fast locals (handlers are always called without arguments)
    source_text = (f"def factory(R, d, s, k, target, nxt):\n"
                   f"    def handler(R=R, d=d, s=s, k=k, target=target, nxt=nxt):\n"
                   f"        {body}\n"
                   f"    return handler\n")
    namespace = alu.namespace(width, bits)
    exec(compile(source_text, f"<ebpflite {table} {op}{width} {source}>", "exec"), namespace)  # noqa: S102
    return namespace["factory"]


# --- building handlers -------------------------------------------------------------------


class HandlerBuilder:
    """Builds the handlers of one program against a :class:`Machine`.

    ``resolve_target(t)`` maps a jump target to an index in the code list
    (an error handler when the target is outside the program).
    """

    def __init__(self, machine: Machine, program: Any, resolve_target: Callable[[int, int], int]):
        self.machine = machine
        self.program = program
        self.resolve_target = resolve_target
        self._by_kind: dict[Kind, Callable[[Insn], Handler]] = {
            Kind.ALU: self._alu,
            Kind.ENDIAN: self._endian,
            Kind.JUMP: self._jump,
            Kind.JA: self._ja,
            Kind.CALL: self._call_helper,
            Kind.CALLX: self._call_helper,
            Kind.CALL_LOCAL: self._call_local,
            Kind.CALL_KFUNC: self._call_kfunc,
            Kind.EXIT: self._exit,
            Kind.LDDW: self._lddw,
            Kind.LDX: self._ldx,
            Kind.ST: self._store,
            Kind.STX: self._store,
            Kind.ATOMIC: self._atomic,
            Kind.LD_ABS: self._ld_packet,
            Kind.LD_IND: self._ld_packet,
        }

    def build(self, insn: Insn) -> Handler:
        return self._by_kind[insn.kind](insn)

    def _next(self, insn: Insn) -> int:
        return insn.pc + insn.slots

    # -- arithmetic and jumps (generated from vm.alu) --
    def _alu(self, insn: Insn) -> Handler:
        spec = insn.spec
        factory = _template("alu", spec.op, spec.width, spec.source, spec.extra)
        k = alu.operand(insn.imm, spec.width)
        return factory(self.machine.regs, insn.dst, insn.src, k, None, self._next(insn))

    def _endian(self, insn: Insn) -> Handler:
        factory = _template("endian", insn.spec.op, 64, "K", insn.spec.extra)
        return factory(self.machine.regs, insn.dst, 0, 0, None, self._next(insn))

    def _jump(self, insn: Insn) -> Handler:
        spec = insn.spec
        factory = _template("jump", spec.op, spec.width, spec.source, 0)
        k = alu.operand(insn.imm, spec.width)
        target = self.resolve_target(insn.target, insn.pc)
        return factory(self.machine.regs, insn.dst, insn.src, k, target, self._next(insn))

    def _ja(self, insn: Insn) -> Handler:
        target = self.resolve_target(insn.target, insn.pc)

        def handler() -> int:
            return target
        return handler

    # -- calls --
    def _call_helper(self, insn: Insn) -> Handler:
        R, env, pc, nxt = self.machine.regs, self.machine.env, insn.pc, self._next(insn)
        by_register = insn.kind is Kind.CALLX
        dst, imm = insn.dst, insn.imm

        def handler(R=R, env=env) -> int:
            number = R[dst] if by_register else imm
            fn = env.helpers.get(number)
            if fn is None:
                raise HelperError(f"call to unknown helper {_helper_name(number, env)}: "
                                  "it is not in this environment's helper table", pc)
            try:
                result = fn(env, R[1], R[2], R[3], R[4], R[5])
            except HelperError as exc:
                if exc.pc is None and type(exc) is HelperError:  # a helper's own error: name the call
                    raise HelperError(exc.reason, pc) from None
                raise
            if result.__class__ is not int:  # numpy integers, bools: convert; anything else is an error
                try:
                    result = int(result)
                except (TypeError, ValueError):
                    raise HelperError(f"helper {_helper_name(number, env)} returned {result!r}, "
                                      "not an integer", pc) from None
            R[0] = result & M64
            if env.pending_tail_call is not None:
                _tail_call(env, pc)
            return nxt
        return handler

    def _call_local(self, insn: Insn) -> Handler:
        R, frames, env, program = self.machine.regs, self.machine.frames, self.machine.env, self.program
        pc, nxt = insn.pc, self._next(insn)
        target = self.resolve_target(insn.target, insn.pc)
        frame_pointers = [env.stack.frame_pointer(k) for k in range(min(MAX_CALL_DEPTH, env.stack.depth))]
        limit = len(frame_pointers)

        def handler(R=R, frames=frames) -> int:
            depth = len(frames) + 1
            if depth >= limit:
                raise CallDepthExceeded(f"call to pc {target} would nest {depth + 1} frames; "
                                        f"at most {limit} are allowed", pc)
            frames.append((nxt, R[6], R[7], R[8], R[9], R[10], program))
            R[10] = frame_pointers[depth]
            return target
        return handler

    def _call_kfunc(self, insn: Insn) -> Handler:
        pc, imm = insn.pc, insn.imm

        def handler() -> int:
            raise ExecutionError(f"call to kernel function (BTF id {imm}): kfuncs exist only in the kernel "
                                 "and cannot run here", pc)
        return handler

    def _exit(self, insn: Insn) -> Handler:
        R, frames, program = self.machine.regs, self.machine.frames, self.program

        def handler(R=R, frames=frames) -> int:
            if frames:
                ret, R[6], R[7], R[8], R[9], R[10], caller = frames.pop()
                if caller is not program:
                    raise Switch(caller, ret)
                return ret
            raise Exit
        return handler

    # -- loads and stores, all through env.memory --
    def _lddw(self, insn: Insn) -> Handler:
        R, env, d, nxt = self.machine.regs, self.machine.env, insn.dst, self._next(insn)
        if insn.src == PseudoSrc.IMM64:
            value = insn.imm64

            def constant() -> int:
                R[d] = value
                return nxt
            return constant
        src, imm, imm_hi, pc = insn.src, insn.imm, insn.imm_hi, insn.pc

        def pseudo() -> int:
            R[d] = int(env.lddw_value(src, imm, imm_hi, pc)) & M64
            return nxt
        return pseudo

    def _ldx(self, insn: Insn) -> Handler:
        m = self.machine
        d, s, off, size, pc, nxt = insn.dst, insn.src, insn.off, insn.spec.size, insn.pc, self._next(insn)
        signed = insn.spec.signed
        unpack = (SIGNED if signed else UNSIGNED)[size].unpack_from

        def load(R=m.regs, cache=empty_cache(), memory=m.env.memory, refill=m.refill, unpack=unpack) -> int:
            address = R[s] + off  # refill() cuts it to 64 bits when it is out of range
            seen, start, limit, view = cache
            offset = address - start
            if seen != memory.version or not 0 <= offset <= limit:
                view, offset = refill(cache, address, size, False, pc)
            value = unpack(view, offset)[0]
            R[d] = value & M64 if signed else value
            return nxt
        return load

    def _store(self, insn: Insn) -> Handler:
        m = self.machine
        d, s, off, size, pc, nxt = insn.dst, insn.src, insn.off, insn.spec.size, insn.pc, self._next(insn)
        pack = UNSIGNED[size].pack_into
        mask = (1 << (8 * size)) - 1
        immediate = insn.kind is Kind.ST
        value = insn.imm & mask

        def store(R=m.regs, cache=empty_cache(), memory=m.env.memory, refill=m.refill, pack=pack) -> int:
            address = R[d] + off  # refill() cuts it to 64 bits when it is out of range
            seen, start, limit, view = cache
            offset = address - start
            if seen != memory.version or not 0 <= offset <= limit:
                view, offset = refill(cache, address, size, True, pc)
            pack(view, offset, value if immediate else R[s] & mask)
            return nxt
        return store

    def _atomic(self, insn: Insn) -> Handler:
        R, resolve = self.machine.regs, self.machine.env.memory.resolve
        d, s, off, size, pc, nxt = insn.dst, insn.src, insn.off, insn.spec.size, insn.pc, self._next(insn)
        fmt = UNSIGNED[size]
        unpack, pack = fmt.unpack_from, fmt.pack_into
        mask = (1 << (8 * size)) - 1
        op = insn.spec.op
        if op == "cmpxchg":
            def cmpxchg() -> int:
                buf, at = resolve((R[d] + off) & M64, size, True, pc)
                old = unpack(buf, at)[0]
                if old == R[0] & mask:
                    pack(buf, at, R[s] & mask)
                R[0] = old
                return nxt
            return cmpxchg
        fetch = op.startswith("fetch_") or op == "xchg"
        compute = alu.function("atomic", op.removeprefix("fetch_"), size * 8)

        def rmw() -> int:
            buf, at = resolve((R[d] + off) & M64, size, True, pc)
            old = unpack(buf, at)[0]
            pack(buf, at, compute(old, R[s]))
            if fetch:
                R[s] = old
            return nxt
        return rmw

    def _ld_packet(self, insn: Insn) -> Handler:
        """Legacy LD_ABS/LD_IND: r0 = big-endian load from the packet, or exit with 0."""
        R, env, memory = self.machine.regs, self.machine.env, self.machine.env.memory
        s, imm, size, pc, nxt, name = insn.src, insn.imm, insn.spec.size, insn.pc, self._next(insn), insn.spec.name
        indirect = insn.kind is Kind.LD_IND

        def handler() -> int:
            offset = alu.sign_extend((R[s] if indirect else 0) + imm, 32)
            packet = env.world.skb_data
            if packet is None:  # an __sk_buff context: its own rules (negative SKF_NET/LL_OFF offsets...)
                load = getattr(env.world.ctx, "ld_abs", None)
                if load is None:
                    raise ExecutionError(f"{name} needs a packet context (run the program on a packet)", pc)
                value = load(offset, size)
                if value is None:
                    R[0] = 0  # the kernel ends the program with r0 = 0
                    raise Exit
                R[0] = value
                return nxt
            data, length = packet
            if offset < 0 or offset + size > length:
                R[0] = 0  # the kernel ends the program with r0 = 0
                raise Exit
            R[0] = int.from_bytes(memory.read_bytes(data + offset, size, pc), "big")
            return nxt
        return handler


def _tail_call(env: Environment, pc: int) -> None:
    """Act on a tail call the helper requested: switch programs, or fall through
    (as the kernel does) once ``MAX_TAIL_CALLS`` have been taken."""
    target, env.pending_tail_call = env.pending_tail_call, None
    if env.tail_calls >= MAX_TAIL_CALLS:
        return
    if not hasattr(target, "insns"):
        raise HelperError(f"tail call target {target!r} is not a Program", pc)
    env.tail_calls += 1
    raise Switch(target, 0)


def _helper_name(number: int, env: Environment) -> str:
    """``6 (bpf_trace_printk)`` when the platform numbers a helper so, else ``6``."""
    platform = env.world.platform
    name = name_of(number, platform) if platform in PLATFORMS else None
    return f"{number} ({name})" if name is not None else str(number)
