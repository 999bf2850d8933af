"""Tables for bench/jit_results.md from one pytest-benchmark JSON file (one run).

    pytest bench/test_bench_jit.py bench/test_bench_jit_compile.py --benchmark-only \\
        -p no:ebpflite --benchmark-json=out.json
    python bench/jit_report.py out.json

Prints markdown: the compute suite (checked JIT, unchecked JIT, gcc -O2, ratios and
geometric means, medians), compile time per 1,000 instructions on real objects (cold and
from the disk cache, checked and unchecked) and the per-call overhead.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict


def _us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.3g} us" if us < 1000 else f"{us / 1000:.3g} ms"


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def compute_table(benches: list[dict]) -> list[str]:
    times: dict[str, dict[str, float]] = defaultdict(dict)
    for b in benches:
        info = b.get("extra_info", {})
        if "kernel" in info and "engine" in info:
            times[info["kernel"]][info["engine"]] = b["stats"]["median"]
    rows = ["| program | JIT unchecked | JIT checked | gcc -O2 | unchecked / gcc | checked / gcc "
            "| checked / unchecked |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    ratios: dict[str, list[float]] = defaultdict(list)
    for kernel, t in times.items():
        if not {"jit-unchecked", "jit-checked", "gcc-O2"} <= set(t):
            continue
        u, c, n = t["jit-unchecked"], t["jit-checked"], t["gcc-O2"]
        ratios["u/n"].append(u / n)
        ratios["c/n"].append(c / n)
        ratios["c/u"].append(c / u)
        rows.append(f"| {kernel} | {_us(u)} | {_us(c)} | {_us(n)} | {u / n:.2f} | {c / n:.2f} | {c / u:.2f} |")
    rows.append(f"| **geometric mean** ({len(ratios['u/n'])} programs) | | | | **{_geomean(ratios['u/n']):.2f}** "
                f"| **{_geomean(ratios['c/n']):.2f}** | **{_geomean(ratios['c/u']):.2f}** |")
    return rows


def compile_table(benches: list[dict]) -> list[str]:
    cells: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    insns: dict[str, int] = {}
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for b in benches:
        info = b.get("extra_info", {})
        if "start" not in info:
            continue
        per_k = b["stats"]["median"] / info["insns"] * 1000
        cells[info["object"]][(info["mode"], info["start"])] = per_k
        insns[info["object"]] = info["insns"]
        totals[(info["mode"], info["start"])][0] += b["stats"]["median"]
        totals[(info["mode"], info["start"])][1] += info["insns"]
    columns = [("checked", "cold"), ("unchecked", "cold"), ("checked", "disk"), ("unchecked", "disk")]
    rows = ["| object | insns | " + " | ".join(f"{m} {s}" for m, s in columns) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |"]
    for obj in sorted(cells, key=lambda o: -insns[o]):
        rows.append(f"| {obj} | {insns[obj]} | " + " | ".join(
            f"{cells[obj][c] * 1000:.1f} ms" if c in cells[obj] else "-" for c in columns) + " |")
    rows.append("| **all (total time / total insns)** | | " + " | ".join(
        f"**{totals[c][0] / totals[c][1] * 1e6:.1f} ms**" if totals[c][1] else "-" for c in columns) + " |")
    return rows


def simple_table(benches: list[dict], group_prefix: str) -> list[str]:
    rows = ["| benchmark | median | min |", "| --- | ---: | ---: |"]
    for b in benches:
        if (b.get("group") or "").startswith(group_prefix):
            rows.append(f"| {b['name']} | {_us(b['stats']['median'])} | {_us(b['stats']['min'])} |")
    return rows


def main(path: str) -> None:
    benches = json.loads(open(path).read())["benchmarks"]
    print("## Compute suite (median per run)\n")
    print("\n".join(compute_table(benches)))
    print("\n## Compile time per 1,000 instructions (median per object, all its programs)\n")
    print("\n".join(compile_table(benches)))
    print("\n## Per-call overhead\n")
    print("\n".join(simple_table(benches, "per-call")))
    print("\n## Compile time, straight-line programs\n")
    print("\n".join(simple_table(benches, "compile-")))


if __name__ == "__main__":
    main(sys.argv[1])
