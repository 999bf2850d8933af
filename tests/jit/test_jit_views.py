"""ir_text / native_asm (``ebpflite disasm --ir/--jited``) and the compile cache."""

from __future__ import annotations

import pytest
from jit_harness import EXIT, insn, program

from ebpflite.jit import cache
from ebpflite.jit.compiler import JitProgram
from ebpflite.jit.views import annotate, ir_text, native_asm

# a loop over the input buffer that LLVM cannot fold away
LOOP = program(insn("mov", dst=0, imm=0), insn("mov", dst=3, imm=0),
               insn("ldxb", dst=4, src=1), insn("add", dst=0, src=4), insn("add", dst=1, imm=1),
               insn("add", dst=3, imm=1), insn("jlt", dst=3, src=2, off=-5), EXIT, name="loop")


def test_ir_names_the_ebpf_blocks_and_the_entry_point():
    raw = ir_text(LOOP, optimised=False)
    assert "define i64 @\"ebpf_entry\"" in raw and "pc_2:" in raw.replace('"', "")
    assert "ebpf_check" in raw  # unverified: checked mode by default
    assert "ebpf_check" not in ir_text(LOOP, checked=False, optimised=False)
    assert "define" in ir_text(LOOP, checked=False)


def test_native_asm_is_annotated_with_ebpf_pcs():
    asm = native_asm(LOOP, checked=True)
    assert "ebpf_entry:" in asm
    assert "; eBPF pc 2" in asm  # the loop head (unchecked code is vectorised beyond recognition)
    assert "; eBPF pc 2 (loop fast copy)" in asm  # checked code: the copy that checks per iteration
    assert "ebpf_entry:" in native_asm(LOOP, checked=False)


def test_annotate_marks_block_labels():
    text = annotate(".LBB0_3:  # %pc_12\n\tmovq %rax, %rbx\n.LBB0_4:  # %fast_12\n")
    assert text.splitlines()[0] == "; eBPF pc 12"
    assert text.splitlines()[3] == "; eBPF pc 12 (loop fast copy)"


def test_same_program_is_compiled_once():
    prog = program(insn("mov", dst=0, imm=1234567), EXIT)
    cache.clear_memory_cache()
    first = JitProgram(prog)
    assert cache.memory_cache_size() == 1
    second = JitProgram(prog)
    assert second.code is first.code
    other_mode = JitProgram(prog, checked=False)
    assert other_mode.code is not first.code
    assert JitProgram(prog, cache=False).code is not first.code
    assert second.run().r0 == 1234567


def test_disk_cache_skips_code_generation(tmp_path):
    prog = program(insn("mov", dst=0, imm=7654321), EXIT)
    cache.clear_memory_cache()
    first = JitProgram(prog, cache_dir=tmp_path)
    assert not first.code.from_disk and list(tmp_path.glob("*.o"))
    cache.clear_memory_cache()
    second = JitProgram(prog, cache_dir=tmp_path)
    assert second.code.from_disk and second.run().r0 == 7654321


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_opt_level_gives_the_same_result(level: int):
    from jit_harness import buffer

    from ebpflite.vm.env import Environment

    env = Environment.minimal()
    region = buffer(env, bytes(range(10)))
    assert JitProgram(LOOP, env, opt_level=level).run(r1=region.start, r2=10).r0 == 45
