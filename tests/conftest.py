"""Shared test configuration: hypothesis profiles and optional capabilities.

Optional capabilities (a C compiler, the kernel's BPF, the conformance
suite beside the checkout) are detected once here; tests that need one use
the fixtures or markers below and skip saying which capability is missing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = (REPO / ".." / "shared" / "conformance").resolve()
EBPF_SAMPLES = (REPO / ".." / "shared" / "ebpf-samples").resolve()

# the JIT's disk cache (on by default, jit/diskcache.py) lives in a directory of this test
# session, not in the user's ~/.cache; subprocesses (CLI tests) inherit it
if "EBPFLITE_JIT_CACHE" not in os.environ:
    os.environ["EBPFLITE_JIT_CACHE"] = tempfile.mkdtemp(prefix="ebpflite-jit-cache-")
    atexit.register(shutil.rmtree, os.environ["EBPFLITE_JIT_CACHE"], True)

# CI runs a bounded number of examples; `HYPOTHESIS_PROFILE=long pytest` runs many more.
settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The public eBPF conformance suite in ../shared/conformance."""
    if not (CONFORMANCE / "tests").is_dir():
        pytest.skip(f"conformance suite not found at {CONFORMANCE}")
    return CONFORMANCE


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """Compiled objects other projects wrote, with kernel verdicts: ../shared/ebpf-samples."""
    if not (EBPF_SAMPLES / "verdicts.json").is_file():
        pytest.skip(f"the shared corpus of real programs is not at {EBPF_SAMPLES} (no verdicts.json)")
    return EBPF_SAMPLES


@pytest.fixture(scope="session")
def clang() -> str:
    """Path of Debian's clang (optional: `apt-get install clang`)."""
    path = shutil.which("clang")
    if path is None:
        pytest.skip("clang is not installed (apt-get install clang)")
    return path
