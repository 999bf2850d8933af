"""End-to-end replay: ``ebpflite xdp OBJ --pcap big.pcap --engine jit`` beside the kernel's own loop.

    python bench/replay_e2e.py [--count 1000000] [--engine jit] [--only firewall,xdp_pass] [--phases]

For each program it measures, in one run of this script:

- **ebpflite**: the CLI as a user runs it, in a fresh process: wall time
  from spawn to exit (Python start-up, imports, loading, verification,
  compilation, reading the capture, the replay, the report), CPU time and
  the peak resident memory of that process (``wait4``). Twice: the first
  run of a program (``cold``: an empty JIT disk cache, so it compiles and
  stores the code) and a later run (``warm``: the JIT's disk cache holds
  the code, as on every run after the first); both in a cache directory of
  this script's own (``EBPFLITE_JIT_CACHE``), so the user's cache plays no part;
- **kernel**: a C program (bench/c/test_run_loop.c, built with gcc) calling
  ``bpf(BPF_PROG_TEST_RUN)`` once per packet on the same capture, the
  program loaded with bpftool into a private bpffs (``unshare --mount``),
  with the same map entries. Its time is the loop only.

Ratios are ebpflite's packets/s over the kernel's (wall) and the kernel's CPU
time over ebpflite's (the machine is shared: CPU time is the steadier
figure). Both sides' action counts are compared, so a disagreement shows.
``--phases`` adds, per program, where a warm run's CPU time goes
(bench/replay_phases.py) and Python's own start-up. Programs:
examples/xdp_firewall (its LPM block list holding 10.0.1.0/24, TCP/22
dropped by its port policy), xdp-tools' ``xdp_pass.o`` (or, where the
package does not ship it, the same one-line program from the verifier
corpus) and libxdp's ``xdpfilt_*.o`` filters (``apt-get install
xdp-tools``); a program ebpflite cannot load or verify yet is reported
with the reason. bench/test_bench_replay.py runs the same measurements as
pytest-benchmark benchmarks; bench/replay_identical.py checks the results
against the interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import bigcapture  # noqa: E402

#: where distributions install libxdp's and xdp-tools' BPF objects
BPF_OBJECT_DIRS = ("/usr/lib/x86_64-linux-gnu/bpf", "/usr/lib/aarch64-linux-gnu/bpf", "/usr/lib/bpf",
                   "/usr/lib64/bpf", "/usr/local/lib/bpf", "/usr/share/xdp-tools")
TIMEOUT = 1800


@dataclass
class Subject:
    """A program to replay and the map entries both sides get."""

    label: str
    obj: Path
    prog: str | None = None
    #: (map name, key, value) as ``ebpflite xdp --map`` takes them
    maps: list[tuple[str, str, str]] = field(default_factory=list)
    #: the same entries as bytes, for bpftool
    kernel_maps: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    note: str = ""


@dataclass
class Measure:
    pps: float | None = None
    seconds: float | None = None  #: wall time
    rss_mb: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""
    cpu_seconds: float | None = None  #: user + system time (the machine is shared: wall time varies)


def find_bpf_object(name: str) -> Path | None:
    for directory in BPF_OBJECT_DIRS:
        path = Path(directory) / name
        if path.exists():
            return path
    return None


def _compile(source: Path, out: Path) -> Path:
    from ebpflite.loader.cc import compile_c

    out.parent.mkdir(parents=True, exist_ok=True)
    return compile_c(source, out)


def subjects(work: Path) -> list[Subject]:
    """The programs of the issue's table, those present here."""
    firewall = Subject("examples/xdp_firewall", _compile(ROOT / "examples" / "xdp_firewall" / "firewall.c",
                                                          work / "firewall.o"),
                       maps=[("blocklist_v4", "10.0.1.0/24", "0"), ("port_policy", "6 0 22 0", "1")],
                       kernel_maps=[("blocklist_v4", (24).to_bytes(4, "little") + bytes([10, 0, 1, 0]), bytes(8)),
                                    ("port_policy", bytes([6, 0, 22, 0]), (1).to_bytes(4, "little"))])
    out = [firewall]
    xdp_pass = find_bpf_object("xdp_pass.o")
    if xdp_pass is not None:
        out.append(Subject("xdp-tools xdp_pass.o", xdp_pass))
    else:
        out.append(Subject("xdp_pass (xdp-tools' lib/testing/xdp_pass.c program, built here)",
                           _compile(ROOT / "tests" / "verifier" / "corpus" / "safe" / "xdp_pass.c",
                                    work / "xdp_pass.o"),
                           note="xdp_pass.o is not installed here; the same one-line program compiled"))
    for directory in BPF_OBJECT_DIRS:
        for path in sorted(Path(directory).glob("xdpfilt_*.o")) if Path(directory).is_dir() else ():
            out.append(Subject(f"libxdp {path.name}", path))
        if any(s.label.startswith("libxdp") for s in out):
            break
    return out


# --- ebpflite ----------------------------------------------------------------------------------

_ROW = re.compile(r"│\s*(\S+)\s*│\s*(\d+)\s*│")


def child_env(jit_cache: str | os.PathLike | None = None) -> dict[str, str]:
    """The CLI's environment: as an installed tool runs, with Python's bytecode cache (a session
    that sets PYTHONDONTWRITEBYTECODE would otherwise recompile every module on each start);
    ``jit_cache`` is the JIT's disk cache directory (None: the environment's setting)."""
    env = dict(os.environ, COLUMNS="200")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if jit_cache is not None:
        env["EBPFLITE_JIT_CACHE"] = str(jit_cache)
    return env


def _argv(subject: Subject, capture: Path, engine: str) -> list[str]:
    argv = ["xdp", str(subject.obj), "--pcap", str(capture), "--engine", engine]
    if subject.prog:
        argv += ["--prog", subject.prog]
    for name, key, value in subject.maps:
        argv += ["--map", name, key, value]
    return argv


def _ebpflite() -> str:
    exe = Path(sys.executable).with_name("ebpflite")
    return str(exe) if exe.exists() else "ebpflite"


def warm_up(subject: Subject, jit_cache: str | os.PathLike | None = None) -> None:
    """One untimed run on the small bundled capture: writes Python's bytecode cache, as an
    installation has it, and, with ``jit_cache``, the program's compiled code there."""
    subprocess.run([_ebpflite(), *_argv(subject, ROOT / "examples" / "data" / "sample.pcap", "jit")],
                   capture_output=True, env=child_env(jit_cache), timeout=TIMEOUT)


def _spawn(argv: list[str], env: dict[str, str], out_path: Path) -> tuple[int, str, float, Any]:
    """Run ``argv``: (exit code, output, wall seconds, rusage of the process)."""
    with open(out_path, "w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    out_path.unlink(missing_ok=True)
    return os.waitstatus_to_exitcode(status), text, seconds, usage


def run_ebpflite(subject: Subject, capture: Path, engine: str = "jit", extra: tuple[str, ...] = (),
                 jit_cache: str | os.PathLike | None = None) -> Measure:
    """``ebpflite xdp`` in a fresh process: wall time, CPU time and peak RSS (``wait4``), action counts."""
    argv = [_ebpflite(), *_argv(subject, capture, engine), *extra]
    code, text, seconds, usage = _spawn(argv, child_env(jit_cache), capture.parent / f".replay-e2e-{os.getpid()}.out")
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    if code:
        last = [line for line in text.strip().splitlines() if line.strip()][-1:]
        return Measure(rss_mb=rss_mb, seconds=seconds, note=f"exit {code}: {' '.join(last)}", cpu_seconds=cpu)
    counts = {m.group(1): int(m.group(2)) for m in _ROW.finditer(text)}
    total = sum(counts.values())
    return Measure(total / seconds if seconds else None, seconds, rss_mb, counts, cpu_seconds=cpu)


def python_startup() -> float:
    """CPU seconds of ``python -c pass`` (the interpreter's own start, site included), best of 3."""
    best = None
    for _ in range(3):
        _, _, _, usage = _spawn([sys.executable, "-c", "pass"], child_env(), Path(tempfile.gettempdir())
                                / f".replay-e2e-py-{os.getpid()}.out")
        cpu = usage.ru_utime + usage.ru_stime
        best = cpu if best is None else min(best, cpu)
    return best or 0.0


def phases(subject: Subject, capture: Path, jit_cache: str | os.PathLike | None = None) -> dict | None:
    """bench/replay_phases.py's breakdown of one run (a fresh process), or None when it failed."""
    argv = [sys.executable, str(BENCH / "replay_phases.py"), *_argv(subject, capture, "jit")[1:]]
    code, text, _, _ = _spawn(argv, child_env(jit_cache), capture.parent / f".replay-e2e-ph-{os.getpid()}.out")
    for line in text.splitlines():
        if line.startswith("PHASES "):
            return json.loads(line[len("PHASES "):])
    return None


# --- the kernel ----------------------------------------------------------------------------------


def run_kernel(subject: Subject, capture: Path, work: Path) -> Measure:
    """The per-packet BPF_PROG_TEST_RUN loop on the same capture (ebpflite.cli.bench_replay; loop time)."""
    from ebpflite.cli.bench_replay import kernel_test_run_loop

    result = kernel_test_run_loop(subject.obj, capture, map_updates=subject.kernel_maps, work=work)
    if "error" in result:
        return Measure(note=result["error"])
    return Measure(result["packets"] / result["seconds"], result["seconds"], None, result["counts"],
                   cpu_seconds=result["cpu_seconds"])


# --- the table ---------------------------------------------------------------------------------


def _rate(pps: float | None) -> str:
    if pps is None:
        return "–"
    return f"{pps / 1e6:.2f} M" if pps >= 1e6 else f"{pps / 1e3:.0f}k"


PHASES = ("imports", "load", "verify", "compile", "read", "native loop", "replay other", "report", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=bigcapture.DEFAULT_COUNT)
    parser.add_argument("--engine", default="jit")
    parser.add_argument("--only", default="", help="comma-separated substrings of program labels")
    parser.add_argument("--no-kernel", action="store_true")
    parser.add_argument("--phases", action="store_true", help="also show where a warm run's CPU time goes")
    args = parser.parse_args()
    capture = bigcapture.cached_capture(args.count)
    work = bigcapture.cache_dir() / "objects"
    work.mkdir(parents=True, exist_ok=True)
    print(f"capture: {capture} ({args.count} packets, {capture.stat().st_size / 1e6:.0f} MB)", flush=True)
    print("| program | ebpflite, warm JIT cache (end to end) | first run, cold JIT cache | kernel test_run loop "
          "| ratio | ratio (CPU time) | peak memory | counts agree |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    breakdowns = []
    for subject in subjects(work):
        if args.only and not any(part in subject.label for part in args.only.split(",")):
            continue
        with tempfile.TemporaryDirectory(prefix="replay-e2e-jit-") as jit_cache, \
                tempfile.TemporaryDirectory(prefix="replay-e2e-warmup-") as elsewhere:
            warm_up(subject, jit_cache=elsewhere)  # Python's bytecode cache; jit_cache stays empty
            cold = run_ebpflite(subject, capture, args.engine, jit_cache=jit_cache)
            ours = run_ebpflite(subject, capture, args.engine, jit_cache=jit_cache)
            if args.phases:
                breakdowns.append((subject.label, phases(subject, capture, jit_cache)))
        kernel = Measure(note="skipped") if args.no_kernel else run_kernel(subject, capture, work)
        ratio = f"{ours.pps / kernel.pps:.2f}x" if ours.pps and kernel.pps else "–"
        cpu_ratio = f"{kernel.cpu_seconds / ours.cpu_seconds:.2f}x" if ours.pps and kernel.cpu_seconds else "–"
        agree = "yes" if ours.counts and ours.counts == kernel.counts and cold.counts == ours.counts else \
            f"ours {ours.counts or ours.note}, kernel {kernel.counts or kernel.note}"

        def cell(m: Measure) -> str:
            return f"{_rate(m.pps)} ({m.seconds:.2f} s, CPU {m.cpu_seconds:.2f} s)" if m.pps else f"– ({m.note})"

        rss = f"{max(ours.rss_mb or 0, cold.rss_mb or 0):.0f} MB" if ours.rss_mb else "–"
        print(f"| {subject.label} | {cell(ours)} | {cell(cold)} | {cell(kernel)} | {ratio} | {cpu_ratio} | {rss} "
              f"| {agree} |", flush=True)
    if breakdowns:
        print(f"\nCPU milliseconds of a warm run by phase (bench/replay_phases.py); Python's own start-up "
              f"(python -c pass): {1e3 * python_startup():.0f} ms\n")
        print("| program | " + " | ".join(PHASES) + " | total |")
        print("|---|" + "---:|" * (len(PHASES) + 1))
        for label, spans in breakdowns:
            if spans is None:
                print(f"| {label} | " + " | ".join("–" for _ in PHASES) + " | – |")
                continue
            cells = [f"{spans.get(k, {}).get('cpu_ms', 0):.0f}" for k in (*PHASES, "total")]
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
