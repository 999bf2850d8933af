"""Building instructions by mnemonic: `make` and `Program.of`."""

from __future__ import annotations

from ebpflite.vm.insn import make
from ebpflite.vm.isa import PseudoSrc
from ebpflite.vm.program import Program


def test_src_picks_the_register_form_of_alu_and_jump_mnemonics():
    assert make("add", dst=0, imm=1).spec.source == "K"
    reg = make("add", dst=0, src=1)
    assert (reg.spec.source, reg.src, reg.imm) == ("X", 1, 0)
    assert make("jeq", dst=1, src=2, off=3).spec.source == "X"
    assert make("mov32", dst=0, src=0).spec.source == "X"  # src=0 is a register too
    # single-form mnemonics keep their form whatever src is
    assert make("ldxw", dst=0, src=1, off=2).spec.name == "ldxw"
    assert make("lddw", dst=1, imm=3, pseudo=PseudoSrc.MAP_IDX).src == PseudoSrc.MAP_IDX


def test_program_of_places_instructions_at_consecutive_slots():
    prog = Program.of(make("lddw", dst=0, imm=1), make("add", dst=0, src=0), make("exit"), name="p")
    assert [i.pc for i in prog.insns] == [0, 2, 3]
    assert prog.name == "p" and prog.nslots == 4
