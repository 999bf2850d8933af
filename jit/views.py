"""What the JIT makes of a program, for ``ebpflite disasm --ir`` and ``--jited``.

In the spirit of ``bpftool prog dump jited``: :func:`ir_text` is the LLVM IR
after optimisation and :func:`native_asm` the host assembly. LLVM keeps the
names of the basic blocks the lowering creates (``pc_<n>`` for the eBPF block
starting at pc n), so the assembly is annotated with ``; eBPF pc n`` where a
block begins; optimisation merges and moves blocks, so not every pc appears.
"""

from __future__ import annotations

import re

import llvmlite.binding as llvm

from ebpflite.jit.cache import PIPELINES, compile_program, target_machine
from ebpflite.jit.lower import LowerOptions, lower_program
from ebpflite.vm.program import Program

#: ``.LBB0_3:   # %pc_12.i`` or ``# %bb.1:   # %pc_12`` (inlining appends ``.i``)
#: a block label naming an eBPF block: ``pc_n``, or ``fast_n`` in a loop's fast copy (jit/loops.py)
_BLOCK = re.compile(r"^(\S+:|\s*#\s*%bb\.\d+:)\s*#\s*%(?P<copy>pc|fast)_(?P<pc>\d+)\b")


def ir_text(program: Program, *, checked: bool | None = None, opt_level: int = 2,
            optimised: bool = True) -> str:
    """The LLVM IR of ``program`` (after the ``opt_level`` pipeline unless ``optimised=False``)."""
    options = LowerOptions(checked=(not program.verified) if checked is None else checked)
    if not optimised:
        return str(lower_program(program, options).module)
    code = compile_program(program, options, opt_level, cache=False, keep_ir=True)
    return code.ir


def native_asm(program: Program, *, checked: bool | None = None, opt_level: int = 2) -> str:
    """Host assembly of the compiled program, with ``; eBPF pc n`` at the start of eBPF blocks."""
    module = llvm.parse_assembly(ir_text(program, checked=checked, opt_level=opt_level))
    tm = target_machine(PIPELINES[opt_level].codegen_level)
    tm.set_asm_verbosity(True)  # block comments carry the IR block names (pc_<n>)
    try:
        asm = tm.emit_assembly(module)
    finally:
        tm.set_asm_verbosity(False)
    return annotate(asm)


def annotate(asm: str) -> str:
    """Add ``; eBPF pc n`` lines where LLVM's block comments name a ``pc_n`` block."""
    out = []
    for line in asm.splitlines():
        match = _BLOCK.match(line)
        if match:
            fast = " (loop fast copy)" if match.group("copy") == "fast" else ""
            out.append(f"; eBPF pc {match.group('pc')}{fast}")
        out.append(line)
    return "\n".join(out) + "\n"
