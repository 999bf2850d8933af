"""``ebpflite verify``: verdicts, reports, exit status, JSON, -v, --all, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.errors import CompileError
from ebpflite.loader.cc import compile_c, find_compilers

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, Path]:
    if not find_compilers():
        pytest.skip("no eBPF C compiler (pip install ziglang, or apt-get install clang)")
    out = tmp_path_factory.mktemp("cli")
    try:
        return {name: compile_c(CORPUS / kind / f"{name}.c", out / f"{name}.o")
                for kind, name in (("safe", "xdp_ipv4_options"), ("unsafe", "pkt_off_by_one"),
                                   ("safe", "loop_packet_sum"))}
    except CompileError as exc:  # pragma: no cover - compiler present but broken
        pytest.skip(str(exc))


def run(*args):
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def test_a_safe_program(objects):
    result = run(objects["xdp_ipv4_options"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Verification succeeded")
    assert "Program terminates within" in result.output


def test_an_unsafe_program_exits_1_with_the_report(objects):
    result = run(objects["pkt_off_by_one"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "Verification failed"
    assert "Upper bound must be at most 14" in lines[1]
    assert "pkt_off_by_one.c:10" in result.output and "ip->ttl" in result.output
    assert "hint: add a bounds check against data_end" in result.output


def test_verbose_prints_invariants_and_statistics(objects):
    result = run(objects["loop_packet_sum"], "-v")
    assert result.exit_code == 0
    assert "Pre-invariant : [r1: context pointer" in result.output
    assert "Post-invariant" in result.output
    assert "Loop at pc" in result.output and "runs at most 16 iterations" in result.output
    assert "basic blocks" in result.output and "packet_access" in result.output


def test_json(objects):
    result = run(objects["pkt_off_by_one"], "--json")
    data = json.loads(result.output)
    (prog,) = data["programs"]
    assert prog["ok"] is False and prog["errors"][0]["check"] == "packet_bounds"
    assert prog["errors"][0]["source"]["line"] == 10


def test_section_selection_and_type_override(objects):
    assert run(objects["xdp_ipv4_options"], "xdp").exit_code == 0
    result = run(objects["xdp_ipv4_options"], "nosuch")
    assert result.exit_code != 0 and "no program or section named 'nosuch'" in result.output
    # as a cgroup_skb program the XDP context offsets mean other fields: rejected
    result = run(objects["xdp_ipv4_options"], "--type", "cgroup_skb")
    assert result.exit_code == 1 and "Verification failed" in result.output


def test_not_an_object(tmp_path):
    bad = tmp_path / "x.o"
    bad.write_bytes(b"not an elf file")
    result = run(bad)
    assert result.exit_code != 0
    assert "ELF" in str(result.exception) or "ELF" in result.output
