"""``ebpflite bench``: time per run and runs per second, engine by engine.

One program, one input (a hex ``--mem`` file, a raw ``--data-in`` file as
bpftool takes it, or every packet of a ``--pcap`` capture), several ways of
running it, one table:

- ``interp`` and ``jit``: ebpflite's engines, timed through the same
  ``run(repeat=N)`` path the Python API uses (the per-call cost from Python is
  part of the figure, as it is for a user);
- ``jit (batch)``: for batch-safe Linux XDP programs, the JIT's
  one-native-call loop over all the packets, through the replay path of
  ``ebpflite xdp`` (``runtime/replay.py``), the figure that matters for replay;
- ``kernel``: ``bpftool prog run ... repeat N`` (BPF_PROG_TEST_RUN), inside
  ``unshare --mount`` with a fresh bpffs on /sys/fs/bpf, so nothing is left
  pinned on the host; the kernel reports its own average duration;
- ``native C`` (``--c SOURCE.c``): the same C function compiled with
  ``gcc -O2`` against a tiny timing harness (no Python in the loop). The
  function must be ``u64 NAME(u8 *mem, u64 len)`` (a one-argument
  ``u64 NAME(u8 *mem)`` works too), NAME being the program's name.

A row that cannot run here (no JIT, no kernel BPF, no gcc) stays in the
table with the reason, rather than silently disappearing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from ebpflite.cli.loadopts import BTF_OPTION, TYPE_OPTION
from ebpflite.errors import EbpfError

ENGINE_SETS = {"interp": ("interp",), "jit": ("jit",), "both": ("interp", "jit"),
               "all": ("interp", "jit", "kernel")}
KERNEL_PIN = "/sys/fs/bpf/ebpflite_bench"
KERNEL_MAX_PACKETS = 64  #: distinct packets sent to the kernel (one bpftool call each)
TIMEOUT = 600


@dataclass
class Row:
    """One way of running the program; ``ns_per_run`` is None when it could not run."""

    engine: str
    ns_per_run: float | None = None
    r0: int | None = None
    runs: int = 0
    setup_ms: float | None = None  #: load/compile time before the first run
    note: str = ""  #: why the row is unavailable, or how it was measured

    @property
    def runs_per_s(self) -> float | None:
        return 1e9 / self.ns_per_run if self.ns_per_run else None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["available"] = self.ns_per_run is not None
        out["runs_per_s"] = self.runs_per_s
        return out


@dataclass
class Target:
    """What is benchmarked: the program, where it came from and its inputs."""

    path: Path
    name: str
    program: object  #: vm.program.Program (verified and xlated when verification is on)
    inputs: list[bytes]
    elf: bool  #: an object file (the kernel can load it) rather than raw bytecode/assembly
    platform: str = "linux"
    map_specs: tuple = ()
    btf: object = None

    @property
    def is_xdp(self) -> bool:
        return getattr(self.program, "prog_type", "") == "xdp"


# --- inputs ------------------------------------------------------------------------------------


def read_inputs(mem: Path | None, data_in: Path | None, pcap: Path | None, limit: int | None = None) -> list[bytes]:
    """The runs' input buffers (at most ``limit`` packets of a capture); at most one source may be given."""
    given = [opt for opt, value in (("--mem", mem), ("--data-in", data_in), ("--pcap", pcap)) if value]
    if len(given) > 1:
        raise click.UsageError(f"give one input, not {' and '.join(given)}")
    if mem is not None:
        from ebpflite.cli.run import parse_hex

        return [parse_hex(mem.read_text(errors="replace"), str(mem))]
    if data_in is not None:
        return [data_in.read_bytes()]
    if pcap is not None:
        from ebpflite.errors import PcapError
        from ebpflite.helpers.pcap import CaptureStream

        packets: list[bytes] = []
        try:
            with CaptureStream(pcap) as stream:  # a big capture is not read whole for per-run timing
                for chunk in stream:
                    packets.extend(chunk.data(i) for i in range(len(chunk)))
                    if limit is not None and len(packets) >= limit:
                        del packets[limit:]
                        break
        except PcapError as exc:
            raise click.BadParameter(str(exc), param_hint="--pcap") from None
        if not packets:
            raise click.BadParameter(f"{pcap} holds no packets", param_hint="--pcap")
        return packets
    return [b""]


def load_target(path: Path, prog: str | None, inputs: list[bytes], verify: bool, prog_type: str | None = None,
                btf: Path | None = None) -> Target:
    """Load an object (.o), a C source (.c, compiled first), raw bytecode or assembly."""
    if path.suffix == ".c":
        from ebpflite.loader.cc import compile_c

        out = Path(tempfile.mkdtemp(prefix="ebpflite-bench-")) / (path.stem + ".o")
        path = compile_c(path, out)
    head = path.read_bytes()[:4]
    if head != b"\x7fELF":
        from ebpflite.cli.run import load_program

        if prog:
            raise click.UsageError("--prog selects a program of an object file; raw bytecode has one")
        return Target(path, path.stem, load_program(path), inputs, elf=False)
    from ebpflite.loader import load_object

    obj = load_object(path, prog_type=prog_type, btf=btf)
    if not obj.programs:
        raise click.ClickException(f"{path} holds no program")
    if prog is None:
        if len(obj.programs) > 1:
            raise click.UsageError(f"{path} holds {len(obj.programs)} programs ({', '.join(obj.programs)}); "
                                   "choose one with --prog")
        prog = next(iter(obj.programs))
    if prog not in obj.programs:
        raise click.BadParameter(f"{path} has no program {prog!r}; it has {', '.join(obj.programs)}",
                                 param_hint="--prog")
    program = obj.programs[prog]
    if verify:
        from ebpflite.verifier import check

        program = check(program)
    if program.prog_type == "xdp" and inputs == [b""]:
        raise click.UsageError("an XDP program needs a packet: give --data-in, --mem or --pcap")
    if program.prog_type == "xdp" and any(len(p) < 14 for p in inputs):
        raise click.BadParameter("an XDP program needs packets of at least 14 bytes (an Ethernet header); "
                                 "give one with --data-in, --mem or --pcap")
    return Target(path, prog, program, inputs, elf=True, platform=obj.platform, map_specs=tuple(obj.maps),
                  btf=obj.btf)


# --- our engines ---------------------------------------------------------------------------------


def _spread(n: int, inputs: list[bytes]) -> list[tuple[bytes, int]]:
    """``n`` runs shared out over the inputs: (input, repeat) pairs."""
    used = inputs[:n]
    base, extra = divmod(n, len(used))
    return [(data, base + (i < extra)) for i, data in enumerate(used)]


def time_engine(target: Target, engine: str, n: int) -> Row:
    """Average time per run of ``engine`` over ``n`` runs (one untimed warm-up run first)."""
    if engine == "jit":
        from ebpflite.runtime.engines import unavailable

        reason = unavailable("jit")
        if reason is not None:
            return Row(engine, note=f"the JIT is not available: {reason}")
    if not target.elf:
        return _time_raw(target, engine, n)
    from ebpflite.api import Object

    start = time.perf_counter()
    obj = Object(str(target.path), target.platform, {target.name: target.program}, list(target.map_specs),
                 engine=engine, btf=target.btf)
    handle = obj.programs[target.name]
    runner = handle.runner(engine)
    setup_ms = (time.perf_counter() - start) * 1e3
    handle.run(packet=target.inputs[0])  # warm-up
    total_ns, result = 0.0, None
    for data, repeat in _spread(n, target.inputs):
        result = runner.run(packet=data, repeat=repeat)
        total_ns += result.duration_ns * repeat
    return Row(engine, total_ns / n, result.r0, n, setup_ms, "Python API, run(repeat=N)")


def _time_raw(target: Target, engine: str, n: int) -> Row:
    from ebpflite.runtime.engines import on_memory

    total_ns, setup_ms, r0 = 0, 0.0, None
    for data, repeat in _spread(n, target.inputs):
        start = time.perf_counter()
        runner = on_memory(target.program, data, engine, budget=None)
        setup_ms = max(setup_ms, (time.perf_counter() - start) * 1e3)
        runner.run()  # warm-up
        start_ns = time.perf_counter_ns()
        for _ in range(repeat):
            r0 = runner.run().r0
        total_ns += time.perf_counter_ns() - start_ns
    return Row(engine, total_ns / n, r0, n, setup_ms, "engine.run() in a Python loop")


def time_jit_batch(target: Target, n: int) -> Row:
    """Per-packet time of the JIT's batch loop (Linux XDP objects only), through the same
    batch path as ``ebpflite xdp`` (runtime/replay.py decides batch safety and runs the
    native loop): the packets are packed once and the loop is timed over them."""
    from ebpflite.api import Object

    obj = Object(str(target.path), target.platform, {target.name: target.program}, list(target.map_specs),
                 engine="jit", btf=target.btf)
    try:
        replayer = obj.programs[target.name].replayer("jit", batch=True)
    except ValueError as exc:
        return Row("jit (batch)", note=str(exc))
    packets = target.inputs * max(1, -(-min(n, 100_000) // len(target.inputs)))
    ns, verdict, runs = replayer.time_batch(packets, max(1, n // len(packets)))
    if verdict is None:
        return Row("jit (batch)", note="no packet fits the XDP frame")
    return Row("jit (batch)", ns, verdict, runs, note=f"one native call per {len(packets)} packets")


# --- the kernel ----------------------------------------------------------------------------------


def kernel_unavailable() -> str | None:
    """Why ``bpftool prog run`` cannot be used here, or None."""
    for tool in ("bpftool", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "needs root (CAP_BPF, and CAP_SYS_ADMIN to mount a private bpffs)"
    return None


def time_kernel(target: Target, n: int) -> Row:
    """The kernel's own average duration (BPF_PROG_TEST_RUN via bpftool), in a private bpffs."""
    if not target.elf:
        return Row("kernel", note="raw bytecode: bpftool loads object files only")
    reason = kernel_unavailable()
    if reason:
        return Row("kernel", note=reason)
    with tempfile.TemporaryDirectory(prefix="ebpflite-bench-") as tmp:
        work = Path(tmp)
        pin = KERNEL_PIN
        lines = ["set -u", f"mount -t bpf bpf /sys/fs/bpf && mkdir -p {pin} || exit 2",
                 f"bpftool prog loadall {shlex.quote(str(target.path))} {pin}/progs pinmaps {pin}/maps "
                 f">/dev/null 2>{work}/load.err || {{ rm -rf {pin}; exit 3; }}"]
        runs = _spread(n, target.inputs[:KERNEL_MAX_PACKETS])
        for i, (data, repeat) in enumerate(runs):
            (work / f"in{i}").write_bytes(data or bytes(1))
            lines.append(f"bpftool prog run pinned {pin}/progs/{shlex.quote(target.name)} "
                         f"data_in {work}/in{i} repeat {repeat} 2>&1")
        lines.append(f"rm -rf {pin}")
        script = work / "run.sh"
        script.write_text("\n".join(lines) + "\n")
        try:
            proc = subprocess.run(["unshare", "--mount", "bash", str(script)], capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return Row("kernel", note=f"bpftool did not finish within {TIMEOUT} s")
        if proc.returncode == 2:
            return Row("kernel", note=f"cannot mount a private bpffs: {_last_line(proc.stderr)}")
        if proc.returncode == 3:
            err = (work / "load.err").read_text(errors="replace")
            return Row("kernel", note=f"the kernel refused to load the object: {_first_error(err)}")
        durations = _parse_bpftool_runs(proc.stdout)
        if len(durations) != len(runs):
            return Row("kernel", note=f"bpftool prog run failed: {_last_line(proc.stdout + proc.stderr)}")
        total = sum(ns * repeat for (_, ns), (_, repeat) in zip(durations, runs, strict=True))
        return Row("kernel", total / sum(r for _, r in runs), durations[-1][0], sum(r for _, r in runs),
                   note="bpftool prog run ... repeat N (kernel's own average)")


def _parse_bpftool_runs(stdout: str) -> list[tuple[int, float]]:
    """(return value, ns) for each ``Return value: 2, duration (average): 31ns`` line."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("Return value:") and "duration" in line:
            retval = int(line.split(":")[1].split(",")[0])
            ns = float(line.rsplit(":", 1)[1].strip().removesuffix("ns"))
            out.append((retval, ns))
    return out


def _first_error(text: str) -> str:
    """The line of bpftool/libbpf output that says what went wrong (not its closing advice)."""
    for line in text.splitlines():
        if any(word in line for word in ("failed", "Error", "error", "invalid", "denied")):
            return line.strip()[:200]
    return _last_line(text)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no message)"


# --- native C ------------------------------------------------------------------------------------

HARNESS = r"""
/* ebpflite bench: times BENCH_FN natively. argv: input file, runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef unsigned long long u64;
u64 BENCH_FN(unsigned char *mem, u64 len);
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 3;
    static unsigned char raw[1 << 24];
    size_t size = fread(raw, 1, sizeof raw, f);
    fclose(f);
    /* records: u32 length, bytes */
    unsigned char *bufs[4096]; u64 lens[4096]; int count = 0; size_t at = 0;
    while (at + 4 <= size && count < 4096) {
        unsigned int len; memcpy(&len, raw + at, 4); at += 4;
        bufs[count] = aligned_alloc(64, len + 64); memcpy(bufs[count], raw + at, len);
        lens[count++] = len; at += len;
    }
    if (!count) return 4;
    long runs = atol(argv[2]);
    volatile u64 sink = BENCH_FN(bufs[0], lens[0]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < runs; i++) sink = BENCH_FN(bufs[i % count], lens[i % count]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%llu %.1f\n", (u64)sink, ns / runs);
    return 0;
}
"""


def time_native(source: Path, name: str, inputs: list[bytes], n: int) -> Row:
    """``source``'s function ``name`` built with gcc -O2 and timed by :data:`HARNESS`."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return Row("native C", note="no gcc (or cc) on PATH")
    with tempfile.TemporaryDirectory(prefix="ebpflite-bench-") as tmp:
        work = Path(tmp)
        (work / "harness.c").write_text(HARNESS)
        exe = work / "bench"
        argv = [gcc, "-O2", "-fno-builtin", f"-DBENCH_FN={name}", str(work / "harness.c"), str(source),
                "-o", str(exe)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return Row("native C", note="gcc timed out")
        if proc.returncode != 0:
            raise click.ClickException(f"gcc -O2 could not build {source} with the timing harness (it needs "
                                       f"a function `u64 {name}(u8 *mem, u64 len)`):\n"
                                       + proc.stderr.strip()[-1500:])
        records = b"".join(struct.pack("<I", len(d)) + d for d in inputs[:4096])
        (work / "input.bin").write_bytes(records)
        proc = subprocess.run([str(exe), str(work / "input.bin"), str(n)], capture_output=True, text=True,
                              timeout=TIMEOUT)
        if proc.returncode != 0:
            return Row("native C", note=f"the native build exited with status {proc.returncode}")
        r0, ns = proc.stdout.split()
        return Row("native C", float(ns), int(r0), n, note="gcc -O2, timed in C (no Python in the loop)")


# --- output --------------------------------------------------------------------------------------


def format_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def format_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.3g} {unit}"
    return f"{rate:.3g}"


def render(target: Target, rows: list[Row], n: int) -> None:
    from rich.console import Console
    from rich.table import Table

    inputs = f"{len(target.inputs)} input(s)" if len(target.inputs) > 1 else f"{len(target.inputs[0])} bytes"
    table = Table(title=f"{target.name} ({getattr(target.program, 'prog_type', 'raw')}, "
                        f"{len(target.program)} insns), {inputs}, -n {n}")
    for column, justify in (("engine", "left"), ("time/run", "right"), ("runs/s", "right"),
                            ("vs interp", "right"), ("setup", "right"), ("r0", "right"), ("how", "left")):
        table.add_column(column, justify=justify)
    interp = next((r.ns_per_run for r in rows if r.engine == "interp" and r.ns_per_run), None)
    for row in rows:
        if row.ns_per_run is None:
            table.add_row(row.engine, "unavailable", "-", "-", "-", "-", row.note, style="dim")
            continue
        speedup = f"{interp / row.ns_per_run:.3g}x" if interp else "-"
        setup = f"{row.setup_ms:.1f} ms" if row.setup_ms is not None else "-"
        table.add_row(row.engine, format_ns(row.ns_per_run), format_rate(row.runs_per_s), speedup, setup,
                      str(row.r0), row.note)
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    console.print(table)
    values = {r.r0 for r in rows if r.r0 is not None}
    if len(target.inputs) == 1 and len(values) > 1:
        console.print("[bold red]warning:[/] the rows disagree on r0")


# --- the command ---------------------------------------------------------------------------------

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("bench")
@click.argument("prog_path", metavar="PROG", type=_FILE)
@click.option("--mem", type=_FILE, help="File of hex bytes: the input memory or packet.")
@click.option("--data-in", type=_FILE, help="Raw binary input (as bpftool prog run data_in takes it).")
@click.option("--pcap", type=_FILE, help="Capture (pcap/pcapng): runs are shared out over its packets.")
@click.option("--prog", "prog_name", help="Which program of the object (needed when it holds several).")
@click.option("--engine", type=click.Choice(list(ENGINE_SETS)), default="both", show_default=True,
              help="interp, jit, both, or all (both plus the kernel, via bpftool prog run).")
@click.option("-n", "runs", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Timed runs per engine.")
@click.option("--c", "c_source", type=_FILE, help="C source of the program: adds a native gcc -O2 row "
              "(function `u64 NAME(u8 *mem, u64 len)`).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Verify an object's program first (verified code runs without runtime checks).")
@TYPE_OPTION
@BTF_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_command(prog_path: Path, mem: Path | None, data_in: Path | None, pcap: Path | None,
                  prog_name: str | None, engine: str, runs: int, c_source: Path | None, verify: bool,
                  prog_type: str | None, btf: Path | None, as_json: bool) -> None:
    """Time PROG per run on each engine (and the kernel, and native C)."""
    inputs = read_inputs(mem, data_in, pcap, limit=max(runs, KERNEL_MAX_PACKETS))
    target = load_target(prog_path, prog_name, inputs, verify, prog_type, btf)
    rows: list[Row] = []
    for name in ENGINE_SETS[engine]:
        if name == "kernel":
            rows.append(time_kernel(target, runs))
            continue
        try:
            rows.append(time_engine(target, name, runs))
        except EbpfError as exc:
            rows.append(Row(name, note=f"failed: {exc}"))
        if name == "jit" and target.elf and target.is_xdp and target.platform == "linux" and rows[-1].ns_per_run:
            rows.append(time_jit_batch(target, runs))
    if pcap is not None and target.is_xdp:  # the whole capture, end to end, beside the kernel's loop
        from ebpflite.cli import bench_replay

        for name in ENGINE_SETS[engine]:
            if name in ("interp", "jit"):
                try:
                    rows.append(bench_replay.time_replay(target, pcap, name))
                except EbpfError as exc:
                    rows.append(Row(f"replay ({name})", note=f"failed: {exc}"))
        if "kernel" in ENGINE_SETS[engine]:
            rows.append(bench_replay.time_kernel_loop(target, pcap))
    if c_source is not None:
        rows.append(time_native(c_source, target.name, inputs, runs))
    if as_json:
        click.echo(json.dumps({"program": target.name, "path": str(target.path),
                               "prog_type": getattr(target.program, "prog_type", None),
                               "insns": len(target.program), "inputs": len(inputs), "runs": runs,
                               "results": [r.as_dict() for r in rows]}, indent=2))
    else:
        render(target, rows, runs)


def register(group: click.Group) -> None:
    group.add_command(bench_command)
