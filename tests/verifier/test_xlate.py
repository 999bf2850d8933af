"""verifier/xlate.py: stores to the __sk_buff fields the kernel keeps in 16 bits are narrowed as it does.

The expected values are the kernel's (tests/kernel/test_kernel_skb.py runs the
same rules through BPF_PROG_TEST_RUN): tc_index and tc_classid keep the low 16
bits of a stored u32; a queue_mapping store of 0xffff or more is dropped, an
immediate store compares the signed 32-bit immediate.
"""

from __future__ import annotations

import dataclasses

import pytest

from ebpflite.api import Object
from ebpflite.errors import VerifierError
from ebpflite.verifier import check, verify
from ebpflite.vm.asm import assemble_program

FRAME = bytes.fromhex("020000000002020000000001") + b"\x08\x06" + bytes(28)


def tc(text: str):
    prog = assemble_program(text, name="t")
    return dataclasses.replace(prog, prog_type="sched_cls", section="tc")


def run(text: str, engine: str) -> int:
    prog = check(tc(text))
    obj = Object("<xlate>", "linux", {"t": prog}, [], engine=engine)
    return obj.programs["t"].run(packet=FRAME).return_value


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("field, offset, value, expected", [
    ("tc_index", 44, 0x12345, 0x2345),
    ("tc_classid", 72, 0xABCDEF, 0xCDEF),
    ("queue_mapping", 12, 0xFFFE, 0xFFFE),
    ("queue_mapping", 12, 0xFFFF, 0),          # NO_QUEUE_MAPPING: dropped
    ("queue_mapping", 12, 0x10005, 0),         # above it: dropped
    ("mark", 8, 0x12345, 0x12345),             # a u32 field: stored whole
])
def test_register_stores_are_narrowed(field, offset, value, expected, engine):
    text = f"r2 = {value} ll\n*(u32 *)(r1 + {offset}) = r2\nr0 = *(u32 *)(r1 + {offset})\nexit\n"
    assert run(text, engine) == expected


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("imm, expected", [(5, 5), (0xFFFF, 0), (0x10005, 0), (-1, 0xFFFF), (-2, 0xFFFE)])
def test_immediate_queue_mapping_stores_compare_the_signed_immediate(imm, expected, engine):
    text = f"*(u32 *)(r1 + 12) = {imm}\nr0 = *(u32 *)(r1 + 12)\nexit\n"
    assert run(text, engine) == expected


def test_the_xlated_program_shows_the_rewrite():
    prog = check(tc("r2 = 7\n*(u32 *)(r1 + 44) = r2\n*(u32 *)(r1 + 12) = r2\n*(u32 *)(r1 + 8) = r2\n"
                    "r0 = 0\nexit\n"))
    names = [i.spec.name for i in prog.insns]
    assert names == ["mov", "stxh", "jge", "stxh", "stxw", "mov", "exit"]
    guard = prog.insns[2]
    assert guard.dst == 2 and guard.imm == 0xFFFF and guard.off == 1


def test_a_store_to_the_context_and_to_the_stack_is_refused():
    """The same instruction narrowed for the context would corrupt the stack store: refuse, like the kernel."""
    text = ("r3 = *(u32 *)(r1 + 0)\nr2 = r1\nif r3 > 60 goto +2\nr2 = r10\nr2 += -64\n"
            "r4 = 5\n*(u32 *)(r2 + 44) = r4\nr0 = 0\nexit\n")
    report = verify(tc(text))
    assert not report.ok
    assert "stores to tc_index of the context on one path and to other memory on another" in report.errors[0].text()
    with pytest.raises(VerifierError, match="same insn cannot be used with different pointers"):
        check(tc(text))
