"""End-to-end replay of a 1M-packet capture: ``ebpflite xdp --engine jit`` beside the kernel's loop.

Run: ``pytest bench/test_bench_replay.py --benchmark-only -p no:ebpflite`` (``REPLAY_PACKETS``
sets the capture size; the capture is generated into the benchmark cache by bench/bigcapture.py
the first time). Each benchmark spawns the CLI once, as a user runs it a second time (start-up included; the JIT's disk cache warm from a first run on the bundled sample), and
runs the kernel's per-packet ``BPF_PROG_TEST_RUN`` loop on the same capture in the same test
(bench/replay_e2e.py), recording in ``extra_info``: packets/s of both, their ratio (the goal:
at least 5x), both CPU times, the CLI's peak memory (the goal: under 400 MB) and whether the
action counts agree. Programs: examples/xdp_firewall, xdp_pass, libxdp's xdpfilt_* filters
(``apt-get install xdp-tools``; skipped when absent, or reported when ebpflite cannot verify
them yet).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bigcapture  # noqa: E402
import replay_e2e  # noqa: E402

PACKETS = int(os.environ.get("REPLAY_PACKETS", bigcapture.DEFAULT_COUNT))
PROGRAMS = ["firewall", "xdp_pass"] + [f"xdpfilt_{m}_{p}" for m in ("alw", "dny")
                                       for p in ("all", "eth", "ip", "tcp", "udp")]


@pytest.fixture(scope="module")
def setup():
    from ebpflite.errors import CompileError

    capture = bigcapture.cached_capture(PACKETS)
    work = bigcapture.cache_dir() / "objects"
    work.mkdir(parents=True, exist_ok=True)
    try:
        subjects = replay_e2e.subjects(work)
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")
    return capture, work, subjects


def _subject(subjects, name: str):
    for subject in subjects:
        if name in subject.label:
            return subject
    if name.startswith("xdpfilt"):
        pytest.skip(f"{name}.o is not installed (apt-get install xdp-tools)")
    pytest.skip(f"{name} is not available here")


@pytest.mark.parametrize("name", PROGRAMS)
def test_replay_end_to_end(benchmark, setup, name, tmp_path):
    capture, work, subjects = setup
    subject = _subject(subjects, name)
    kernel = replay_e2e.run_kernel(subject, capture, work)
    jit_cache = tmp_path / "jit-cache"
    replay_e2e.warm_up(subject, jit_cache=jit_cache)  # bytecode and the JIT's disk cache, as on a second run
    result = {}

    def replay():
        result["ours"] = replay_e2e.run_ebpflite(subject, capture, jit_cache=jit_cache)

    benchmark.group = f"replay {PACKETS} packets"
    benchmark.pedantic(replay, rounds=1, iterations=1)
    ours = result["ours"]
    info = benchmark.extra_info
    info.update(packets=PACKETS, pps=ours.pps, cpu_s=ours.cpu_seconds, peak_mb=ours.rss_mb,
                kernel_pps=kernel.pps, kernel_cpu_s=kernel.cpu_seconds, kernel_note=kernel.note,
                ratio=ours.pps / kernel.pps if ours.pps and kernel.pps else None,
                counts_agree=bool(ours.counts) and ours.counts == kernel.counts, note=ours.note)
    if ours.pps is None:  # ebpflite refused the program (the verifier, most likely): say why
        pytest.skip(f"ebpflite cannot replay {name} yet: {ours.note}")
