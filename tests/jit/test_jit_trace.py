"""The JIT records no instruction traces: asking for one is a typed, explained error."""

from __future__ import annotations

import pytest

from ebpflite import engines
from ebpflite.errors import EbpfError
from ebpflite.jit.compiler import JitProgram, TraceUnsupported
from ebpflite.vm.asm import assemble_program


def test_trace_true_raises_a_clear_ebpf_error():
    program = assemble_program("r0 = 1\nexit\n")
    with pytest.raises(TraceUnsupported, match="traces come from the interpreter: use engine 'interp'"):
        engines.create("jit", program, None, trace=True)
    assert issubclass(TraceUnsupported, EbpfError)


def test_trace_false_still_runs():
    assert JitProgram(assemble_program("r0 = 1\nexit\n"), trace=False).run().r0 == 1
