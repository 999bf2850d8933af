"""The examples/ folder stays working: each example's own pytest suite passes, and every
command and Python snippet examples/README.md shows runs.

The suites run in a subprocess each (a fresh pytest session rooted at the
repository, as a user runs them), so their fixtures, module names and
parametrisation are exactly what ``python -m pytest examples/...`` sees.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
README = EXAMPLES / "README.md"
SUITES = {"xdp_firewall": "firewall.c", "xdp_loadbalancer": "lb.c", "bind_policy": "bind.c",
          "tracing_ringbuf": "trace.c", "tc_nat": "nat.c"}


def _needs_compiler() -> None:
    from ebpflite.loader.cc import find_compilers

    if not find_compilers():
        pytest.skip("no eBPF C compiler (pip install ebpflite[cc] or install clang)")


def _outcomes(output: str) -> dict[str, int]:
    """``{"passed": 40, "skipped": 1, ...}`` from pytest's summary line."""
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)",
                                                   summary)}


@pytest.mark.parametrize("example", sorted(SUITES))
def test_example_suite_passes_on_both_engines(example, tmp_path):
    _needs_compiler()
    folder = EXAMPLES / example
    assert (folder / SUITES[example]).is_file()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(folder), "-rfEs", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "pt"), "--ebpf-cache-dir", str(tmp_path / "cache"),
                           "-v"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    counts = _outcomes(proc.stdout)
    assert proc.returncode == 0 and not counts.get("failed") and not counts.get("error") \
        and not counts.get("errors"), output[-6000:]
    assert counts.get("passed", 0) > 0, output[-2000:]
    # written once, run on each engine (unless llvmlite is missing, when jit skips)
    assert "[interp" in proc.stdout
    if "llvmlite" not in output:
        assert "[jit" in proc.stdout


def _readme_commands() -> list[str]:
    """The shell lines of the README blocks that follow the example-commands marker,
    up to the Python section (the kernel section needs root and is not run)."""
    text = README.read_text()
    start = text.index("<!-- example-commands")
    end = text.index("## Use them from Python")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S):
        lines.extend(line for line in block.splitlines() if line.strip())
    return lines


def test_readme_lists_every_example():
    text = README.read_text()
    for example, source in SUITES.items():
        assert f"({example}/)" in text, f"examples/README.md does not link {example}"
        assert f"examples/{example}/{source}" in text, f"examples/README.md has no command for {source}"


def test_readme_commands_run(tmp_path):
    _needs_compiler()
    commands = _readme_commands()
    assert any(c.startswith("ebpflite xdp") for c in commands)
    # the ``ebpflite`` installed beside this Python, whether or not its venv is activated
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in commands:
        command = command.replace("/tmp/", f"{tmp_path}/")
        proc = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=300,
                              env=env)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        if shlex.split(command)[:2] == ["ebpflite", "bind"]:
            assert "BIND_PERMIT_SOFT" in proc.stdout
        if shlex.split(command)[:2] == ["ebpflite", "xdp"]:
            assert "XDP_PASS" in proc.stdout and "3000" in proc.stdout
        if shlex.split(command)[:2] == ["ebpflite", "tc"]:
            assert "TC_ACT_OK" in proc.stdout and "TC_ACT_SHOT" in proc.stdout and "3000" in proc.stdout
    assert (tmp_path / "passed.pcap").stat().st_size > 0
    assert (tmp_path / "natted.pcap").stat().st_size > 0


def test_readme_python_snippet_runs(tmp_path):
    _needs_compiler()
    from ebpflite.loader.cc import compile_c

    text = README.read_text()
    snippet = re.search(r"## Use them from Python\n+```python\n(.*?)```", text, flags=re.S).group(1)
    obj = compile_c(EXAMPLES / "xdp_firewall" / "firewall.c", tmp_path / "firewall.o")
    code = snippet.replace("/tmp/firewall.o", str(obj))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "XDP_DROP"
