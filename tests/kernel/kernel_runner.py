"""Running XDP programs in the real kernel with bpftool, for differential tests.

Everything happens in one ``unshare --mount`` shell per batch: a fresh bpffs
is mounted on /sys/fs/bpf inside the private mount namespace, the object is
loaded and pinned there (with its maps), map entries are set, each packet
goes through ``bpftool prog run`` (BPF_PROG_TEST_RUN), the maps are dumped
as JSON, and the pins are removed. The host's /sys/fs/bpf is never touched.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROGS = Path(__file__).resolve().parent / "progs"
PIN = "/sys/fs/bpf/ebpflite_diff"


@dataclass
class KernelRun:
    retval: int | None  #: None when bpftool refused the run
    data_out: bytes | None
    ctx_out: bytes | None = None
    error: str = ""


@dataclass
class KernelBatch:
    runs: list[KernelRun] = field(default_factory=list)
    maps: dict[str, list] = field(default_factory=dict)


def missing_capability() -> str | None:
    """Why kernel tests cannot run here, or None."""
    for tool in ("bpftool", "unshare", "clang"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "kernel BPF tests need root (CAP_BPF and CAP_SYS_ADMIN for unshare/mount)"
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t bpf bpf /sys/fs/bpf && bpftool prog show"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"the kernel refuses BPF here: {probe.stderr.strip()[:200]}"
    return None


def compile_prog(name: str, out_dir: Path) -> Path:
    """Compile tests/kernel/progs/NAME.c with clang -target bpf -O2 -g."""
    out = out_dir / f"{name}.o"
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    cmd = ["clang", "-target", "bpf", "-O2", "-g", "-I", str(REPO / "include"),
           "-I", f"/usr/include/{multiarch}", "-c", str(PROGS / f"{name}.c"), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


def run_in_kernel(obj: Path, work: Path, packets: list[bytes], *, repeat: int = 1,
                  ctx_in: list[bytes | None] | None = None,
                  map_updates: list[tuple[str, bytes, bytes]] = (), net_setup: list[str] | None = None,
                  load_args: str = "") -> KernelBatch:
    """Load ``obj`` (its first program), apply map updates, run each packet, dump the maps.

    With ``net_setup`` (shell lines: ``ip link add ...``) the runs happen in a fresh network
    namespace configured by those lines, so routes, neighbours and sockets are the test's own.
    ``load_args`` go to ``bpftool prog load`` (``type tc`` for objects whose sections name no type).
    """
    lines = ["set -u", f"mount -t bpf bpf /sys/fs/bpf && mkdir -p {PIN}"]
    lines += list(net_setup or [])
    lines.append(f"bpftool prog load {shlex.quote(str(obj))} {PIN}/prog {load_args} pinmaps {PIN}/maps "
                 ">/dev/null || exit 3")
    for name, key, value in map_updates:
        lines.append(f"bpftool map update pinned {PIN}/maps/{name} key {' '.join(map(str, key))} "
                     f"value {' '.join(map(str, value))} || exit 4")
    for i, packet in enumerate(packets):
        (work / f"in{i}").write_bytes(packet)
        ctx = ""
        if ctx_in and ctx_in[i] is not None:
            (work / f"ctx{i}").write_bytes(ctx_in[i])
            ctx = f" ctx_in {work}/ctx{i} ctx_out {work}/ctxout{i}"
        lines.append(f"echo '=== {i}'; bpftool prog run pinned {PIN}/prog data_in {work}/in{i} "
                     f"data_out {work}/out{i}{ctx} repeat {repeat} 2>&1")
    lines.append(f"for m in {PIN}/maps/*; do echo \"=== map $(basename $m)\"; bpftool -j map dump pinned $m; "
                 "echo; done")
    lines.append(f"rm -rf {PIN}")
    script = work / "run.sh"
    script.write_text("\n".join(lines) + "\n")
    unshare = ["unshare", "--mount"] + (["--net"] if net_setup is not None else [])
    proc = subprocess.run([*unshare, "bash", str(script)], capture_output=True, text=True, timeout=300)
    if proc.returncode == 3:
        raise RuntimeError(f"the kernel refused to load {obj.name}: {proc.stderr[-2000:]}")
    if proc.returncode:
        raise RuntimeError(f"kernel run failed ({proc.returncode}): {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    return _parse(proc.stdout, work, len(packets))


def _parse(stdout: str, work: Path, n: int) -> KernelBatch:
    batch = KernelBatch()
    chunks = stdout.split("=== ")[1:]
    for chunk in chunks:
        head, _, body = chunk.partition("\n")
        if head.startswith("map "):
            batch.maps[head[4:].strip()] = json.loads(body.strip() or "[]")
            continue
        i = int(head)
        if "Return value:" in body:
            retval = int(body.split("Return value:")[1].split(",")[0])
            out = (work / f"out{i}").read_bytes() if (work / f"out{i}").exists() else b""
            ctx = work / f"ctxout{i}"
            batch.runs.append(KernelRun(retval, out, ctx.read_bytes() if ctx.exists() else None))
        else:
            batch.runs.append(KernelRun(None, None, error=body.strip()))
    assert len(batch.runs) == n, stdout
    return batch


def kernel_map_entries(dump: list) -> dict[bytes, bytes]:
    """bpftool -j map dump -> {key bytes: value bytes}."""
    out = {}
    for entry in dump:
        key = bytes(int(b, 16) for b in entry["key"])
        value = bytes(int(b, 16) for b in entry["value"])
        out[key] = value
    return out
