"""Every bad assembly input ends in an AssemblerError that names the line and the fault,
starting with the conformance suite's negative files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebpflite.errors import AssemblerError
from ebpflite.vm.asm import assemble

REPO = Path(__file__).resolve().parents[2]
NEGATIVE = (REPO / ".." / "shared" / "conformance" / "negative").resolve()


def sections(path: Path) -> dict[str, str]:
    """Sections of a suite file; ``-- error`` keeps its text, the rest are raw lines."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("--"):
            current = out.setdefault(line.strip()[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in out.items()}


#: negative file -> what our message must contain (the file's `-- error` text where it gives one)
SUITE_NEGATIVE = {
    "invalid_imm32_dec_range.data": ("line 2", "immediate 2147483648 is out of range for a 32-bit field"),
    "invalid_imm32_hex_range.data": ("line 2", "immediate 0x100000000 is out of range"),
    "invalid_label.data": ("line 1", "Invalid label 'NOT_A_LABEL'"),
    "invalid_lock.data": ("line 1", "Invalid number of operands for lock"),
    "invalid_lock2.data": ("line 1", "Invalid number of operands for lock"),
    "invalid_mnemonic.data": ("line 2", "Invalid mnemonic 'ldxq'"),
    "invalid_offset.data": ("line 1", "memory operands go in brackets"),
    "invalid_offset_range.data": ("line 2", "offset +0x10000 is out of range for a 16-bit field"),
    "invalid_operand_count.data": ("line 1", "Invalid number of operands for lddw: expected 2, got 1"),
    "invalid_register.data": ("line 1", "Invalid register '%r50'"),
    # an empty `-- asm` followed by an unknown section: nothing to assemble
    "invalid_unknown_directive.data": ("", "the program has no instructions"),
    "empty.data": ("", "the program has no instructions"),
    "empty_instructions.data": ("", "the program has no instructions"),
}


@pytest.mark.skipif(not NEGATIVE.is_dir(), reason=f"conformance suite not found at {NEGATIVE}")
@pytest.mark.parametrize("name", sorted(SUITE_NEGATIVE))
def test_suite_negative_file_is_rejected(name: str) -> None:
    parts = sections(NEGATIVE / name)
    where, what = SUITE_NEGATIVE[name]
    with pytest.raises(AssemblerError) as info:
        assemble(parts.get("asm", ""))
    message = str(info.value)
    assert message.startswith(where) and what in message
    expected = parts.get("error", "").strip()
    if expected and name != "invalid_unknown_directive.data":  # its text does not fit its content
        assert expected in message


@pytest.mark.skipif(not NEGATIVE.is_dir(), reason=f"conformance suite not found at {NEGATIVE}")
def test_error_data_is_valid_assembly() -> None:
    """error.data (``or %r0, %r10``) is well-formed: the runner's negative, not the assembler's."""
    parts = sections(NEGATIVE / "error.data")
    assert len(assemble(parts["asm"])) == 2


BAD = [
    ("frob r1", "Invalid mnemonic 'frob'"),
    ("lock foo [%r1], %r2", "Invalid mnemonic 'lock foo'"),
    ("lock fetch", "Invalid number of operands for lock"),
    ("exit 1", "Invalid number of operands for exit: expected 0, got 1"),
    ("mov %r0", "Invalid number of operands for mov: expected 2, got 1"),
    ("ldxb %r0, [%r1", "Invalid operands for ldxb: expected `ldxb %rD, [%rS+off]`"),
    ("stxdw %r10, %r1", "memory operands go in brackets"),
    ("mov %r11, 1", "Invalid register '%r11' (registers are r0..r10)"),
    ("r16 = 1", "Invalid register 'r16'"),
    ("mov32 %r0, -2147483649", "immediate -2147483649 is out of range"),
    ("mov32 %r0, 4294967295", "immediate 4294967295 is out of range"),
    ("r1 = 0x1122334455667788", "use lddw / `rD = VALUE ll` for a 64-bit constant"),
    ("lddw %r0, 0x10000000000000000", "immediate 0x10000000000000000 is out of range for a 64-bit field"),
    ("r1 = *(u8 *)(r2 + 40000)", "offset +40000 is out of range for a 16-bit field"),
    ("stb [%r1-32769], 1", "offset -32769 is out of range"),
    ("ja +32768", "offset +32768 is out of range"),
    ("goto 3", "jump offset 3 needs a sign"),
    ("ja nowhere\nexit", "Invalid label 'nowhere'"),
    ("jeq %r1, 0, exit\nmov %r0, 1", "Invalid label 'exit'"),
    ("ja end\nexit\nend:", "label 'end' marks the end of the program"),
    ("a:\nexit\na:\nexit", "duplicate label 'a' (first defined on line 1)"),
    ("r0 = -r1", "neg needs the same register twice"),
    ("r0 = atomic_fetch_add((u64 *)(r1 + 0), r2)", "needs the same register twice"),
    ("r1 = cmpxchg_64(r1 + 0, r1, r2)", "works on r0 only, not r1"),
    ("r1 = *(u32 *)skb[4]", "works on r0 only"),
    ("w1 += r2", "not a valid instruction; expected one of `wD += imm`, `wD += wS`"),
    ("if r1 > r2 goto", "not a valid instruction"),
    ("mov %r0, foo", "expected a number, not 'foo'"),
    ("call no_such_helper", "unknown helper 'no_such_helper' for linux"),
    ("call f\nexit\nf: exit", "unknown helper 'f' for linux; `call local f` calls the function at that label"),
    ("r1 @ 3", "unexpected character '@'"),
    (".text\nexit", "unknown directive '.text'"),
    ("", "the program has no instructions"),
    ("  # only a comment\n", "the program has no instructions"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[b[0] for b in BAD])
def test_bad_assembly_is_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(AssemblerError) as info:
        assemble(text)
    assert message in str(info.value)


def test_error_names_the_line_number_and_text() -> None:
    with pytest.raises(AssemblerError) as info:
        assemble("mov %r0, 1\n\n   frob %r1\nexit")
    assert info.value.line_no == 3
    assert str(info.value) == "line 3: Invalid mnemonic 'frob' (in 'frob %r1')"


def test_far_label_does_not_fit_a_16_bit_offset() -> None:
    text = "ja far\n" + "mov %r0, 0\n" * 40000 + "far: exit"
    with pytest.raises(AssemblerError, match="40000 instructions away, too far for a 16-bit offset"):
        assemble(text)
    assert assemble(text.replace("ja far", "ja32 far"))[0].imm == 40000


def test_not_text_is_rejected() -> None:
    with pytest.raises(AssemblerError, match="assembly must be text, not bytes"):
        assemble(b"exit")  # type: ignore[arg-type]
