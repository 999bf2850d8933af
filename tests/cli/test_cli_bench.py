"""``ebpflite bench``: rows per engine, the kernel and native C rows, and every bad input's message.

Runs are kept tiny (-n 3 to 20); nothing here asserts on a time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import bench as benchmod
from ebpflite.cli import cli
from ebpflite.vm.insn import encode, make

ROOT = Path(__file__).resolve().parents[2]
XDP_SOURCE = ROOT / "bench" / "progs" / "xdp_verdict.c"
CAPTURE = ROOT / "examples" / "data" / "sample.pcap"


def invoke(*args: str):
    return CliRunner().invoke(cli, ["bench", *map(str, args)])


@pytest.fixture()
def raw_prog(tmp_path) -> Path:
    """r0 = r2 + 7: the input length plus 7, so each row's r0 shows it saw the input."""
    path = tmp_path / "plus7.bin"
    path.write_bytes(encode([make("mov", dst=0, imm=7), _add_reg(0, 2), make("exit")]))
    return path


def _add_reg(dst: int, src: int):
    return make("add", dst=dst, src=src)


@pytest.fixture()
def mem_file(tmp_path) -> Path:
    path = tmp_path / "mem.hex"
    path.write_text("00 01 02 03\n04 05\n")
    return path


@pytest.fixture(scope="module")
def xdp_object(tmp_path_factory, ebpf_cache_dir) -> Path:
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    try:
        return compile_c(XDP_SOURCE, tmp_path_factory.mktemp("bench") / "xdp_verdict.o", cache_dir=ebpf_cache_dir / "cc")
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


def rows(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {row["engine"]: row for row in json.loads(result.output)["results"]}


# --- what it measures ---------------------------------------------------------------------------


def test_raw_program_interp_row(raw_prog, mem_file):
    out = rows(invoke(raw_prog, "--mem", mem_file, "-n", "5", "--engine", "interp", "--json"))
    assert set(out) == {"interp"}
    row = out["interp"]
    assert row["available"] and row["r0"] == 6 + 7 and row["runs"] == 5
    assert row["runs_per_s"] == pytest.approx(1e9 / row["ns_per_run"])


def test_both_engines_agree(raw_prog, mem_file):
    out = rows(invoke(raw_prog, "--mem", mem_file, "-n", "3", "--json"))
    assert set(out) == {"interp", "jit"}
    if out["jit"]["available"]:
        assert out["jit"]["r0"] == out["interp"]["r0"] == 13
    else:
        assert "JIT" in out["jit"]["note"]


def test_table_output(raw_prog, mem_file):
    result = invoke(raw_prog, "--mem", mem_file, "-n", "3", "--engine", "interp")
    assert result.exit_code == 0, result.output
    assert "time/run" in result.output and "runs/s" in result.output and "interp" in result.output


def test_kernel_row_for_raw_bytecode_says_why(raw_prog, mem_file):
    out = rows(invoke(raw_prog, "--mem", mem_file, "-n", "3", "--engine", "all", "--json"))
    assert not out["kernel"]["available"]
    assert "bpftool loads object files only" in out["kernel"]["note"]


def test_data_in_is_raw_bytes(raw_prog, tmp_path):
    data = tmp_path / "in.bin"
    data.write_bytes(bytes(100))
    assert rows(invoke(raw_prog, "--data-in", data, "-n", "3", "--engine", "interp", "--json"))["interp"]["r0"] == 107


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_native_row(raw_prog, mem_file, tmp_path):
    source = tmp_path / "plus7.c"
    source.write_text("unsigned long long plus7(unsigned char *mem, unsigned long long len) { return len + 7; }\n")
    out = rows(invoke(raw_prog, "--mem", mem_file, "-n", "20", "--engine", "interp", "--c", source, "--json"))
    assert out["native C"]["available"] and out["native C"]["r0"] == out["interp"]["r0"] == 13


def test_xdp_object_over_capture(xdp_object):
    out = rows(invoke(xdp_object, "--pcap", CAPTURE, "-n", "20", "--engine", "all", "--json"))
    assert out["interp"]["available"] and out["interp"]["r0"] in (1, 2)
    if out["jit"]["available"]:
        assert out["jit (batch)"]["available"] and out["jit (batch)"]["runs"] >= 20
    reason = benchmod.kernel_unavailable()
    if reason is None:
        assert out["kernel"]["available"], out["kernel"]["note"]
        assert out["kernel"]["r0"] in (1, 2)
    else:
        assert out["kernel"]["note"] == reason


def test_parse_bpftool_output():
    text = "Return value: 2, duration (average): 31ns\nnoise\nReturn value: 1, duration (average): 1500ns\n"
    assert benchmod._parse_bpftool_runs(text) == [(2, 31.0), (1, 1500.0)]


def test_runs_spread_over_inputs():
    assert benchmod._spread(5, [b"a", b"b"]) == [(b"a", 3), (b"b", 2)]
    assert benchmod._spread(1, [b"a", b"b"]) == [(b"a", 1)]


# --- bad input: each gives a clear message -------------------------------------------------------


def test_two_inputs_refused(raw_prog, mem_file):
    result = invoke(raw_prog, "--mem", mem_file, "--data-in", mem_file)
    assert result.exit_code == 2 and "give one input, not --mem and --data-in" in result.output


def test_bad_hex(raw_prog, tmp_path):
    bad = tmp_path / "bad.hex"
    bad.write_text("zz 01")
    result = invoke(raw_prog, "--mem", bad)
    assert result.exit_code == 2 and "is not hex bytes" in result.output


def test_prog_on_raw_bytecode(raw_prog):
    result = invoke(raw_prog, "--prog", "main")
    assert result.exit_code == 2 and "--prog selects a program of an object file" in result.output


def test_zero_runs(raw_prog):
    result = invoke(raw_prog, "-n", "0")
    assert result.exit_code == 2 and "-n" in result.output


def test_bad_bytecode(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(b"\x01\x02\x03")
    result = invoke(path)
    assert result.exit_code == 1
    assert "is not a multiple of 8 bytes" in str(result.exception)


def test_empty_capture(raw_prog, tmp_path):
    from ebpflite.helpers.pcap import write_pcap

    empty = tmp_path / "empty.pcap"
    write_pcap(empty, [])
    result = invoke(raw_prog, "--pcap", empty)
    assert result.exit_code == 2 and "holds no packets" in result.output


def test_xdp_needs_a_packet(xdp_object):
    result = invoke(xdp_object, "-n", "3")
    assert result.exit_code == 2 and "an XDP program needs a packet" in result.output


def test_xdp_packet_too_short(xdp_object, tmp_path):
    short = tmp_path / "short.bin"
    short.write_bytes(bytes(10))
    result = invoke(xdp_object, "--data-in", short, "-n", "3")
    assert result.exit_code == 2 and "at least 14 bytes" in result.output


def test_unknown_program_name(xdp_object):
    result = invoke(xdp_object, "--prog", "nope", "--data-in", CAPTURE)
    assert result.exit_code == 2 and "has no program 'nope'; it has xdp_verdict" in result.output


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_native_source_without_the_function(raw_prog, mem_file, tmp_path):
    source = tmp_path / "other.c"
    source.write_text("int unrelated(void) { return 0; }\n")
    result = invoke(raw_prog, "--mem", mem_file, "-n", "3", "--engine", "interp", "--c", source)
    assert result.exit_code == 1
    assert "could not build" in result.output and "u64 plus7(u8 *mem, u64 len)" in result.output


def test_batch_row_goes_through_the_replay_path(tmp_path, ebpf_cache_dir):
    """The batch row uses the replay's batch-safety check: a program whose helper needs
    per-packet state gets no batch figure, and the row says why."""
    from ebpflite.pytest_plugin import make_compiler

    obj = make_compiler(ebpf_cache_dir, tmp_path)(
        '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
        'static long step(__u32 i, void *ctx) { return 0; }\n'
        'SEC("xdp") int hop(struct xdp_md *ctx) { bpf_loop(2, step, 0, 0); return 2; }\n'
        'char _l[] SEC("license") = "GPL";\n', name="hop")
    out = rows(invoke(obj, "--pcap", CAPTURE, "-n", "20", "--engine", "jit", "--json"))
    assert out["jit"]["available"], out["jit"]["note"]
    batch = out["jit (batch)"]
    assert not batch["available"]
    assert batch["note"].startswith("batch replay is not possible: instruction")
    assert batch["note"].endswith("uses bpf_loop, which needs per-packet state")
