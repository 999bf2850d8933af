"""``ebpflite bench --pcap``: replaying the whole capture, ebpflite against the kernel's own loop.

Two rows for an XDP object and a capture, both in packets per second over
every packet of the capture:

- ``replay (jit)``/``replay (interp)``: the capture replayed end to end
  through the same path as ``ebpflite xdp`` (runtime/replay.py): read from
  the file in chunks, frames refused, the batch loop or per-packet runs,
  counts. Loading and compiling are reported as setup, not in the rate.
- ``kernel (test_run loop)``: what a C tool built on libbpf does to replay a
  capture through the kernel: one ``bpf(BPF_PROG_TEST_RUN)`` syscall per
  packet (:data:`TEST_RUN_LOOP_C`, compiled with gcc), the object loaded by
  bpftool into a private bpffs inside ``unshare --mount``. Its time is the
  loop's own (clock_gettime around it).

A row that cannot run here (no gcc, no root, a kernel that refuses the
object) stays in the table with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: the kernel's per-packet replay loop (bench/replay_e2e.py builds it from here too)
TEST_RUN_LOOP_C = r"""
/* test_run_loop PINNED_PROG CAPTURE.pcap: one BPF_PROG_TEST_RUN syscall per packet of a classic
 * pcap (either byte order, micro- or nanosecond), as a libbpf tool's bpf_prog_test_run_opts()
 * loop does. Prints JSON: packets, seconds of the loop (CLOCK_MONOTONIC), CPU seconds of the
 * loop (user + system), action counts (r0 0..6, 7 = anything else) and refused runs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

static uint32_t rd32(const unsigned char *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: %s PINNED_PROG CAPTURE.pcap\n", argv[0]); return 2; }
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.pathname = (uint64_t)(uintptr_t)argv[1];
    int prog = sys_bpf(BPF_OBJ_GET, &attr);
    if (prog < 0) { fprintf(stderr, "BPF_OBJ_GET %s: %s\n", argv[1], strerror(errno)); return 3; }
    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 24) { fprintf(stderr, "cannot read %s\n", argv[2]); return 4; }
    const unsigned char *cap = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (cap == MAP_FAILED) { fprintf(stderr, "mmap %s: %s\n", argv[2], strerror(errno)); return 4; }
    uint32_t magic;
    memcpy(&magic, cap, 4);
    int swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    if (!swap && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) { fprintf(stderr, "not a classic pcap\n"); return 4; }
    static unsigned char out[65536];
    unsigned long long actions[8] = {0}, refused = 0, packets = 0;
    struct timespec t0, t1;
    double c0 = cpu_seconds();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t off = 24; off + 16 <= (size_t)st.st_size;) {
        uint32_t caplen = rd32(cap + off + 8, swap);
        if (off + 16 + caplen > (size_t)st.st_size)
            break;
        memset(&attr, 0, sizeof(attr));
        attr.test.prog_fd = prog;
        attr.test.data_in = (uint64_t)(uintptr_t)(cap + off + 16);
        attr.test.data_size_in = caplen;
        attr.test.data_out = (uint64_t)(uintptr_t)out;
        attr.test.data_size_out = sizeof(out);
        attr.test.repeat = 1;
        if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0)
            refused++;
        else
            actions[attr.test.retval < 7 ? attr.test.retval : 7]++;
        packets++;
        off += 16 + caplen;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double cpu = cpu_seconds() - c0;
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"packets\": %llu, \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"refused\": %llu, \"actions\": [",
           packets, seconds, cpu, refused);
    for (int i = 0; i < 8; i++)
        printf("%s%llu", i ? ", " : "", actions[i]);
    printf("]}\n");
    return 0;
}
"""

PIN = "/sys/fs/bpf/ebpflite_replay"
TIMEOUT = 1800
XDP_ACTIONS = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"]


def build_test_run_loop(directory: Path) -> Path:
    """Compile :data:`TEST_RUN_LOOP_C` with gcc -O2 into ``directory`` (CalledProcessError if gcc fails)."""
    src = directory / "test_run_loop.c"
    exe = directory / "test_run_loop"
    current = src.read_text() if src.exists() else ""
    if not exe.exists() or current != TEST_RUN_LOOP_C:
        src.write_text(TEST_RUN_LOOP_C)
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True, capture_output=True, timeout=120)
    return exe


def test_run_loop_unavailable() -> str | None:
    """Why the kernel's per-packet loop cannot run here, or None."""
    for tool in ("bpftool", "unshare", "gcc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "needs root (bpf(), and CAP_SYS_ADMIN to mount a private bpffs)"
    return None


def kernel_test_run_loop(obj: Path, capture: Path, *, map_updates: list[tuple[str, bytes, bytes]] = (),
                         work: Path | None = None) -> dict[str, Any]:
    """Run the loop on ``capture`` with ``obj``'s (first) program; returns the loop's JSON plus
    ``counts`` (action name -> packets) or ``{"error": why}``."""
    reason = test_run_loop_unavailable()
    if reason:
        return {"error": reason}
    with tempfile.TemporaryDirectory(prefix="ebpflite-loop-") as tmp:
        directory = work or Path(tmp)
        try:
            loop = build_test_run_loop(directory)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            return {"error": f"gcc could not build the loop: {getattr(exc, 'stderr', b'')!r:.200}"}
        quoted = shlex.quote(str(obj))
        lines = ["set -u", f"mount -t bpf bpf /sys/fs/bpf && mkdir -p {PIN} || exit 5",
                 # maps libbpf pins by name (libxdp's) go to /sys/fs/bpf itself: load without pinmaps then
                 f"bpftool prog load {quoted} {PIN}/prog type xdp pinmaps {PIN}/maps >/dev/null 2>&1 || "
                 f"bpftool prog load {quoted} {PIN}/prog type xdp >/dev/null || exit 3"]
        for name, key, value in map_updates:
            lines.append(f"m={PIN}/maps/{name}; [ -e $m ] || m=/sys/fs/bpf/{name}; bpftool map update pinned $m "
                         f"key {' '.join(map(str, key))} value {' '.join(map(str, value))} || exit 4")
        lines.append(f"{shlex.quote(str(loop))} {PIN}/prog {shlex.quote(str(capture))}")
        try:
            proc = subprocess.run(["unshare", "--mount", "bash", "-c", "\n".join(lines)], capture_output=True,
                                  text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"error": f"the kernel loop did not finish within {TIMEOUT} s"}
    errors = {3: "the kernel refused to load the object", 4: "bpftool could not set a map entry",
              5: "cannot mount a private bpffs"}
    if proc.returncode:
        detail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:]
        return {"error": f"{errors.get(proc.returncode, f'the loop failed ({proc.returncode})')}: "
                         f"{' '.join(detail)[:200]}"}
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = {XDP_ACTIONS[i] if i < len(XDP_ACTIONS) else str(i): n for i, n in enumerate(data["actions"]) if n}
    if data["refused"]:
        counts["invalid"] = data["refused"]
    data["counts"] = counts
    return data


def time_replay(target: Any, capture: Path, engine: str) -> Any:
    """The whole capture through runtime/replay.py (reading included); setup = load and compile."""
    from ebpflite.api import Object
    from ebpflite.cli.bench import Row

    start = time.perf_counter()
    obj = Object(str(target.path), target.platform, {target.name: target.program}, list(target.map_specs),
                 engine=engine, btf=target.btf)
    replayer = obj.programs[target.name].replayer(engine)
    setup_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter_ns()
    replay = replayer.run(capture, keep=False)
    elapsed = time.perf_counter_ns() - start
    counts = ", ".join(f"{k} {v}" for k, v in replay.counts.most_common(3))
    return Row(f"replay ({engine})", elapsed / max(1, replay.packets), None, replay.packets, setup_ms,
               f"{replay.mode}, file read in chunks; {counts}")


def time_kernel_loop(target: Any, capture: Path) -> Any:
    from ebpflite.cli.bench import Row

    if not target.elf:
        return Row("kernel (test_run loop)", note="raw bytecode: bpftool loads object files only")
    result = kernel_test_run_loop(target.path, capture)
    if "error" in result:
        return Row("kernel (test_run loop)", note=result["error"])
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result["counts"].items(), key=lambda kv: -kv[1])[:3])
    return Row("kernel (test_run loop)", 1e9 * result["seconds"] / max(1, result["packets"]), None,
               result["packets"], note=f"one BPF_PROG_TEST_RUN per packet from C; {counts}")
