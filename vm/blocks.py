"""Straight-line runs of instructions compiled into one Python function each.

Dispatching a handler (``pc = code[pc]()``: an indexed load, a call, a
return, a loop step) costs about as much as the instruction it runs. A
*block* removes that cost from straight-line code: the instructions from
one pc up to the first that changes the flow of control become one
generated Python function, with

- the registers in local variables, read from the register file at the
  start and written back at the end;
- ALU and byte-swap expressions rendered by :func:`ebpflite.vm.alu.render`
  from the same table as the per-instruction handlers (the table stays the
  one source of semantics);
- loads and stores inlined with their own region caches (see
  :meth:`~ebpflite.vm.handlers.Machine.refill`);
- a final conditional or unconditional jump inlined as the return value.
  Any other instruction that ends a block (calls, exit, atomics, lddw of a
  map or variable, legacy packet loads, kfunc calls) runs through its own
  handler, called at the end of the block with the registers written back.

Every instruction slot has a block (the run of at most ``MAX_BLOCK``
instructions starting there), so whatever pc the dispatch loop reaches has
one. Blocks are compiled lazily: until it has run ``COMPILE_AFTER`` times, a
block's stub runs the per-instruction handlers, so code that runs a few
times never pays for code generation.

Exactness (tests/vm/test_interp_blocks.py checks each rule):

- Only the last instruction of a block can leave the dispatch loop
  (``Exit``, ``Switch``); the ones before it can only fault. So counting a
  block's length before calling it counts exactly what ran.
- The interpreter goes back to one instruction at a time when the budget
  left is smaller than the next block, so an exhausted budget stops at the
  same pc with the same count.
- When an inlined load or store faults, the registers written so far are
  written back before the fault propagates, so the register file holds what
  the per-instruction handlers would have left.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ebpflite.vm import alu
from ebpflite.vm.handlers import M64, SIGNED, UNSIGNED, Handler, Machine, cut, empty_cache
from ebpflite.vm.insn import Insn
from ebpflite.vm.isa import Kind, PseudoSrc

#: the longest block (bounds the generated code for long straight-line programs)
MAX_BLOCK = 64
#: how many times a block runs through its handlers before it is compiled
COMPILE_AFTER = 32

_INLINE = {Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.ST, Kind.STX}
_REGISTER = re.compile(r"\br(\d+)\b")


def inlined(insn: Insn) -> bool:
    """Whether ``insn`` runs inside a block: it can fault but never changes the flow of control."""
    return insn.kind in _INLINE or (insn.kind is Kind.LDDW and insn.src == PseudoSrc.IMM64)


def block_lengths(program: Any, size: int) -> list[int]:
    """How many instructions the block at each index of a code list of ``size`` entries runs.

    A block runs inlined instructions up to and including the first one that
    is not (or up to ``MAX_BLOCK``); indices that start no instruction (error
    handlers, the second slot of an lddw) run one "instruction", their handler.
    """
    lengths = [1] * size
    starts = {insn.pc for insn in program.insns}
    for insn in sorted(program.insns, key=lambda i: i.pc, reverse=True):
        nxt = insn.pc + insn.slots
        if inlined(insn) and nxt in starts:
            lengths[insn.pc] = min(1 + lengths[nxt], MAX_BLOCK)
    return lengths


class Blocks:
    """The blocks of one program, as the dispatch loop uses them.

    ``functions[i]`` runs ``lengths[i]`` instructions starting at code index
    ``i`` and returns the next pc. ``code`` is the per-instruction handler
    list of ``vm.interp`` (blocks call into it for their last instruction and
    while warming up); ``targets`` maps the pc of each jump to the code index
    its handler jumps to.
    """

    def __init__(self, machine: Machine, program: Any, code: list[Handler], targets: dict[int, int]):
        self.machine = machine
        self.code = code
        self.targets = targets
        self.by_pc = program.by_pc()
        self.lengths = block_lengths(program, len(code))
        self.functions: list[Handler] = list(code)
        for i, n in enumerate(self.lengths):
            if n > 1:
                self.functions[i] = self._stub(i)

    def _stub(self, pc: int) -> Handler:
        """Runs the block's instructions one by one, and compiles it once it is hot."""
        code, functions, n = self.code, self.functions, self.lengths[pc]
        countdown = [COMPILE_AFTER]

        def warming_up() -> int:
            countdown[0] -= 1
            if countdown[0] < 0:
                block = functions[pc] = self.compile(pc)
                return block()
            p = pc
            for _ in range(n):
                p = code[p]()
            return p
        return warming_up

    def compile(self, pc: int) -> Handler:
        """The generated function of the block at ``pc``."""
        insns, p = [], pc
        for _ in range(self.lengths[pc]):
            insns.append(self.by_pc[p])
            p += insns[-1].slots
        generated = _Generator(insns, self.targets, p)
        namespace: dict[str, Any] = dict(_NAMESPACE)
        namespace.update(R=self.machine.regs, memory=self.machine.env.memory, refill=self.machine.refill,
                         term=self.code[insns[-1].pc])
        namespace.update((f"c{i}", empty_cache()) for i in range(generated.caches))
        exec(_code_object(generated.source), namespace)  # noqa: S102 - generated from our own tables
        return namespace["block"]


#: what generated blocks may call, besides the bound objects
_NAMESPACE: dict[str, Any] = {
    **alu.namespace(64),
    **{f"read_u{8 * size}": fmt.unpack_from for size, fmt in UNSIGNED.items()},
    **{f"read_s{8 * size}": fmt.unpack_from for size, fmt in SIGNED.items()},
    **{f"write_u{8 * size}": fmt.pack_into for size, fmt in UNSIGNED.items()},
}


@lru_cache(maxsize=2048)
def _code_object(source: str) -> Any:
    """Compile once per distinct source (the same program is often loaded many times)."""
    return compile(source, "<ebpflite block>", "exec")


class _Generator:
    """The Python source of one block (``source``) and how many region caches it needs."""

    def __init__(self, insns: list[Insn], targets: dict[int, int], end: int):
        self.caches = 0
        self.written: set[int] = set()
        body: list[str] = []
        last = insns[-1]
        for insn in insns if inlined(last) else insns[:-1]:
            body += self._inline(insn)
        if inlined(last):
            tail = f"return {end}"
        elif last.kind is Kind.JA:
            tail = f"return {targets[last.pc]}"
        elif last.kind is Kind.JUMP:
            tail = f"return {targets[last.pc]} if {self._condition(last)} else {end}"
        else:
            tail = "return term()"
        self.source = self._assemble(body, tail)

    def _assemble(self, body: list[str], tail: str) -> str:
        text = "\n".join(body + [tail])
        used = sorted({int(r) for r in _REGISTER.findall(text)})
        names = ["R"] + [name for name in _NAMESPACE if re.search(rf"\b{name}\b", text)]
        if self.caches:
            names += ["memory", "refill"] + [f"c{i}" for i in range(self.caches)]
        if "term" in tail:
            names.append("term")
        write_back = [f"R[{r}] = r{r}" for r in sorted(self.written)]
        lines = [f"def block({', '.join(f'{n}={n}' for n in names)}):"]
        lines += [f"    r{r} = R[{r}]" for r in used]
        if self.caches:
            lines.append("    version = memory.version")
            lines.append("    try:")
            lines += [f"        {line}" for line in body]
            lines.append("    except BaseException:  # a fault: leave the registers as the handlers would")
            lines += [f"        {line}" for line in write_back]
            lines.append("        raise")
        else:
            lines += [f"    {line}" for line in body]
        lines += [f"    {line}" for line in write_back]
        lines.append(f"    {tail}")
        return "\n".join(lines) + "\n"

    def _inline(self, insn: Insn) -> list[str]:
        spec, d, s = insn.spec, insn.dst, insn.src
        if insn.kind is Kind.ALU:
            b = str(alu.operand(insn.imm, spec.width)) if spec.source == "K" else cut(f"r{s}", spec.width)
            expression = alu.render("alu", spec.op, spec.width, cut(f"r{d}", spec.width), b, spec.extra)
            return self._assign(d, alu.masked(spec.op, expression, spec.width))
        if insn.kind is Kind.ENDIAN:
            expression = alu.render("endian", spec.op, 64, f"r{d}", "0", spec.extra)
            return self._assign(d, alu.masked(spec.op, expression, 64))
        if insn.kind is Kind.LDDW:
            return self._assign(d, str(insn.imm64))
        if insn.kind is Kind.LDX:
            read = f"read_{'s' if spec.signed else 'u'}{8 * spec.size}(view, offset)[0]"
            value = f"{read} & {hex(M64)}" if spec.signed else read
            return self._access(insn, s, write=False) + self._assign(d, value)
        # ST / STX
        mask = (1 << (8 * spec.size)) - 1
        if insn.kind is Kind.ST:
            value = str(insn.imm & mask)
        else:
            value = f"r{s}" if spec.size == 8 else f"r{s} & {hex(mask)}"
        return self._access(insn, d, write=True) + [f"write_u{8 * spec.size}(view, offset, {value})"]

    def _assign(self, d: int, value: str) -> list[str]:
        self.written.add(d)
        return [f"r{d} = {value}"]

    def _access(self, insn: Insn, base: int, write: bool) -> list[str]:
        """Find the access in region cache ``c<i>``: its ``view`` and the ``offset`` in it.

        The address is not cut to 64 bits: see :meth:`~ebpflite.vm.handlers.Machine.refill`.
        """
        cache, size, off = f"c{self.caches}", insn.spec.size, insn.off
        self.caches += 1
        address = f"r{base}" if off == 0 else f"r{base} {'+' if off > 0 else '-'} {abs(off)}"
        return [f"seen, start, limit, view = {cache}",
                f"offset = {address} - start",
                "if seen != version or not 0 <= offset <= limit:",
                f"    view, offset = refill({cache}, {address}, {size}, {write}, {insn.pc})"]

    def _condition(self, insn: Insn) -> str:
        spec = insn.spec
        b = str(alu.operand(insn.imm, spec.width)) if spec.source == "K" else cut(f"r{insn.src}", spec.width)
        return alu.render("jump", spec.op, spec.width, cut(f"r{insn.dst}", spec.width), b)

