"""``ebpflite run`` and ``ebpflite conformance-plugin`` (the suite runner's protocol)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.errors import (
    AssemblerError,
    BudgetExceeded,
    DecodeError,
    EngineMismatch,
    MemoryFault,
    VerifierError,
)
from ebpflite.vm.insn import encode, make
from ebpflite.vm.isa import BY_NAME

SUITE = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance").resolve()

# r0 = *(u32 *)(r1 + 0) + r2   (memory word plus memory length)
ADD_REG = next(s for s in BY_NAME["add"] if s.source == "X")
PROGRAM = encode([make("ldxw", dst=0, src=1), make(ADD_REG, dst=0, src=2), make("exit")])


def _program(tmp_path: Path, code: bytes, name: str = "prog.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(code)
    return path


def _invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=True)


def test_run_prints_r0_in_hex_and_decimal(tmp_path: Path):
    prog = _program(tmp_path, PROGRAM)
    mem = tmp_path / "mem.hex"
    mem.write_text("2a 00\n00 00\n")
    result = _invoke("run", str(prog), "--mem", str(mem))
    assert result.exit_code == 0, result.output
    assert "r0 = 0x2e (46)" in result.output  # 42 + 4 bytes
    assert "instructions executed: 3" in result.output


def test_run_json_and_trace(tmp_path: Path):
    prog = _program(tmp_path, encode([make("mov", dst=0, imm=7), make("exit", pc=1)]))
    result = _invoke("run", str(prog), "--json", "--trace")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["r0"] == 7 and data["r0_hex"] == "0x7" and data["insns_executed"] == 2
    assert [e["pc"] for e in data["trace"]] == [0, 1] and data["trace"][0]["changed"] == {"r0": 7}
    text = _invoke("run", str(prog), "--trace").output
    assert "r0=0x7" in text.splitlines()[0]


def test_run_assembly_file(tmp_path: Path):
    source = tmp_path / "prog.s"
    source.write_text("mov %r0, 40\nadd %r0, 2\nexit\n")
    result = _invoke("run", str(source))
    assert result.exit_code == 0, result.output
    assert "r0 = 0x2a (42)" in result.output


def test_run_reports_errors_as_typed_exceptions(tmp_path: Path):
    # r0 = 0; while (r0 == 0); exit: every instruction reachable (the kernel refuses dead code)
    loop = _program(tmp_path, encode([make("mov", dst=0, imm=0), make("jeq", dst=0, imm=0, off=-1, pc=1),
                                      make("exit", pc=2)]))
    result = _invoke("run", str(loop), "--budget", "50")  # verified by default: rejected before it runs
    assert isinstance(result.exception, VerifierError) and "may never end" in str(result.exception)
    result = _invoke("run", str(loop), "--budget", "50", "--no-verify")
    assert isinstance(result.exception, BudgetExceeded)
    assert "budget of 50" in str(result.exception)
    fault = _program(tmp_path, encode([make("ldxw", dst=0, src=1), make("exit", pc=1)]), "fault.bin")
    assert isinstance(_invoke("run", str(fault)).exception, VerifierError)  # r1 is 0 without --mem
    result = _invoke("run", str(fault), "--trace", "--no-verify")
    assert isinstance(result.exception, MemoryFault)
    assert result.output.split()[:2] == ["0:", "r0"]  # the trace up to the fault
    bad = _program(tmp_path, b"\xff" * 8, "bad.bin")
    assert isinstance(_invoke("run", str(bad)).exception, DecodeError)


def test_run_rejects_bad_inputs_clearly(tmp_path: Path):
    prog = _program(tmp_path, PROGRAM)
    mem = tmp_path / "mem.hex"
    mem.write_text("zz")
    result = _invoke("run", str(prog), "--mem", str(mem))
    assert result.exit_code == 2 and "is not hex bytes" in result.output
    elf = _program(tmp_path, b"\x7fELF" + bytes(60), "x.o")
    result = _invoke("run", str(elf))
    assert result.exit_code == 2 and "is an ELF object file" in result.output
    result = _invoke("run", str(prog), "--engine", "jit", "--trace")
    assert result.exit_code == 2 and "--trace needs the interpreter" in result.output


def _jit_missing() -> bool:
    try:
        import ebpflite.jit.compiler  # noqa: F401
    except ImportError:
        return True
    return False


def test_both_engines_needs_the_jit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ebpflite.jit.compiler", None)  # as if the JIT were not installed
    result = _invoke("run", str(_program(tmp_path, PROGRAM)), "--engine", "both")
    assert result.exit_code == 1 and "the JIT engine is not available" in result.output
    result = _invoke("conformance-plugin", "--engine", "jit", input="95 00 00 00 00 00 00 00")
    assert result.exit_code == 1 and "the JIT engine is not available" in result.output


@pytest.mark.skipif(_jit_missing(), reason="the JIT (ebpflite.jit.compiler) is not available")
def test_both_engines_agree(tmp_path: Path):
    mem = tmp_path / "mem.hex"
    mem.write_text("01 02 03 04")
    result = _invoke("run", str(_program(tmp_path, PROGRAM)), "--engine", "both", "--mem", str(mem))
    assert result.exit_code == 0, result.output
    assert "r0 = 0x4030205" in result.output


# --- the plugin protocol ----------------------------------------------------------------------


def test_plugin_in_process():
    result = _invoke("conformance-plugin", "2a  00  00  00  ", input="61 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00")
    assert result.exit_code == 0 and result.output.strip() == "0x2a"
    result = _invoke("conformance-plugin", input="zz")
    assert result.exit_code == 2 and "invalid hex input" in result.output
    result = _invoke("conformance-plugin", input="95 00")
    assert result.exit_code == 1 and "not a multiple of 8 bytes" in result.output


def _suite_case(name: str) -> tuple[str, str, int]:
    """(memory argument, program on stdin, expected r0) in the runner's two-digits-and-spaces form."""
    case = json.loads((SUITE / "assembled.json").read_text())[name]
    spaced = lambda hexstr: "".join(f"{hexstr[i:i + 2]}  " for i in range(0, len(hexstr), 2))  # noqa: E731
    return spaced(case["mem"]), spaced(case["prog"]), case["result"]


def _plugin(*args: str, stdin: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from ebpflite.cli import main; main()", "conformance-plugin", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not (SUITE / "assembled.json").is_file(), reason=f"conformance suite not found at {SUITE}")
@pytest.mark.parametrize("name", ["ldxh", "mem-len", "callx", "rfc9669_sdiv64", "lddw"])
def test_plugin_protocol_as_a_subprocess(name: str):
    mem, prog, expected = _suite_case(name)
    proc = _plugin(*([mem] if mem else []), stdin=prog)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip(), 16) == expected


def test_plugin_reports_failures_on_stderr_with_nonzero_status():
    # ldxw from address 0: no memory there
    proc = _plugin(stdin="61 10 00 00 00 00 00 00  95 00 00 00 00 00 00 00")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "invalid read of 4 bytes at 0x0" in proc.stderr


class _SkewedEngine:
    """A stand-in JIT that gets r0 (or the memory) wrong, to exercise --engine both."""

    def __init__(self, program, env, what: str):
        from ebpflite.vm.interp import Interpreter

        self.inner, self.env, self.what = Interpreter(program, env), env, what

    def run(self, r1=0, r2=0, r3=0, r4=0, r5=0):
        result = self.inner.run(r1, r2, r3, r4, r5)
        if self.what == "r0":
            result.r0 += 1
        else:
            self.env.memory.write_bytes(r1 + 2, b"\x99")
        return result


@pytest.mark.parametrize(("what", "message"), [("r0", "r0 differs: interpreter 0x4030205, JIT 0x4030206"),
                                               ("mem", "memory differs first at offset 2")])
def test_both_engines_report_the_first_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what, message):
    from ebpflite.runtime import engines

    real_create = engines.create
    monkeypatch.setattr(engines, "create", lambda name, program, env=None, **options: (
        _SkewedEngine(program, env, what) if name == "jit" else real_create(name, program, env, **options)))
    monkeypatch.setitem(sys.modules, "ebpflite.jit.compiler", sys.modules[__name__])  # "available"
    mem = tmp_path / "mem.hex"
    mem.write_text("01 02 03 04")
    result = _invoke("run", str(_program(tmp_path, PROGRAM)), "--engine", "both", "--mem", str(mem))
    assert isinstance(result.exception, EngineMismatch)
    assert message in str(result.exception)


def test_run_reads_hex_text_as_the_loader_does(tmp_path: Path):
    """Any format ebpflite.loader.load_program reads: here the suite's hex bytes."""
    hex_text = tmp_path / "prog.txt"
    hex_text.write_text("".join(PROGRAM[i:i + 8].hex(" ") + "\n" for i in range(0, len(PROGRAM), 8)))
    mem = tmp_path / "mem.hex"
    mem.write_text("2a 00 00 00")
    result = _invoke("run", str(hex_text), "--mem", str(mem))
    assert result.exit_code == 0, result.output
    assert "r0 = 0x2e (46)" in result.output


def test_run_assembly_that_is_not_text_is_one_clear_error(tmp_path: Path):
    source = tmp_path / "prog.s"
    source.write_bytes(b"r0 = 1\n\xff\nexit\n")
    result = _invoke("run", str(source))
    assert isinstance(result.exception, AssemblerError)  # main() prints it as one line, exit status 1
    assert str(result.exception).endswith("prog.s is not a text file (invalid start byte at byte 7), "
                                          "so it cannot be assembly")
