"""The xlated program: context stores rewritten the way the kernel's ``convert_ctx_access`` does.

ebpflite gives programs their uapi context structure itself (docs/memory.md),
so loads need no rewriting: each field already holds what the kernel's
converted load would return. Stores are different where the kernel backs a
u32 uapi field with a narrower one: ``__sk_buff.tc_index``, ``tc_classid``
and ``queue_mapping`` are u16 in ``struct sk_buff``, so a program that
stores 0x12345 reads back 0x2345, and a ``queue_mapping`` store of
NO_QUEUE_MAPPING (0xffff) or more is dropped. The context descriptor marks
those fields (``Field.store_width``, ``Field.store_limit``); the verifier
records which instructions store to which context field
(``Machine.ctx_stores``), and :func:`rewrite` narrows them:

- ``*(u32 *)(ctx + off) = rX`` -> ``*(u16 *)(ctx + off) = rX`` (the upper half
  of the u32 stays zero: nothing else writes it);
- an immediate store of a value over the limit -> ``ja +0`` (kernel: a no-op);
- a register store with a limit -> ``if rX >= limit goto +1`` before it.

An instruction that stores to such a field on one path and to other memory
on another cannot be rewritten; the kernel refuses it too ("same insn cannot
be used with different pointers"), and so does :func:`rewrite`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ebpflite.vm.contexts import ContextDescriptor
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.isa import Kind
from ebpflite.vm.patch import expand
from ebpflite.vm.program import Program

_WIDTH_NAME = {1: "b", 2: "h", 4: "w", 8: "dw"}


class XlateConflict(Exception):
    """An instruction stores to a narrowed context field on one path and elsewhere on another."""

    def __init__(self, pc: int, field: str):
        self.pc = pc
        super().__init__(f"instruction {pc} stores to {field} of the context on one path and to other "
                         "memory on another; the kernel refuses this too (same insn cannot be used with "
                         "different pointers): store through separate instructions")


def _narrowed(insn: Insn, width: int) -> Insn:
    name = ("st" if insn.kind is Kind.ST else "stx") + _WIDTH_NAME[width]
    src = insn.src if insn.kind is Kind.STX else None
    return make(name, dst=insn.dst, src=src, off=insn.off, imm=insn.imm)


def rewrite(program: Program, ctx: ContextDescriptor, ctx_stores: Mapping[int, set[str]],
            other_stores: set[int]) -> Program:
    """``program`` with its stores to narrowed context fields rewritten (see the module docstring)."""
    fields = {f.name: f for f in ctx.fields if f.store_width}
    patches: dict[int, list[Insn]] = {}
    by_pc = program.by_pc()
    for pc, names in sorted(ctx_stores.items()):
        narrow = [fields[n] for n in names if n in fields]
        if not narrow:
            continue
        field = narrow[0]
        if pc in other_stores or len(names) > 1:
            raise XlateConflict(pc, field.name)
        insn = by_pc[pc]
        store = _narrowed(insn, field.store_width)
        if field.store_limit is None:
            patches[pc] = [store]
        elif insn.kind is Kind.ST:
            # the kernel compares the s32 immediate: a negative one is stored (truncated)
            patches[pc] = [make("ja", off=0)] if insn.imm >= field.store_limit else [store]
        else:
            patches[pc] = [make("jge", dst=insn.src, imm=field.store_limit, off=1), store]
    return expand(program, patches)
