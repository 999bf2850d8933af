"""vm/patch.py: replacing instructions by sequences keeps every branch, call and code address on target."""

from __future__ import annotations

import pytest

from ebpflite.vm.asm import assemble_program
from ebpflite.vm.insn import make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.patch import expand
from ebpflite.vm.program import Program


def run(program: Program) -> int:
    return Interpreter(program).run().r0


def test_forward_and_backward_jumps_keep_their_targets():
    prog = assemble_program("r0 = 0\nr1 = 5\nif r1 > 3 goto +2\nr0 += 100\nexit\nr0 += 1\nr0 += 2\n"
                            "if r0 < 10 goto -2\nexit\n")
    before = run(prog)
    # widen "r0 += 1" (pc 5, a jump target) and "r1 = 5" (pc 1, before the forward jump) into pairs
    patched = expand(prog, {5: [make("add", dst=0, imm=0), make("add", dst=0, imm=1)],
                            1: [make("mov", dst=1, imm=5), make("mov", dst=2, imm=0)]})
    assert len(patched.insns) == len(prog.insns) + 2
    assert run(patched) == before == 11
    jump = next(i for i in patched.insns if i.spec.name == "jgt")
    assert jump.target == 6 and patched.by_pc()[6].imm == 0  # lands on the first of the replacement
    back = next(i for i in patched.insns if i.spec.name == "jlt")
    assert back.target == 8  # "r0 += 2", two instructions further on


def test_local_calls_code_addresses_functions_and_lines_move():
    prog = Program.of(
        make("mov", dst=1, imm=1),                   # pc 0
        make("lddw", dst=3, imm=4, pseudo=4),        # pc 1-2: the address of f (pc 6)
        make("mov", dst=0, imm=0),                   # pc 3
        make("call local", imm=1),                   # pc 4: call f
        make("exit"),                                # pc 5
        make("mov", dst=0, src=1),                   # pc 6: f
        make("add", dst=0, imm=41),                  # pc 7
        make("exit"),                                # pc 8
        functions={0: "main", 6: "f"}, line_info={pc: pc + 100 for pc in (0, 1, 3, 4, 5, 6, 7, 8)})
    assert run(prog) == 42
    patched = expand(prog, {0: [make("mov", dst=1, imm=0), make("mov", dst=1, imm=1)]})
    assert run(patched) == 42
    assert patched.functions == {0: "main", 7: "f"}
    assert patched.line_info[0] == 100 and patched.line_info[2] == 101 and patched.line_info[7] == 106
    lddw = patched.by_pc()[2]
    assert lddw.spec.name == "lddw" and lddw.pc + lddw.imm + 1 == 7
    call = patched.by_pc()[5]
    assert call.target == 7


def test_bad_patches_are_refused():
    prog = assemble_program("r0 = 0\nif r0 == 0 goto +0\nexit\n")
    with pytest.raises(ValueError, match="no instruction starts at pc 7"):
        expand(prog, {7: [make("exit")]})
    with pytest.raises(ValueError, match="branch or code address cannot be patched"):
        expand(prog, {1: [make("exit")]})
    with pytest.raises(ValueError, match="replaced by nothing"):
        expand(prog, {0: []})
    assert expand(prog, {}) is prog


def test_a_jump_that_no_longer_fits_is_refused():
    prog = assemble_program("r0 = 0\nif r0 == 0 goto +1\nr0 = 1\nexit\n")
    with pytest.raises(ValueError, match="does not fit"):
        expand(prog, {2: [make("mov", dst=0, imm=1)] * 40000})
