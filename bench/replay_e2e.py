"""End-to-end replay: ``ebpflite xdp OBJ --pcap big.pcap --engine jit`` beside the kernel's own loop.

    python bench/replay_e2e.py [--count 1000000] [--engine jit] [--only firewall,xdp_pass]

For each program it measures, in one run of this script:

- **ebpflite**: the CLI as a user runs it, in a fresh process: wall time
  from spawn to exit (Python start-up, imports, loading, verification,
  compilation, reading the capture, the replay, the report) and the peak
  resident memory of that process (``wait4``'s ``ru_maxrss``);
- **kernel**: a C program (bench/c/test_run_loop.c, built with gcc) calling
  ``bpf(BPF_PROG_TEST_RUN)`` once per packet on the same capture, the
  program loaded with bpftool into a private bpffs (``unshare --mount``),
  with the same map entries. Its time is the loop only.

Both sides' action counts are printed, so a disagreement shows. Programs:
examples/xdp_firewall (its LPM block list holding 10.0.1.0/24, TCP/22
dropped by its port policy), xdp-tools' ``xdp_pass.o`` (or, where the
package does not ship it, the same one-line program from the verifier
corpus) and libxdp's ``xdpfilt_*.o`` filters (``apt-get install
xdp-tools``); a program ebpflite cannot load or verify yet is reported
with the reason. bench/test_bench_replay.py runs the same measurements as
pytest-benchmark benchmarks.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def child_env() -> dict[str, str]:
    """The CLI's environment: as an installed tool runs, with Python's bytecode cache (a session
    that sets PYTHONDONTWRITEBYTECODE would otherwise recompile every module on each start)."""
    env = dict(os.environ, COLUMNS="200")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(subject: Subject) -> None:
    """One untimed run on the small bundled capture: writes the bytecode cache, as an
    installation has it (compiled programs are not cached between runs unless the user sets
    EBPFLITE_JIT_CACHE, so every timed run compiles)."""
    exe = Path(sys.executable).with_name("ebpflite")
    subprocess.run([str(exe) if exe.exists() else "ebpflite", "xdp", str(subject.obj), "--pcap",
                    str(ROOT / "examples" / "data" / "sample.pcap"), "--engine", "jit"],
                   capture_output=True, env=child_env(), timeout=TIMEOUT)


def run_ebpflite(subject: Subject, capture: Path, engine: str = "jit", extra: tuple[str, ...] = ()) -> Measure:
    """``ebpflite xdp`` in a fresh process: wall time, peak RSS (``wait4``), action counts."""
    exe = Path(sys.executable).with_name("ebpflite")
    argv = [str(exe) if exe.exists() else "ebpflite", "xdp", str(subject.obj), "--pcap", str(capture),
            "--engine", engine, *extra]
    if subject.prog:
        argv += ["--prog", subject.prog]
    for name, key, value in subject.maps:
        argv += ["--map", name, key, value]
    out_path = capture.parent / f".replay-e2e-{os.getpid()}.out"
    env = child_env()
    with open(out_path, "w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    out_path.unlink(missing_ok=True)
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode:
        last = [line for line in text.strip().splitlines() if line.strip()][-1:]
        return Measure(rss_mb=rss_mb, seconds=seconds, note=f"exit {proc.returncode}: {' '.join(last)}",
                       cpu_seconds=cpu)
    counts = {m.group(1): int(m.group(2)) for m in _ROW.finditer(text)}
    total = sum(counts.values())
    return Measure(total / seconds if seconds else None, seconds, rss_mb, counts, cpu_seconds=cpu)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=bigcapture.DEFAULT_COUNT)
    parser.add_argument("--engine", default="jit")
    parser.add_argument("--only", default="", help="comma-separated substrings of program labels")
    parser.add_argument("--no-kernel", action="store_true")
    args = parser.parse_args()
    capture = bigcapture.cached_capture(args.count)
    work = bigcapture.cache_dir() / "objects"
    work.mkdir(parents=True, exist_ok=True)
    print(f"capture: {capture} ({args.count} packets, {capture.stat().st_size / 1e6:.0f} MB)", flush=True)
    print("| program | ebpflite (end to end) | kernel test_run loop | ratio | ratio (CPU time) | peak memory "
          "| counts agree |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for subject in subjects(work):
        if args.only and not any(part in subject.label for part in args.only.split(",")):
            continue
        warm_up(subject)
        ours = run_ebpflite(subject, capture, args.engine)
        kernel = Measure(note="skipped") if args.no_kernel else run_kernel(subject, capture, work)
        ratio = f"{ours.pps / kernel.pps:.2f}x" if ours.pps and kernel.pps else "–"
        cpu_ratio = f"{kernel.cpu_seconds / ours.cpu_seconds:.2f}x" if ours.pps and kernel.cpu_seconds else "–"
        agree = "yes" if ours.counts and ours.counts == kernel.counts else \
            f"ours {ours.counts or ours.note}, kernel {kernel.counts or kernel.note}"
        ebpf_cell = f"{_rate(ours.pps)} ({ours.seconds:.2f} s, CPU {ours.cpu_seconds:.2f} s)" if ours.pps \
            else f"– ({ours.note})"
        kern_cell = f"{_rate(kernel.pps)} ({kernel.seconds:.2f} s, CPU {kernel.cpu_seconds:.2f} s)" \
            if kernel.pps else f"– ({kernel.note})"
        rss = f"{ours.rss_mb:.0f} MB" if ours.rss_mb else "–"
        print(f"| {subject.label} | {ebpf_cell} | {kern_cell} | {ratio} | {cpu_ratio} | {rss} | {agree} |",
              flush=True)


if __name__ == "__main__":
    main()
