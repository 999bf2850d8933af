"""``ebpflite disasm --xlated/--ir/--jited`` through ebpflite/cli/stages.py, on assembly and on an ELF object."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.cli.stages import render
from ebpflite.errors import VerifierError
from ebpflite.vm.asm import assemble_program

SOURCE = "r0 = 7\nr0 += 1\nexit\n"
C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int pass(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    return data + 14 > end ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def asm_file(tmp_path: Path) -> Path:
    path = tmp_path / "seven.s"
    path.write_text(SOURCE)
    return path


def test_xlated_ir_and_jited_views_of_an_assembly_file(asm_file: Path):
    xlated = run("disasm", str(asm_file), "--xlated")
    assert xlated.exit_code == 0, xlated.output
    assert "xlated by the verifier" in xlated.output and "r0 = 7" in xlated.output and "exit" in xlated.output
    ir = run("disasm", str(asm_file), "--ir")
    assert ir.exit_code == 0 and "define" in ir.output and "ebpf_entry" in ir.output
    jited = run("disasm", str(asm_file), "--jited")
    assert jited.exit_code == 0 and "ebpf_entry:" in jited.output and "ret" in jited.output


def test_views_of_an_elf_object(tmp_path: Path, ebpf_cache_dir: Path):
    from ebpflite.pytest_plugin import make_compiler

    obj = make_compiler(ebpf_cache_dir, tmp_path)(C_SOURCE, name="pass")  # skips without a compiler
    xlated = run("disasm", str(obj), "--xlated")
    assert xlated.exit_code == 0, xlated.output
    assert "pass: xlated by the verifier" in xlated.output and "exit" in xlated.output
    assert "ebpf_entry:" in run("disasm", str(obj), "--jited").output


def test_unsafe_program_reports_the_verifier_error():
    program = assemble_program("r0 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r10 + 8)\nexit\n", name="bad")
    with pytest.raises(VerifierError, match="verification of bad failed"):
        render(program, "xlated")


def test_unknown_kind_is_a_clear_error(asm_file: Path):
    with pytest.raises(ValueError, match="unknown listing kind 'dot'"):
        render(assemble_program(SOURCE), "dot")
