"""The pytest plugin (entry point ``pytest11: ebpflite``): fixtures for testing eBPF programs.

A test written once runs on every engine::

    def test_drops_blocked_source(ebpf_load):
        obj = ebpf_load("firewall.c")                 # compiled once, cached
        obj.maps["blocklist"][ip_key] = 1
        res = obj.programs["xdp_fw"].run(packet=Ether() / IPv4(src="10.0.0.9") / UDP())
        assert_action(res, "XDP_DROP")

``ebpf_load`` depends on ``ebpf_engine``, which this plugin parametrises over
``interp`` and ``jit`` (``test_x[interp]``, ``test_x[jit]``; jit is skipped
only where llvmlite is missing). ``ebpf_both`` runs each call on both engines
and fails if they disagree. Options: ``--ebpf-engine NAME`` (repeatable) to
pick engines, ``--ebpf-cache-dir`` for compiled objects, ``--ebpf-trace`` to
record instruction traces and show the last instructions on failures.

The assertions live in :mod:`ebpflite.testing`; the packet builders in
:mod:`ebpflite.packets`.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ebpflite.packets import Frame
from ebpflite.testing import TestObject, TestResult, engine_differences, format_frame_comparison

ENGINES = ("interp", "jit")

#: how to recognise "no compiler here" in a CompileError (skip) from a real compile error (fail)
_NO_COMPILER = ("no C compiler for eBPF found", "is not available")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ebpflite", "ebpflite: testing eBPF programs")
    group.addoption("--ebpf-engine", action="append", choices=ENGINES, default=None, dest="ebpf_engines",
                    help="run tests that use ebpf_engine/ebpf_load on this engine only (repeatable; "
                         "default: interp and jit)")
    group.addoption("--ebpf-cache-dir", default=None, dest="ebpf_cache_dir",
                    help="where ebpf_compile keeps compiled objects (default: $EBPFLITE_CACHE_DIR or "
                         "<tmp>/ebpflite-cache-<uid>)")
    group.addoption("--ebpf-trace", action="store_true", default=False, dest="ebpf_trace",
                    help="record instruction traces; failing assertions show the instructions before the exit")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ebpf_engines(*names): run this test only on the named engines")


def _selected_engines(metafunc: pytest.Metafunc) -> list[str]:
    engines = list(metafunc.config.getoption("ebpf_engines", None) or ENGINES)
    marker = metafunc.definition.get_closest_marker("ebpf_engines")
    if marker is not None:
        unknown = [e for e in marker.args if e not in ENGINES]
        if unknown:
            raise pytest.UsageError(f"ebpf_engines marker names unknown engine(s) {unknown}; "
                                    f"choose from {', '.join(ENGINES)}")
        engines = [e for e in engines if e in marker.args]
    return engines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that (directly or through ebpf_load) uses ebpf_engine."""
    if "ebpf_engine" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "ebpf_engine" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test chose its engines itself
    engines = _selected_engines(metafunc)
    metafunc.parametrize("ebpf_engine", engines, indirect=True, ids=engines)


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> list[str] | None:
    """``assert frame == expected`` explains the difference field by field."""
    packetish = (Frame, bytes, bytearray)
    if op == "==" and (isinstance(left, Frame) or isinstance(right, Frame)) \
            and isinstance(left, packetish) and isinstance(right, packetish):
        return format_frame_comparison(left, right) or None
    return None


# --- fixtures ---------------------------------------------------------------------------


def _require_engine(name: str) -> str:
    if name == "jit":
        pytest.importorskip("llvmlite", reason="the jit engine needs llvmlite (pip install llvmlite)")
    elif name not in ENGINES:
        raise pytest.UsageError(f"unknown ebpf engine {name!r}; choose from {', '.join(ENGINES)}")
    return name


@pytest.fixture
def ebpf_engine(request: pytest.FixtureRequest) -> str:
    """The engine this test instance runs on: ``"interp"`` or ``"jit"``."""
    return _require_engine(getattr(request, "param", "interp"))


@pytest.fixture(scope="session")
def ebpf_cache_dir(pytestconfig: pytest.Config) -> Path:
    """Compiled objects, keyed by a hash of source, headers and command (safe to share)."""
    chosen = pytestconfig.getoption("ebpf_cache_dir", None) or os.environ.get("EBPFLITE_CACHE_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    path = Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"ebpflite-cache-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _resolve(source: str | os.PathLike, base: Path) -> Path | None:
    """A path to an existing file, relative to the cwd or to the test's directory."""
    text = os.fspath(source)
    if not isinstance(source, os.PathLike) and ("\n" in text or not text.endswith((".c", ".o"))):
        return None  # C source text
    for candidate in (Path(text), base / text):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{text}: no such file (looked in {Path.cwd()} and {base})")


def make_compiler(cache_dir: Path, base: Path) -> Callable[..., Path]:
    """The function behind the ``ebpf_compile`` fixture (usable outside pytest too)."""

    def compile(source: str | os.PathLike, *, name: str | None = None, **cc_options: Any) -> Path:
        """An object file from ``source``: a ``.o`` path (returned as is), a ``.c`` path, or C text."""
        from ebpflite.errors import CompileError
        from ebpflite.loader.cc import compile_c

        path = _resolve(source, base)
        if path is not None and path.suffix != ".c":
            return path
        if path is None:
            text = os.fspath(source).encode()
            digest = hashlib.sha256(text).hexdigest()[:16]
            path = cache_dir / "src" / f"{name or 'prog'}-{digest}.c"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                path.write_bytes(text)
        out = cache_dir / "obj" / f"{name or path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}.o"
        try:
            return compile_c(path, out, cache_dir=cache_dir / "cc", **cc_options)
        except CompileError as exc:
            if any(marker in str(exc) for marker in _NO_COMPILER):
                pytest.skip(f"cannot compile {path.name}: {exc}")
            pytest.fail(str(exc), pytrace=False)

    return compile


@pytest.fixture
def ebpf_compile(ebpf_cache_dir: Path, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``ebpf_compile(source, name=None, **cc_options) -> Path``: compile C (path or text) with caching.

    Skips the test when no eBPF C compiler is installed; fails with the
    compiler's output when the source does not compile.
    """
    return make_compiler(ebpf_cache_dir, Path(request.path).parent)


def _accepted(function: Callable[..., Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The ``defaults`` that ``function`` takes as keyword arguments."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(defaults)
    return {k: v for k, v in defaults.items() if k in params}


def make_loader(engine: str, compile: Callable[..., Path], trace: bool = False,
                world: dict[str, Any] | None = None) -> Callable[..., TestObject]:
    """The function behind ``ebpf_load``: compile if needed, load on ``engine``, wrap for the assertions.

    ``world`` holds the defaults for the simulated world (``seed``, ``clock``,
    ``process``); each load gets its own copy, and explicit options win.
    """

    def load(source: str | os.PathLike | bytes, *, verify: bool = True, **options: Any) -> TestObject:
        import ebpflite

        runtime_load = ebpflite.load
        target: Any = source if isinstance(source, (bytes, bytearray)) else compile(source)
        options = {**_accepted(runtime_load, copy.deepcopy(world or {})), **options}
        obj = runtime_load(target, verify=verify, engine=engine, **options)
        label = "<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        return TestObject(obj, engine, label.splitlines()[0][:60] if label else "", trace=trace)

    return load


@pytest.fixture
def ebpf_seed() -> int:
    """The seed of bpf_get_prandom_u32 in programs loaded by the fixtures (override to change)."""
    return 0


@pytest.fixture
def ebpf_clock() -> Any:
    """The simulated clock of programs loaded by the fixtures: fixed at 1000 s of uptime,
    advancing 1 us per reading, so time-based logic is reproducible. Override or
    change ``fixed_ns``/``step_ns`` in a test."""
    from ebpflite.vm.world import Clock

    return Clock(fixed_ns=1_000 * 1_000_000_000, step_ns=1_000)


@pytest.fixture
def ebpf_process() -> Any:
    """The simulated current process the tracing helpers report (pid, uid, comm...)."""
    from ebpflite.vm.world import Process

    return Process()


@pytest.fixture
def ebpf_world(ebpf_seed: int, ebpf_clock: Any, ebpf_process: Any) -> dict[str, Any]:
    """The load options that make runs reproducible: seed, clock and process."""
    return {"seed": ebpf_seed, "clock": ebpf_clock, "process": ebpf_process}


@pytest.fixture
def ebpf_load(ebpf_engine: str, ebpf_compile: Callable[..., Path], ebpf_world: dict[str, Any],
              pytestconfig: pytest.Config) -> Callable[..., TestObject]:
    """``ebpf_load(source, verify=True, **options) -> TestObject`` on this test's engine.

    ``source`` is a ``.c`` or ``.o`` path (relative to the test file is fine),
    C source text, or object bytes; ``options`` go to ``ebpflite.load``. The
    simulated world (``ebpf_seed``, ``ebpf_clock``, ``ebpf_process``) is
    passed unless the options say otherwise.
    """
    return make_loader(ebpf_engine, ebpf_compile, bool(pytestconfig.getoption("ebpf_trace", False)), ebpf_world)


class BothPrograms:
    """One program loaded on every engine; ``run`` runs it on each and compares."""

    def __init__(self, name: str, programs: dict[str, Any]):
        self.name, self._programs = name, programs

    def run(self, **kwargs: Any) -> TestResult:
        results = {engine: prog.run(**kwargs) for engine, prog in self._programs.items()}
        problems = engine_differences(results)
        if problems:
            pytest.fail(f"engines disagree on program {self.name}:\n" + "\n".join(problems), pytrace=False)
        return next(iter(results.values()))


class BothEngines:
    """An object loaded once per engine (separate maps that evolve in step)."""

    def __init__(self, objects: dict[str, TestObject]):
        self.objects = objects
        first = next(iter(objects.values()))
        self.programs = {name: BothPrograms(name, {e: o.programs[name] for e, o in objects.items()})
                         for name in first.programs}

    @property
    def maps(self) -> Any:
        """The reference engine's maps (set entries with :meth:`set_map` to reach all engines)."""
        return next(iter(self.objects.values())).maps

    def set_map(self, name: str, key: Any, value: Any) -> None:
        """Set a map entry on every engine's copy of the object."""
        for obj in self.objects.values():
            obj.maps[name][key] = value


@pytest.fixture
def ebpf_both(ebpf_compile: Callable[..., Path], ebpf_world: dict[str, Any],
              pytestconfig: pytest.Config) -> Callable[..., BothEngines]:
    """``ebpf_both(source, **options) -> BothEngines``: every ``run`` goes to the
    interpreter and the JIT and fails the test if their results, output
    packets, printk output or map contents differ."""
    engines = [_require_engine(e) for e in ENGINES]
    trace = bool(pytestconfig.getoption("ebpf_trace", False))

    def load(source: str | os.PathLike | bytes, **options: Any) -> BothEngines:
        return BothEngines({e: make_loader(e, ebpf_compile, trace, ebpf_world)(source, **options)
                            for e in engines})

    return load
