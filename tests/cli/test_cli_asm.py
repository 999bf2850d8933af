"""``ebpflite asm`` and ``ebpflite disasm``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli, stages
from ebpflite.cli import listing as cli_listing
from ebpflite.errors import AssemblerError, DecodeError
from ebpflite.vm.asm import assemble_bytes

SOURCE = "mov %r0, 1\nL: jne %r0, 2, L\nexit\n"
CODE = assemble_bytes(SOURCE)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "prog.s"
    path.write_text(SOURCE)
    return path


def test_asm_prints_hex_slots(source: Path) -> None:
    result = run("asm", str(source))
    assert result.exit_code == 0, result.output
    assert result.output == "b7 00 00 00 01 00 00 00\n55 00 ff ff 02 00 00 00\n95 00 00 00 00 00 00 00\n"


def test_asm_writes_binary_and_hex(source: Path, tmp_path: Path) -> None:
    assert run("asm", str(source), "-o", str(tmp_path / "p.bin")).exit_code == 0
    assert (tmp_path / "p.bin").read_bytes() == CODE
    assert run("asm", str(source), "--hex", "-o", str(tmp_path / "p.hex")).exit_code == 0
    assert bytes.fromhex((tmp_path / "p.hex").read_text()) == CODE


def test_asm_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text("mov %r0, 1\nfrob\n")
    result = run("asm", str(bad))
    assert isinstance(result.exception, AssemblerError)
    assert "line 2: Invalid mnemonic 'frob'" in str(result.exception)


def test_main_turns_errors_into_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text("or %r0, %r50\n")
    proc = subprocess.run([sys.executable, "-c", "from ebpflite.cli import main; main()", "asm", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: line 1: Invalid register '%r50' (registers are r0..r10) " \
                                  "(in 'or %r0, %r50')"


def test_asm_rejects_binary_input(tmp_path: Path) -> None:
    path = tmp_path / "x.s"
    path.write_bytes(b"\xff\xfe\x00")
    result = run("asm", str(path))
    assert result.exit_code == 2 and "is not a text file" in result.output


def test_disasm_raw_bytecode(tmp_path: Path) -> None:
    path = tmp_path / "p.bin"
    path.write_bytes(CODE)
    result = run("disasm", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["       0:\tb7 00 00 00 01 00 00 00\tr0 = 1",
                                          "       1:\t55 00 ff ff 02 00 00 00\tif r0 != 2 goto -1",
                                          "       2:\t95 00 00 00 00 00 00 00\texit"]


def test_disasm_hex_text_in_conformance_syntax(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text(CODE.hex(" ") + "\n")
    result = run("disasm", str(path), "--syntax", "conformance", "--plain")
    assert result.output.splitlines() == ["mov %r0, 1", "L1:", "jne %r0, 2, L1", "exit"]


def test_disasm_assembly_with_source_lines(source: Path) -> None:
    result = run("disasm", str(source), "-l", "--plain")
    assert result.output.splitlines() == ["; mov %r0, 1", "r0 = 1", "; L: jne %r0, 2, L", "if r0 != 2 goto -1",
                                          "; exit", "exit"]


def test_disasm_json(source: Path) -> None:
    entries = json.loads(run("disasm", str(source), "--json").output)
    assert [e["text"] for e in entries] == ["r0 = 1", "if r0 != 2 goto -1", "exit"]
    assert entries[1]["target"] == 1 and entries[1]["source"]["line"] == 2


def test_disasm_bad_bytecode_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "p.bin"
    path.write_bytes(CODE[:12])
    result = run("disasm", str(path))
    assert isinstance(result.exception, DecodeError)
    assert "program size 12 is not a multiple of 8 bytes" in str(result.exception)


def test_disasm_section_needs_an_object(tmp_path: Path) -> None:
    path = tmp_path / "p.bin"
    path.write_bytes(CODE)
    result = run("disasm", str(path), "xdp")
    assert result.exit_code == 2 and "is not an ELF object, so it has no section 'xdp'" in result.output


def test_disasm_elf_delegates_to_the_object_listing(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def object_listing(path, section=None, show_source=False, as_json=False, btf=None):
        calls.append((path, section, show_source, as_json, btf))
        return "listing"

    monkeypatch.setattr(cli_listing, "object_listing", object_listing)
    obj = tmp_path / "x.o"
    obj.write_bytes(b"\x7fELF" + bytes(60))
    result = run("disasm", str(obj), "xdp", "-l", "--json")
    assert result.output == "listing\n"
    assert calls == [(str(obj), "xdp", True, True, None)]


def test_jit_views_go_through_the_stage_views(source: Path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(stages, "render", lambda prog, kind: seen.append((len(prog), kind)) or "ir")
    assert run("disasm", str(source), "--ir").output == "ir\n"
    assert seen == [(3, "ir")]
