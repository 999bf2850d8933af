"""The assembler: the conformance suite's files give the reference encoding, the
llvm syntax gives what llvm-mc gives, and labels, comments and pasted
llvm-objdump output are understood."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ebpflite.vm.asm import assemble, assemble_bytes, assemble_program
from ebpflite.vm.insn import Insn, encode, make
from ebpflite.vm.isa import BY_NAME, Kind

REPO = Path(__file__).resolve().parents[2]
SUITE = (REPO / ".." / "shared" / "conformance").resolve()
SUITE_FILES = sorted((SUITE / "tests").glob("*.data")) if (SUITE / "tests").is_dir() else []


def asm_section(path: Path) -> str:
    """The ``-- asm`` section of a suite file (comments are the assembler's job)."""
    lines: list[str] = []
    section = None
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("--"):
            section = line.strip()[2:].strip()
        elif section == "asm":
            lines.append(line)
    return "\n".join(lines)


# --- the conformance suite ------------------------------------------------------------


@pytest.mark.skipif(not SUITE_FILES, reason=f"conformance suite not found at {SUITE}")
@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_file_assembles_to_reference_bytes(path: Path) -> None:
    reference = json.loads((SUITE / "assembled.json").read_text())[path.stem]["prog"]
    assert assemble_bytes(asm_section(path)).hex() == reference


@pytest.mark.skipif(not SUITE_FILES, reason=f"conformance suite not found at {SUITE}")
def test_suite_has_all_313_files() -> None:
    assert len(SUITE_FILES) == 313
    assert len(json.loads((SUITE / "assembled.json").read_text())) == 313


# --- both syntaxes give the same instruction ------------------------------------------

SAME = [
    ("mov32 %r0, 0", "w0 = 0", make("mov32", dst=0, imm=0)),
    ("add32 %r1, 1", "w1 += 1", make("add32", dst=1, imm=1)),
    ("mov %r1, %r2", "r1 = r2", Insn(BY_NAME["mov"][1], dst=1, src=2)),
    ("neg32 %r0", "w0 = -w0", make("neg32", dst=0)),
    ("neg %r3", "r3 = -r3", make("neg", dst=3)),
    ("sdiv %r1, %r2", "r1 s/= r2", Insn(BY_NAME["sdiv"][1], dst=1, src=2, off=1)),
    ("smod %r1, 3", "r1 s%= 3", make("smod", dst=1, imm=3)),
    ("arsh %r1, 3", "r1 s>>= 3", make("arsh", dst=1, imm=3)),
    ("movsx864 %r0, %r1", "r0 = (s8)r1", make("movsx864", dst=0, src=1)),
    ("movsx1632 %r0, %r1", "w0 = (s16)w1", make("movsx1632", dst=0, src=1)),
    ("be16 %r0", "r0 = be16 r0", make("be16", dst=0)),
    ("le32 %r0", "r0 = le32 r0", make("le32", dst=0)),
    ("bswap64 %r0", "r0 = bswap64 r0", make("bswap64", dst=0)),
    ("swap64 %r0", "r0 = bswap64 r0", make("bswap64", dst=0)),
    ("stxw [%r10-4], %r1", "*(u32 *)(r10 - 4) = r1", make("stxw", dst=10, src=1, off=-4)),
    ("stdw [%r10-8], 5", "*(u64 *)(r10 - 8) = 5", make("stdw", dst=10, off=-8, imm=5)),
    ("ldxb %r1, [%r2+3]", "r1 = *(u8 *)(r2 + 3)", make("ldxb", dst=1, src=2, off=3)),
    ("ldxsh %r1, [%r2+3]", "r1 = *(s16 *)(r2 + 3)", make("ldxsh", dst=1, src=2, off=3)),
    ("jgt %r1, %r2, +3", "if r1 > r2 goto +3", Insn(BY_NAME["jgt"][1], dst=1, src=2, off=3)),
    ("jslt32 %r1, 5, -2", "if w1 s< 5 goto -2", make("jslt32", dst=1, imm=5, off=-2)),
    ("jset %r1, %r2, +0", "if r1 & r2 goto +0", Insn(BY_NAME["jset"][1], dst=1, src=2)),
    ("ja +3", "goto +3", make("ja", off=3)),
    ("ja32 +100000", "gotol +100000", make("ja32", imm=100000)),
    ("call 1", "call 1", make("call", imm=1)),
    ("call %r2", "callx r2", make("callx", dst=2)),
    ("call local +4", "call pc+4", make("call local", imm=4)),
    ("call runtime 7", "call kfunc 7", make("call kfunc", imm=7)),
    ("lock add [%r1], %r2", "lock *(u64 *)(r1 + 0) += r2", make("lock add", dst=1, src=2)),
    ("lock add32 [%r10-4], %r1", "lock *(u32 *)(r10 - 4) += w1", make("lock add32", dst=10, src=1, off=-4)),
    ("lock fetch add [%r1], %r0", "r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)",
     make("lock fetch add", dst=1, src=0)),
    ("lock fetch or32 [%r1+8], %r3", "w3 = atomic_fetch_or((u32 *)(r1 + 8), w3)",
     make("lock fetch or32", dst=1, src=3, off=8)),
    ("lock xchg [%r1], %r0", "r0 = xchg_64(r1 + 0, r0)", make("lock xchg", dst=1, src=0)),
    ("lock cmpxchg [%r1], %r2", "r0 = cmpxchg_64(r1 + 0, r0, r2)", make("lock cmpxchg", dst=1, src=2)),
    ("lock cmpxchg32 [%r1], %r2", "w0 = cmpxchg32_32(r1 + 0, w0, w2)", make("lock cmpxchg32", dst=1, src=2)),
    ("lddw %r1, 0x1122334455667788", "r1 = 0x1122334455667788 ll",
     make("lddw", dst=1, imm=0x55667788, imm_hi=0x11223344)),
    ("lddw %r1, map_fd(3)", "r1 = map_fd(3)", make("lddw", dst=1, imm=3, pseudo=1)),
    ("lddw %r1, map_value(0) + 16", "r1 = map_value(0) + 16", make("lddw", dst=1, imm_hi=16, pseudo=2)),
    ("lddw %r2, map_idx_value(1) + 4", "r2 = map_idx_value(1) + 4", make("lddw", dst=2, imm=1, imm_hi=4, pseudo=6)),
    ("ldabsw 0x10", "r0 = *(u32 *)skb[16]", make("ldabsw", imm=16)),
    ("ldindh %r1, 4", "r0 = *(u16 *)skb[r1 + 4]", make("ldindh", src=1, imm=4)),
    ("ldindb %r1, 0", "r0 = *(u8 *)skb[r1]", make("ldindb", src=1)),
    ("exit", "exit", make("exit")),
]


@pytest.mark.parametrize("conformance, llvm, expected", SAME, ids=[s[1] for s in SAME])
def test_both_syntaxes(conformance: str, llvm: str, expected: Insn) -> None:
    assert assemble(conformance) == [expected]
    assert assemble(llvm) == [expected]


def test_pc_counts_lddw_as_two_slots_and_syntaxes_mix() -> None:
    insns = assemble("r0 = 1 ll\nmov %r1, 2\nw2 = 3\nexit")
    assert [i.pc for i in insns] == [0, 2, 3, 4]
    assert len(encode(insns)) == 40


def test_registers_with_or_without_percent() -> None:
    assert assemble("mov r1, r2") == assemble("mov %r1, %r2") == assemble("%r1 = %r2")


def test_llvm_alu32_views_parse() -> None:
    """llvm -mattr=+alu32 writes 32-bit views in loads, stores and atomics."""
    assert assemble("w1 = *(u8 *)(r2 + 3)") == assemble("r1 = *(u8 *)(r2 + 3)")
    assert assemble("*(u32 *)(r1 + 0) = w2") == assemble("*(u32 *)(r1 + 0) = r2")
    assert assemble("lock *(u32 *)(r1 + 0) += r2") == assemble("lock *(u32 *)(r1 + 0) += w2")


def test_numbers_hex_decimal_and_bit_patterns() -> None:
    assert assemble("mov32 %r0, 0xffffffff")[0].imm == -1
    assert assemble("mov32 %r0, -2147483648")[0].imm == -2147483648
    assert assemble("ldxb %r0, [%r1+0xffff]")[0].off == -1
    assert assemble("lddw %r0, 0xFFFFFFFFFFFFFFFF")[0].imm64 == 2**64 - 1
    assert assemble("r0 = -1 ll")[0].imm64 == 2**64 - 1
    assert assemble("lddw %r0, 2147483648")[0].imm64 == 2**31


# --- labels ---------------------------------------------------------------------------


def test_labels_forward_backward_and_on_the_same_line() -> None:
    insns = assemble("""
        start: mov %r0, 0
        loop:
            add %r0, 1
            jlt %r0, 10, loop     # backward
            if r0 == 10 goto done // forward
            ja start
        done: exit
    """)
    jumps = {i.pc: i.target for i in insns if i.target is not None}
    assert jumps == {2: 1, 3: 5, 4: 0}


def test_exit_as_target_means_first_exit() -> None:
    insns = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert insns[0].target == 2


def test_label_named_exit_wins() -> None:
    insns = assemble("ja exit\nexit\nexit:\nexit")
    assert insns[0].target == 2


def test_call_local_by_label_and_program_functions() -> None:
    prog = assemble_program("mov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r1\nexit", name="main")
    call = prog.insns[1]
    assert call.kind is Kind.CALL_LOCAL and call.target == 3
    assert prog.functions == {0: "main", 3: "f"}
    assert prog.line_info[3].line == 5 and prog.line_info[3].text == "mov %r0, %r1"


def test_comments_of_every_kind() -> None:
    assert assemble("mov %r0, 1 # a\nmov %r0, 2 ; b\nw0 = 3 // c\n# whole line\n\nexit") == assemble(
        "mov %r0, 1\nmov %r0, 2\nw0 = 3\nexit")


def test_pasted_llvm_objdump_output() -> None:
    dump = """
0000000000000000 <prog>:
       0:\tb7 00 00 00 00 00 00 00\tr0 = 0
       1:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 1234605616436508552 ll
       3:\t55 01 01 00 00 00 00 00\tif r1 != 0 goto +1 <LBB0_2>
       4:\tb7 00 00 00 01 00 00 00\tr0 = 1

0000000000000028 <LBB0_2>:
       5:\t95 00 00 00 00 00 00 00\texit
"""
    insns = assemble(dump)
    assert [i.spec.name for i in insns] == ["mov", "lddw", "jne", "mov", "exit"]
    assert insns[1].imm64 == 0x1122334455667788
    assert insns[2].target == 5


def test_kernel_pc_relative_jumps() -> None:
    assert assemble("if r1 > r2 goto pc+3") == assemble("if r1 > r2 goto +3")
    assert assemble("goto pc-1") == assemble("goto -1")


def test_helper_by_name_from_a_mapping() -> None:
    assert assemble("call my_helper", helpers={"my_helper": 77}) == [make("call", imm=77)]


def test_helper_by_name_from_the_registry() -> None:
    from ebpflite.helpers import registry

    number = registry.by_name("bpf_map_lookup_elem", "linux").number
    assert assemble("call bpf_map_lookup_elem") == [make("call", imm=number)]
    windows = registry.by_name("bpf_map_lookup_elem", "windows").number
    assert assemble("call bpf_map_lookup_elem", platform="windows") == [make("call", imm=windows)]


# --- an independent oracle: llvm-mc ----------------------------------------------------

#: llvm syntax that LLVM 14's assembler understands (v4 instructions came with LLVM 18)
LLVM_MC_LINES = [
    "r0 = 0", "w1 += 1", "r1 = r2", "w0 = -w0", "r0 = -r0", "r0 = be16 r0", "r0 = le32 r0",
    "*(u32 *)(r10 - 4) = r1", "r1 = *(u8 *)(r2 + 3)", "if r1 > r2 goto +3", "if w1 s< 5 goto -2",
    "goto +3", "call 1", "exit", "lock *(u64 *)(r1 + 0) += r2", "r1 = 0x1122334455667788 ll",
    "r0 = *(u8 *)skb[10]", "r2 <<= 3", "r2 s>>= 3", "w2 s>>= w3", "r1 = -5", "w1 = 0xffffffff",
    "r3 /= r4", "w3 |= 7", "*(u64 *)(r1 - 8) = r9", "r7 = *(u64 *)(r10 - 512)", "if r3 s>= -7 goto -1",
    "r5 ^= r6", "w6 &= w7", "lock *(u64 *)(r1 + 0) |= r2",
]


def test_llvm_syntax_matches_llvm_mc(tmp_path: Path) -> None:
    llvm_mc = shutil.which("llvm-mc")
    if llvm_mc is None:
        pytest.skip("llvm-mc is not installed (apt-get install llvm)")
    source = tmp_path / "t.s"
    source.write_text("\n".join(LLVM_MC_LINES) + "\n")
    out = subprocess.run([llvm_mc, "-arch", "bpf", "-mattr=+alu32", "-show-encoding", str(source)],
                         capture_output=True, text=True, check=True).stdout
    encodings = [line.split("encoding: [")[1].rstrip("]") for line in out.splitlines() if "encoding:" in line]
    assert len(encodings) == len(LLVM_MC_LINES)
    for line, encoding in zip(LLVM_MC_LINES, encodings, strict=True):
        expected = bytes(int(b, 16) for b in encoding.split(","))
        assert assemble_bytes(line) == expected, line
