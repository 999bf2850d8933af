"""Shared fixtures: the C corpus compiled once per session with ``ebpflite cc``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ebpflite.loader.cc import compile_c, find_compilers

C_DIR = Path(__file__).resolve().parent / "c"
WINDOWS_SOURCES = {"windows_bind", "windows_legacy_maps"}


def _build(tmp_factory, compiler: str | None) -> dict[str, Path]:
    out_dir = tmp_factory.mktemp(f"objs-{compiler or 'default'}")
    objs = {}
    for src in sorted(C_DIR.glob("*.c")):
        platform = "windows" if src.stem in WINDOWS_SOURCES else "linux"
        objs[src.stem] = compile_c(src, out_dir / f"{src.stem}.o", platform=platform, compiler=compiler)
    return objs


@pytest.fixture(scope="session")
def objects(tmp_path_factory) -> dict[str, Path]:
    """stem -> object built by the preferred compiler (the ziglang wheel, else clang)."""
    if not find_compilers():
        pytest.skip("no eBPF C compiler: install the ziglang wheel (pip install ebpflite[cc]) or clang")
    return _build(tmp_path_factory, None)


@pytest.fixture(scope="session")
def clang_objects(tmp_path_factory) -> dict[str, Path]:
    """The same corpus built by the system clang (Debian's), to compare against."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not on PATH (apt-get install clang)")
    if "zig" not in dict(find_compilers()):
        pytest.skip("the ziglang wheel is not installed, so there is nothing to compare clang with")
    return _build(tmp_path_factory, "clang")
