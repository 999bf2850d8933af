"""The disassembler: every instruction form prints in both syntaxes and assembles
back to itself, and what llvm-objdump prints agrees with what we print and parse."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebpflite.vm.asm import assemble, assemble_program
from ebpflite.vm.disasm import disassemble, format_insn, to_json
from ebpflite.vm.insn import FIELDS, Insn, decode, encode, make
from ebpflite.vm.isa import BY_NAME, SPECS, InsnSpec, Kind
from ebpflite.vm.program import Program

SYNTAXES = ("llvm", "conformance")

_RANGES = {"dst": (0, 10), "src": (0, 10), "off": (-(2**15), 2**15 - 1), "imm": (-(2**31), 2**31 - 1)}


def draw_insn(pick, spec: InsnSpec, pc: int = 0) -> Insn:
    """An instruction of ``spec`` with values from ``pick(lo, hi)`` in every operand field."""
    values = {name: pick(*_RANGES[name]) if spec.is_operand(name) else spec.fixed_value(name)
              for name in FIELDS}
    imm_hi = pick(-(2**31), 2**31 - 1) if spec.kind is Kind.LDDW else 0
    return Insn(spec, values["dst"], values["src"], values["off"], values["imm"], imm_hi, pc)


def round_trips(insns: list[Insn]) -> None:
    for syntax in SYNTAXES:
        for labels in (False, True):
            for listing in (False, True):
                text = "\n".join(disassemble(insns, syntax, labels=labels, listing=listing))
                assert assemble(text) == insns, (syntax, labels, listing, text)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.name}-{s.opcode:02x}-{s.fixed}")
@settings(max_examples=12)
@given(data=st.data())
def test_every_spec_round_trips(spec: InsnSpec, data: st.DataObject) -> None:
    insn = draw_insn(lambda lo, hi: data.draw(st.integers(lo, hi)), spec)
    for syntax in SYNTAXES:
        text = format_insn(insn, syntax)
        assert assemble(text) == [insn], (syntax, text)


@st.composite
def programs(draw) -> list[Insn]:
    """Random programs whose jumps and local calls often land on an instruction."""
    specs = draw(st.lists(st.sampled_from(SPECS), min_size=1, max_size=12))
    insns, pc = [], 0
    for spec in specs:
        insns.append(draw_insn(lambda lo, hi: draw(st.integers(lo, hi)), spec, pc))
        pc += spec.slots
    starts = [i.pc for i in insns]
    for index, insn in enumerate(insns):
        if insn.target is not None and draw(st.booleans()):
            offset = draw(st.sampled_from(starts)) - insn.pc - 1
            fieldname = "off" if insn.kind is Kind.JUMP or insn.spec.op == "ja" else "imm"
            insns[index] = insn.with_fields(**{fieldname: offset})
    return insns


@given(programs())
def test_programs_round_trip_in_every_style(insns: list[Insn]) -> None:
    round_trips(insns)


def test_every_spec_is_covered_with_two_distinct_texts() -> None:
    """Two forms never print the same (else the round trip could not tell them apart)."""
    seen: dict[str, InsnSpec] = {}
    for spec in SPECS:
        insn = make(spec, dst=1, src=2, off=3, imm=4, imm_hi=5)
        for syntax in SYNTAXES:
            text = format_insn(insn, syntax)
            assert seen.setdefault(text, spec) is spec, text


# --- printing ---------------------------------------------------------------------------


def test_llvm_and_conformance_text() -> None:
    insns = assemble("mov32 %r0, 0\nldxb %r1, [%r2+3]\njne %r1, 5, L\nlock fetch add [%r10-8], %r0\n"
                     "lddw %r1, map_value(2) + 8\nL: exit")
    assert disassemble(insns) == ["w0 = 0", "r1 = *(u8 *)(r2 + 3)", "if r1 != 5 goto +3",
                                  "r0 = atomic_fetch_add((u64 *)(r10 - 8), r0)", "r1 = map_value(2) + 8",
                                  "exit"]
    assert disassemble(insns, "conformance") == ["mov32 %r0, 0", "ldxb %r1, [%r2+3]", "jne %r1, 5, L6",
                                                 "lock fetch add [%r10-8], %r0", "lddw %r1, map_value(2) + 8",
                                                 "L6:", "exit"]


def test_listing_has_pc_and_bytes_columns() -> None:
    lines = disassemble(assemble("r1 = 0x1122334455667788 ll\nexit"), listing=True)
    assert lines == ["       0:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 0x1122334455667788 ll",
                     "       2:\t95 00 00 00 00 00 00 00\texit"]


def test_bytes_and_program_inputs() -> None:
    code = bytes.fromhex("b700000001000000" "9500000000000000")
    assert disassemble(code) == ["r0 = 1", "exit"]
    prog = Program(decode(code), functions={0: "entry"})
    assert disassemble(prog, "conformance") == ["entry:", "mov %r0, 1", "exit"]


def test_function_names_label_local_calls() -> None:
    prog = assemble_program("call local f\nexit\nf: mov %r0, 1\nexit", name="main")
    assert disassemble(prog, labels=True) == ["main:", "call local f", "exit", "f:", "r0 = 1", "exit"]
    assert disassemble(prog) == ["call pc+1", "exit", "r0 = 1", "exit"]


def test_helper_names_from_a_mapping_or_callable() -> None:
    insns = assemble("call 1\ncall 99\nexit")
    names = {1: "bpf_map_lookup_elem"}
    assert disassemble(insns, helper_name=names) == ["call bpf_map_lookup_elem", "call 99", "exit"]
    assert disassemble(insns, helper_name=lambda n: f"h{n}") == ["call h1", "call h99", "exit"]
    text = "\n".join(disassemble(insns, helper_name=lambda n: f"h{n}"))
    assert assemble(text, helpers={"h1": 1, "h99": 99}) == insns


def test_map_names_are_comments() -> None:
    insns = assemble("r1 = map_idx(0)\nr2 = map_idx_value(1) + 4\nr3 = 7 ll\nexit")
    lines = disassemble(insns, map_name={0: "counters", 1: "config", 7: "not a map"})
    assert lines[:3] == ["r1 = map_idx(0)  # counters", "r2 = map_idx_value(1) + 4  # config", "r3 = 7 ll"]
    assert assemble("\n".join(lines)) == insns


def test_verbose_call_shows_the_prototype() -> None:
    from ebpflite.helpers import registry

    update = registry.by_name("bpf_map_update_elem", "linux").number
    text = format_insn(make("call", imm=update), verbose=True, helper_args=registry.helper_args("linux"))
    assert text == f"r0 = bpf_map_update_elem:{update}(map_fd r1, map_key r2, map_value r3, uint64_t r4)"
    assert format_insn(make("call", imm=update), verbose=True) == "call 2"  # no prototypes handed in
    assert format_insn(make("call", imm=9999), verbose=True, helper_args=registry.helper_args("linux")) \
        == "call 9999"


def test_json_entries() -> None:
    prog = assemble_program("mov %r0, 1\nja +0\nexit", file="x.s")
    entries = to_json(prog)
    assert entries[1] == {"pc": 1, "bytes": "0500000000000000", "name": "ja", "text": "goto +0",
                          "opcode": 5, "dst": 0, "src": 0, "off": 0, "imm": 0, "target": 2,
                          "source": {"file": "x.s", "line": 2, "text": "ja +0"}}


def test_unknown_syntax_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown syntax 'gas'"):
        format_insn(make("exit"), "gas")


# --- llvm-objdump as an oracle --------------------------------------------------------


def _llvm14_prints_faithfully(spec: InsnSpec) -> bool:
    """Forms LLVM 14's disassembler knows and prints without losing a field."""
    if spec.kind in (Kind.CALL_LOCAL, Kind.CALL_KFUNC, Kind.CALLX, Kind.LD_IND):
        return False  # printed as `call imm`, `callx r<imm>`, or skb[rS] without imm
    if spec.kind is Kind.LDDW and spec.extra != 0:
        return False  # printed as `ld_pseudo r1, 1, 5`
    if spec.op in ("sdiv", "smod", "mod", "movsx", "bswap", "jset", "ja32", "ldxs", "st") or spec.signed \
            and spec.kind is Kind.LDX:
        return False  # v4 instructions and a few LLVM 14 does not decode
    if spec.kind is Kind.ATOMIC and spec.size == 4 and spec.op != "add":
        return False  # 32-bit atomics other than add are <unknown> to LLVM 14
    if spec.kind is Kind.ATOMIC and spec.size == 4 and spec.op == "fetch_add":
        return False  # printed as `lock ... += r2`, dropping the fetch
    return True


def _objdump(tmp_path: Path, insns: list[Insn]) -> list[str]:
    llvm_mc, objdump = shutil.which("llvm-mc"), shutil.which("llvm-objdump")
    if llvm_mc is None or objdump is None:
        pytest.skip("llvm-mc / llvm-objdump are not installed (apt-get install llvm)")
    source = tmp_path / "raw.s"
    source.write_text("\t.text\n" + "".join(f"\t.byte {', '.join(str(b) for b in i.encode())}\n"
                                             for i in insns))
    obj = tmp_path / "raw.o"
    subprocess.run([llvm_mc, "-arch", "bpf", "-filetype=obj", "-o", str(obj), str(source)], check=True)
    out = subprocess.run([objdump, "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()[:1].isdigit() and ":\t" in line]


def test_llvm_objdump_output_assembles_to_the_same_bytes(tmp_path: Path) -> None:
    rng = random.Random(9669)
    insns, pc = [], 0
    for spec in [s for s in SPECS if _llvm14_prints_faithfully(s)] * 3:
        insn = draw_insn(rng.randint, spec, pc)
        insns.append(insn)
        pc += spec.slots
    lines = _objdump(tmp_path, insns)
    assert len(lines) == len(insns)
    assert assemble("\n".join(lines)) == insns


def test_llvm_objdump_prints_what_we_print(tmp_path: Path) -> None:
    """Outside lddw (llvm prints decimal, we print large values in hex) the text is the same."""
    rng = random.Random(14)
    specs = [s for s in SPECS if _llvm14_prints_faithfully(s) and s.kind is not Kind.LDDW
             and not (s.kind is Kind.ATOMIC and s.size == 4)]  # llvm 14 without alu32 prints r2, not w2
    insns = [draw_insn(rng.randint, spec, pc) for pc, spec in enumerate(specs)]
    lines = _objdump(tmp_path, insns)
    for insn, line in zip(insns, lines, strict=True):
        theirs = re.sub(r"\s+<[^<>\s]+>$", "", line.split("\t")[-1]).strip()
        assert format_insn(insn) == theirs


def test_round_trip_through_bytes() -> None:
    insns = assemble("r0 = 1\nif r0 > 2 goto +1\nexit\nexit")
    assert decode(encode(insns)) == insns
    assert BY_NAME["jgt"][0] is insns[1].spec
