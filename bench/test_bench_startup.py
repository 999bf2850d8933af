"""Start-up: wall time of ``ebpflite --help`` and ``ebpflite sections X`` in a fresh interpreter.

Run with ``pytest bench/test_bench_startup.py --benchmark-only``. Goal: under
200 ms of import time for both (bpftool answers in milliseconds); the
structural guard (no numpy/verifier/JIT for ``--help``) is
tests/cli/test_cli_startup.py. Each round starts a new Python process, so the
figure includes the interpreter's own start (about 20 ms), as a user sees it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIREWALL = Path(__file__).resolve().parents[1] / "examples" / "xdp_firewall" / "firewall.c"
RUN = "import sys; from ebpflite.cli import main; sys.argv = ['ebpflite', *sys.argv[1:]]; main()"


@pytest.fixture(scope="module")
def firewall(tmp_path_factory) -> Path:
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    try:
        return compile_c(FIREWALL, tmp_path_factory.mktemp("startup") / "firewall.o")
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


def _cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, check=True).stdout


def test_help(benchmark):
    out = benchmark.pedantic(_cli, args=("--help",), rounds=5, iterations=1)
    assert "sections" in out and "xdp" in out


def test_sections(benchmark, firewall):
    out = benchmark.pedantic(_cli, args=("sections", str(firewall)), rounds=5, iterations=1)
    assert "xdp_firewall" in out
