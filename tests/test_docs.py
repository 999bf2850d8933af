"""Every example in docs/ runs here, so the documentation cannot go stale.

How a page is run (one test per page, blocks in order, in a fresh directory
that has ``examples/`` linked in, so relative paths in the docs work):

- `````python`` blocks are executed in one namespace per page (like a doctest
  session); an exception fails the test, naming the page and the block's line.
- `````console`` blocks: lines starting with ``$ `` are commands; the lines
  after a command are output it must print (each, whitespace-normalised, must
  appear in its output; a line ``...`` stands for anything). `````sh`` blocks:
  every line that is not a comment is a command. Commands must be
  ``ebpflite ...`` or ``python -m pytest ...``; each must exit 0.
- A block preceded by ``<!-- doc-test: file NAME -->`` is written to NAME
  (source code a later command compiles, a test file pytest runs).
- ``<!-- doc-test: skip REASON -->`` before a block keeps it from running;
  ``<!-- doc-test: exit N -->`` says its commands exit with status N.

The generated pages (cli.md, verifier.md) are also regenerated and compared,
and every check name the verifier can report must have an example.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
RUNNABLE = {"python", "console", "sh", "shell", "bash"}
MARKER = re.compile(r"<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->")
FENCE = re.compile(r"^(`{3,})(\S*)[^\n]*$")
COMMAND_TIMEOUT = 300


@dataclass
class Block:
    """One fenced code block of a page and the doc-test markers just before it."""

    page: str
    line: int
    lang: str
    text: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page; a marker applies to the block right after it."""
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    pending: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        marker = MARKER.fullmatch(lines[i].strip())
        if marker:
            pending[marker.group(1)] = marker.group(2)
        elif m:
            fence, lang = m.group(1), m.group(2).lower()
            body: list[str] = []
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].startswith(fence):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise AssertionError(f"{path.name}:{start}: code block never closed")
            blocks.append(Block(path.name, start, lang, "\n".join(body) + "\n", pending))
            pending = {}
        elif lines[i].strip():
            pending = {}  # a marker must sit right before its block (blank lines allowed)
        i += 1
    return blocks


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` pairs of a console or shell block."""
    out: list[tuple[str, list[str]]] = []
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if block.lang == "console":
            if line.startswith("$ "):
                out.append((line[2:].strip(), []))
            elif out and line:
                out[-1][1].append(line)
            elif line:
                raise AssertionError(f"{block.where}: output line before any command: {line!r}")
        elif line.strip() and not line.lstrip().startswith("#"):
            out.append((line.strip(), []))
    return out


def _argv(command: str, where: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] == "ebpflite":
        exe = shutil.which("ebpflite", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                             os.environ.get("PATH", "")]))
        if exe is None:
            pytest.skip("the ebpflite command is not installed (pip install -e .)")
        return [exe, *argv[1:]]
    if argv[:3] == ["python", "-m", "pytest"]:
        return [sys.executable, "-m", "pytest", *argv[3:], "-p", "no:cacheprovider"]
    raise AssertionError(f"{where}: documented commands must be `ebpflite ...` or `python -m pytest ...`, "
                         f"not {command!r}")


def _normal(text: str) -> str:
    return " ".join(text.split())


def run_command(command: str, expected: list[str], block: Block, cwd: Path) -> None:
    argv = _argv(command, block.where)
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=COMMAND_TIMEOUT)
    output = proc.stdout + proc.stderr
    status = int(block.markers.get("exit", "0") or 0)
    assert proc.returncode == status, (f"{block.where}: `{command}` exited {proc.returncode} "
                                       f"(expected {status}):\n{output}")
    normal = _normal(output)
    for line in expected:
        if line.strip() == "...":
            continue
        assert _normal(line) in normal, (f"{block.where}: `{command}` did not print {line.strip()!r}; "
                                         f"it printed:\n{output}")


def run_page(page: Path, cwd: Path) -> tuple[int, int]:
    """Run every runnable block of ``page`` in ``cwd``; (executed, skipped) counts."""
    (cwd / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    executed = skipped = 0
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for block in parse(page):
            if "file" in block.markers:
                name = block.markers["file"]
                assert name and "/" not in name, f"{block.where}: bad file name {name!r}"
                (cwd / name).write_text(block.text)
                continue
            if block.lang not in RUNNABLE:
                continue
            if "skip" in block.markers:
                assert block.markers["skip"], f"{block.where}: say why the block is skipped"
                skipped += 1
                continue
            if block.lang == "python":
                code = compile("\n" * block.line + block.text, str(page), "exec")
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(code, namespace)  # noqa: S102 - the docs' own examples
            else:
                for command, expected in commands(block):
                    run_command(command, expected, block, cwd)
            executed += 1
    finally:
        os.chdir(old)
    return executed, skipped


def _have_compiler() -> bool:
    from ebpflite.loader.cc import find_compilers

    return bool(find_compilers())


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    text = page.read_text()
    if ("ebpflite cc " in text or "compile_c(" in text) and not _have_compiler():
        pytest.skip(f"{page.name} compiles C: no eBPF C compiler (pip install ziglang, or install clang)")
    executed, skipped = run_page(page, tmp_path)
    print(f"{page.name}: {executed} blocks executed, {skipped} skipped")


# --- the harness itself must be able to fail --------------------------------------------------


def _page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text)
    (tmp_path / "run").mkdir()
    return path


def test_failing_python_block_fails(tmp_path: Path) -> None:
    page = _page(tmp_path, "```python\nassert 1 + 1 == 3\n```\n")
    with pytest.raises(AssertionError):
        run_page(page, tmp_path / "run")


def test_wrong_expected_output_fails(tmp_path: Path) -> None:
    page = _page(tmp_path, "```console\n$ ebpflite --version\nversion 99.99\n```\n")
    with pytest.raises(AssertionError, match="did not print 'version 99.99'"):
        run_page(page, tmp_path / "run")


def test_non_zero_exit_fails_unless_marked(tmp_path: Path) -> None:
    text = "```console\n$ ebpflite run missing.s\n```\n"
    with pytest.raises(AssertionError, match="exited 2"):
        run_page(_page(tmp_path, text), tmp_path / "run")
    page = tmp_path / "marked.md"
    page.write_text("<!-- doc-test: exit 2 -->\n" + text)
    (tmp_path / "run2").mkdir()
    assert run_page(page, tmp_path / "run2") == (1, 0)


def test_other_commands_are_refused(tmp_path: Path) -> None:
    page = _page(tmp_path, "```sh\nrm -rf /\n```\n")
    with pytest.raises(AssertionError, match="must be `ebpflite ...`"):
        run_page(page, tmp_path / "run")


def test_file_and_skip_markers(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- doc-test: file a.s -->\n```asm\nr0 = 7\nexit\n```\n\n"
                           "```console\n$ ebpflite run a.s\nr0 = 0x7 (7)\n```\n\n"
                           "<!-- doc-test: skip needs a kernel -->\n```sh\nsudo bpftool prog list\n```\n")
    assert run_page(page, tmp_path / "run") == (1, 1)


# --- generated pages ------------------------------------------------------------------------------


def _generator(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["gen_cli", "gen_verifier"])
def test_generated_page_is_current(name: str) -> None:
    gen = _generator(name)
    assert gen.OUT.read_text() == gen.render(), f"{gen.OUT.name} is stale: run python docs/{name}.py"


def test_every_cli_command_is_in_the_reference() -> None:
    from ebpflite.cli import cli

    text = (DOCS / "cli.md").read_text()
    for name, command in cli.commands.items():
        assert f"## `ebpflite {name}`" in text
        for sub in getattr(command, "commands", {}):
            assert f"## `ebpflite {name} {sub}`" in text


def test_each_verifier_example_trips_its_own_check() -> None:
    gen = _generator("gen_verifier")
    wrong = {e.check: gen.first_check(gen.run(e)) for e in gen.EXAMPLES}
    wrong = {k: v for k, v in wrong.items() if k != v}
    assert not wrong, f"examples that now fail another check (check -> got): {wrong}"


def test_every_verifier_check_has_an_example() -> None:
    gen = _generator("gen_verifier")
    source = "\n".join(p.read_text() for p in (ROOT / "verifier").glob("*.py"))
    checks = set(re.findall(r"\bfail\(\s*[^,()]+,\s*\"(\w+)\"", source))
    checks |= set(re.findall(r"\bcheck=\"(\w+)\"", source))
    assert len(checks) > 10, "the verifier's check names were not found: update this test"
    documented = {e.check for e in gen.EXAMPLES} | set(gen.NOT_SHOWN)
    assert checks - documented == set(), "verifier checks without an example in docs/gen_verifier.py"


def test_comparison_counts_match_the_code() -> None:
    """The numbers docs/comparison.md quotes about ebpflite come from the code."""
    from ebpflite.helpers.maps import TYPES

    text = (DOCS / "comparison.md").read_text()
    assert f"| {len(TYPES)} types in the process" in text, "update the map type count in comparison.md"
    conformance = ROOT / "tests" / "test_conformance.py"
    count = re.search(r"assert len\(TESTS\) == (\d+)", conformance.read_text())
    assert count and f"all {count.group(1)} tests" in text, "update the conformance count in comparison.md"
