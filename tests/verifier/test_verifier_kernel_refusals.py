"""Programs the kernel refuses and ebpflite used to accept: division by an immediate zero.

(The other holes of that list have C programs in corpus/unsafe, where the
kernel agreement test loads them: ``helper_wrong_prog_type``,
``tail_call_not_prog_array``, ``prog_array_lookup``, ``global_returns_*``;
the allow-lists are checked in test_helper_allowlists.py.)
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from verifier_kernel import load_raw, unavailable

from ebpflite import verifier
from ebpflite.loader.progtypes import PROG_TYPE_NUMBERS
from ebpflite.vm.asm import assemble_program
from ebpflite.vm.insn import encode

DIVISIONS = ["r0 /= 0", "w0 /= 0", "r0 %= 0", "w0 %= 0", "r0 s/= 0", "w0 s%= 0"]


def verdict(asm: str):
    program = replace(assemble_program(asm), prog_type="socket_filter")
    return program, verifier.verify(program)


@pytest.mark.parametrize("op", DIVISIONS)
def test_division_by_an_immediate_zero_is_refused(op):
    _, report = verdict(f"r0 = 7\n{op}\nexit")
    e = report.errors[0]
    assert e.check == "div_zero" and e.pc == 1
    assert e.message.endswith("by the constant 0"), e.message


@pytest.mark.parametrize("op", ["r0 /= r1", "r0 %= r1", "r0 /= 3"])
def test_division_by_a_register_holding_zero_is_allowed(op):
    """A register may hold 0 at run time (the ISA defines the result), so only the constant is refused."""
    _, report = verdict(f"r1 = 0\nr0 = 7\n{op}\nexit")
    assert report.ok, report.text()


@pytest.mark.kernel
@pytest.mark.parametrize("op", DIVISIONS + ["r0 /= r1"])
def test_the_kernel_agrees_on_division(op):
    why = unavailable()
    if why:
        pytest.skip(f"asking the kernel needs root: {why}")
    program, report = verdict(f"r1 = 0\nr0 = 7\n{op}\nexit")
    loaded, log = load_raw(PROG_TYPE_NUMBERS["socket_filter"], encode(program.insns))
    if not loaded and "div by zero" not in log and "processed" not in log:
        pytest.skip(f"the kernel refuses BPF here: {log.strip()[-200:]}")
    assert loaded == report.ok, log[-500:]
