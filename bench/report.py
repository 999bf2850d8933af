"""Run every benchmark suite in bench/ once and write bench/README.md and bench/engines.png.

    python bench/report.py [--quick]
    python bench/report.py --corpus-only    # only the verifier-over-the-corpus section

All suites run in ONE pytest process (pytest-benchmark's ``--benchmark-json``),
so every ratio in the report compares figures measured in the same run on the
same (noisy, shared) machine. The kernel's own time per run comes from
``ebpflite bench``'s kernel row (``bpftool prog run ... repeat N`` in a private
bpffs) measured right after, or says why it is unavailable. ``--quick`` keeps
each benchmark short and leaves out the 10,000-instruction programs.

The section "Verifier over the shared corpus" times ``verify()`` on every
program of ../shared/ebpf-samples (tests/verifier/ebpf_samples.py, the run
the corpus test asserts counts on); it compares nothing with the other
figures, so ``--corpus-only`` refreshes it alone, in place.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SUITES = sorted(p.name for p in BENCH.glob("test_bench_*.py"))
KERNELS = ["primes", "ilog2", "copy", "strcmp_loop", "dense_switch", "checksum", "fnv", "sort"]
ENGINES = ["interpreter", "JIT", "JIT batch", "native C (gcc -O2)", "kernel"]


# --- running ---------------------------------------------------------------------------------------


def run_suites(out: Path, quick: bool) -> int:
    argv = [sys.executable, "-m", "pytest", *[str(BENCH / s) for s in SUITES], "--benchmark-only",
            "-p", "no:ebpflite", "-p", "no:cacheprovider", "-q", f"--benchmark-json={out}",
            "--benchmark-columns=min,median,rounds"]
    if quick:
        argv += ["--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "-k", "not 10000"]
    print("running:", " ".join(argv[1:]), flush=True)
    return subprocess.run(argv, cwd=ROOT).returncode


def kernel_rows(n: int) -> dict[str, dict]:
    """The kernel's time per run for the XDP and map programs (ebpflite bench's kernel row)."""
    from ebpflite.cli import bench
    from ebpflite.errors import EbpfError
    from ebpflite.loader.cc import compile_c

    capture = ROOT / "examples" / "data" / "sample.pcap"
    from ebpflite.helpers.pcap import read_packets

    packets = [p.data for p in read_packets(capture)]
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {"xdp_verdict (map)": ("xdp_verdict.c", (), packets),
                "xdp_verdict (no map)": ("xdp_verdict.c", ("NO_COUNTERS",), packets),
                "map_ops": ("map_ops.c", (), [bytes(64)])}
        for label, (source, defines, inputs) in jobs.items():
            try:
                obj = compile_c(BENCH / "progs" / source, Path(tmp) / f"{len(out)}.o", defines=defines)
                target = bench.load_target(obj, None, inputs, verify=True)
                row = bench.time_kernel(target, n)
            except (EbpfError, OSError) as exc:
                row = bench.Row("kernel", note=f"could not prepare: {exc}")
            out[label] = row.as_dict()
    out["compute kernels"] = {"available": False, "ns_per_run": None,
                              "note": "not loadable: bench/c/kernels.c sections are not a kernel program type"}
    return out


CORPUS_BEGIN, CORPUS_END = "<!-- corpus-timing:begin -->", "<!-- corpus-timing:end -->"


def corpus_section() -> list[str]:
    """Verifier wall time per program over ../shared/ebpf-samples: median and slowest."""
    sys.path.insert(0, str(ROOT / "tests" / "verifier"))
    import ebpf_samples

    lines = [CORPUS_BEGIN, "## Verifier over the shared corpus", ""]
    if not (ebpf_samples.SAMPLES / "verdicts.json").is_file():
        return lines + [f"(not measured: no corpus at {ebpf_samples.SAMPLES})", "", CORPUS_END]
    start = time.perf_counter()
    outcomes = ebpf_samples.run()
    wall = time.perf_counter() - start
    t = ebpf_samples.timing(outcomes)
    c = ebpf_samples.counts(outcomes)
    lines += [f"`verify()` on each of the {t['programs']} programs of ../shared/ebpf-samples that load "
              f"(one process, one program at a time; loading not included): median "
              f"**{fmt_time(t['median_s'])}**, slowest **{fmt_time(t['slowest'][0][1])}**, total "
              f"{t['total_s']:.1f} s ({wall:.1f} s with loading). Accepted {c.kernel_accepts_we_accept} of the "
              f"{c.kernel_accepts} programs the kernel accepts.", "",
              "| slowest programs | time | verdict |", "| --- | ---: | --- |"]
    lines += [f"| `{name}` | {fmt_time(secs)} | {verdict} |" for name, secs, verdict in t["slowest"]]
    return lines + ["", CORPUS_END]


def replace_corpus_section(lines: list[str]) -> None:
    path = BENCH / "README.md"
    text = path.read_text()
    block = "\n".join(lines)
    if CORPUS_BEGIN in text and CORPUS_END in text:
        text = text[:text.index(CORPUS_BEGIN)] + block + text[text.index(CORPUS_END) + len(CORPUS_END):]
    else:
        marker = "## Plot"
        text = text.replace(marker, block + "\n\n" + marker, 1) if marker in text else text + "\n" + block + "\n"
    path.write_text(text)


# --- reading the JSON -------------------------------------------------------------------------------


class Results:
    """pytest-benchmark's JSON, looked up by test function and parameter string."""

    def __init__(self, data: dict):
        self.data = data
        self.by_name = {b["name"]: b for b in data.get("benchmarks", [])}

    def get(self, name: str) -> dict | None:
        return self.by_name.get(name)

    def median(self, name: str) -> float | None:
        """Median seconds per round, or None when the benchmark did not run."""
        b = self.get(name)
        return b["stats"]["median"] if b else None

    def extra(self, name: str, key: str):
        b = self.get(name)
        return b.get("extra_info", {}).get(key) if b else None


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "–"


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


# --- the table ------------------------------------------------------------------------------------


def per_run_table(r: Results, kernel: dict[str, dict]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Markdown rows of engines against programs, and the seconds per run behind them (for the plot)."""
    grid: dict[str, dict[str, float]] = {}
    for k in KERNELS:
        grid[k] = {"JIT": r.median(f"test_kernel_jit[{k}]"), "native C (gcc -O2)": r.median(f"test_kernel_native[{k}]")}
    # the interpreter is timed on fnv only, against the JIT in checked mode (as for unverified code)
    grid["fnv (JIT checked)"] = {"interpreter": r.median("test_jit_vs_interpreter[interp]"),
                                 "JIT": r.median("test_jit_vs_interpreter[jit]")}
    for variant, label in (("maps", "xdp_verdict (map)"), ("nomaps", "xdp_verdict (no map)")):
        row = {}
        for engine, test in (("interpreter", f"test_xdp_per_run[interp-{variant}]"),
                             ("JIT", f"test_xdp_per_run[jit-{variant}]"),
                             ("JIT batch", f"test_xdp_jit_batch[{variant}]")):
            ns = r.extra(test, "ns/packet")
            row[engine] = ns * 1e-9 if ns else None
        row["kernel"] = _kernel_seconds(kernel.get(label))
        grid[label] = row
    grid["map_ops"] = {"interpreter": r.median("test_program_map_ops[interp]"),
                       "JIT": r.median("test_program_map_ops[jit]"),
                       "kernel": _kernel_seconds(kernel.get("map_ops"))}
    grid["1-insn program (per call)"] = {"JIT": r.median("test_per_call_overhead")}
    lines = ["| program | " + " | ".join(ENGINES) + " | JIT / native | JIT vs interpreter |",
             "| --- |" + " ---: |" * (len(ENGINES) + 2)]
    for program, row in grid.items():
        cells = [fmt_time(row.get(e)) for e in ENGINES]
        jit, native, interp = row.get("JIT"), row.get("native C (gcc -O2)"), row.get("interpreter")
        lines.append(f"| {program} | " + " | ".join(cells) + f" | {ratio(jit, native)} | {ratio(interp, jit)} |")
    return lines, grid


def _kernel_seconds(row: dict | None) -> float | None:
    return row["ns_per_run"] * 1e-9 if row and row.get("ns_per_run") else None


def summary(r: Results, grid: dict[str, dict[str, float]], kernel: dict[str, dict]) -> list[str]:
    ratios = [grid[k]["JIT"] / grid[k]["native C (gcc -O2)"] for k in KERNELS
              if grid[k].get("JIT") and grid[k].get("native C (gcc -O2)")]
    gm = geomean(ratios)
    out = ["| figure | value | goal |", "| --- | ---: | --- |",
           f"| JIT vs native C, geometric mean over {len(ratios)} kernels (time ratio) | "
           f"{f'{gm:.2f}x' if gm else '–'} | ≤ 1.5x |"]
    fnv_i, fnv_j = r.median("test_jit_vs_interpreter[interp]"), r.median("test_jit_vs_interpreter[jit]")
    out.append(f"| JIT (checked) vs interpreter speed-up, fnv kernel | {ratio(fnv_i, fnv_j)} | |")
    for variant in ("nomaps", "maps"):
        mpps = r.extra(f"test_xdp_jit_batch[{variant}]", "Mpps")
        label = "no map" if variant == "nomaps" else "one map lookup per packet"
        out.append(f"| XDP parse-and-verdict, JIT batch ({label}) | {f'{mpps:.1f} Mpps' if mpps else '–'} | "
                   "≥ 20 Mpps |")
        k = kernel.get(f"xdp_verdict ({'no map' if variant == 'nomaps' else 'map'})", {})
        kns = k.get("ns_per_run")
        out.append(f"| same program, kernel (bpftool prog run, per packet) | "
                   f"{f'{kns:.0f} ns ({1e3 / kns:.1f} Mpps)' if kns else 'unavailable: ' + k.get('note', '')} | |")
    out.append(f"| per-call overhead from Python, 1-insn program, JIT | {fmt_time(r.median('test_per_call_overhead'))} | |")
    for size in (100, 1000, 10000):
        times = "/".join(fmt_time(r.median(f"test_compile_time[{level}-{size}]")) for level in (1, 2, 3))
        out.append(f"| JIT compile time, {size:,} insns, O1/O2/O3 | {times} | |")
    out.append(f"| JIT compile cache hit, 1,000 insns | {fmt_time(r.median('test_compile_cache_hit'))} | |")
    for size in (100, 1000, 10000):
        out.append(f"| verification time, synthetic parser, {size:,} insns | "
                   f"{fmt_time(r.median(f'test_bench_verify_synthetic_parser[{size}]'))} | "
                   f"{'< 1 s' if size == 1000 else ''} |")
    for name in ("xdp_vlan", "xdp_ipv4_options", "xdp_udp_count", "loop_packet_sum"):
        t = r.median(f"test_bench_verify_real_parser[{name}]")
        if t is not None:
            out.append(f"| verification time, {name} ({r.extra(f'test_bench_verify_real_parser[{name}]', 'instructions')}"
                       f" insns) | {fmt_time(t)} | |")
    for kind in ("alu", "memory", "calls"):
        v = r.extra(f"test_interpreter_speed[{kind}]", "M insn/s")
        out.append(f"| interpreter, {kind} loop | {f'{v} M insn/s' if v else '–'} | "
                   f"{'≥ 8 M insn/s' if kind == 'alu' else ''} |")
    for kind in ("hash", "array"):
        for op in ("lookup", "update"):
            v = r.extra(f"test_python_{op}[{kind}]", "ns/op")
            out.append(f"| {kind} map {op} from Python | {f'{v:.0f} ns' if v else '–'} | |")
    for engine in ("interp", "jit"):
        v = r.extra(f"test_program_map_ops[{engine}]", "ns/op")
        out.append(f"| map helper call from a program ({engine}) | {f'{v:.0f} ns' if v else '–'} | |")
    return out


# --- machine, plot, README ----------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import llvmlite

        llvm = llvmlite.__version__
    except ImportError:
        llvm = "not installed"
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    return [f"- CPU: {cpu}, {os.cpu_count()} cores visible (shared machine)",
            f"- Python {platform.python_version()}, llvmlite {llvm}, {gcc[0] if gcc else 'gcc: none'}",
            f"- kernel {platform.release()}, {platform.machine()}",
            f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"]


def plot(grid: dict[str, dict[str, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    programs = list(grid)
    width = 0.8 / len(ENGINES)
    fig, ax = plt.subplots(figsize=(13, 5.5))
    for i, engine in enumerate(ENGINES):
        xs = [j + (i - len(ENGINES) / 2 + 0.5) * width for j in range(len(programs))]
        ys = [(grid[p].get(engine) or 0) * 1e9 for p in programs]
        ax.bar(xs, ys, width, label=engine)
    ax.set_yscale("log")
    ax.set_ylabel("time per run / per packet (ns, log scale)")
    ax.set_xticks(range(len(programs)), programs, rotation=30, ha="right")
    ax.set_title("ebpflite engines against programs (lower is faster; missing bar = not measured)")
    ax.legend()
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def write_readme(r: Results, kernel: dict[str, dict], command: str, exit_code: int, notes: list[str]) -> None:
    table, grid = per_run_table(r, kernel)
    plotted = plot(grid, BENCH / "engines.png")
    failed = [] if exit_code == 0 else [f"**Warning:** the benchmark run exited with status {exit_code}; "
                                        "figures of the failing benchmarks are missing (–).", ""]
    text = ["# Benchmarks", "",
            "Generated by `bench/report.py`; do not edit by hand. All figures come from one run, "
            "so the ratios compare like with like.", "",
            f"Command: `{command}`", "", "Machine:", *machine(), "", *failed,
            "## Headline figures", "", *summary(r, grid, kernel), "",
            "## Engines against programs (median time per run; per packet for XDP)", "", *table, "",
            "- interpreter, JIT: one `run()` from Python per run (XDP: per packet through the public API, which "
            "builds the context each time); JIT batch: the whole capture (examples/data/sample.pcap) in one "
            "native call; native C: bench/c/kernels.c built with gcc -O2, called through ctypes; kernel: "
            "`bpftool prog run ... repeat N` (BPF_PROG_TEST_RUN's own average).",
            "- Compute kernels run in the JIT unchecked (as for verified code); the `fnv (JIT checked)` row "
            "compares the interpreter with the JIT in checked mode (bench/test_bench_jit.py::"
            "test_jit_vs_interpreter).",
            "- In verified code the JIT emits map lookup, update and delete (array, per-CPU array, hash, "
            "per-CPU hash) and `bpf_csum_diff` natively (jit/native.py); other helpers (redirect_map, "
            "adjust_head/tail, ktime, prandom, ringbuf...) call back into the Python implementations.",
            f"- kernel, compute kernels: {kernel['compute kernels']['note']}.", "", *notes,
            *corpus_section(), "",
            "## Plot", "", "![engines against programs](engines.png)" if plotted else "(matplotlib missing)", "",
            "## Suites", "", *[f"- `bench/{s}`" for s in SUITES], ""]
    (BENCH / "README.md").write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, no 10,000-instruction programs")
    parser.add_argument("--from-json", type=Path, help="reuse a pytest-benchmark JSON instead of running")
    parser.add_argument("--corpus-only", action="store_true",
                        help="only re-measure the verifier over ../shared/ebpf-samples, in place")
    args = parser.parse_args(argv)
    if args.corpus_only:
        replace_corpus_section(corpus_section())
        print(f"updated the corpus section of {BENCH / 'README.md'}")
        return 0
    command = "python bench/report.py" + (" --quick" if args.quick else "")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.from_json or Path(tmp) / "bench.json"
        code = 0 if args.from_json else run_suites(out, args.quick)
        if not out.exists():
            print("report: the benchmark run produced no JSON", file=sys.stderr)
            return code or 1
        results = Results(json.loads(out.read_text()))
    kernel = kernel_rows(2000 if args.quick else 20000)
    notes = []
    try:
        log = subprocess.run(["git", "log", "-1", "--format=%h %s"], capture_output=True, text=True, cwd=ROOT)
        notes = [f"Code at commit `{log.stdout.strip()}`.", ""] if log.returncode == 0 else []
    except OSError:
        pass
    write_readme(results, kernel, command, code, notes)
    print(f"wrote {BENCH / 'README.md'} and {BENCH / 'engines.png'}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
