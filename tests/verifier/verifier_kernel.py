"""Asking the running kernel's verifier for its verdict on an object file.

Each object is loaded with ``bpftool prog load`` inside a private mount
namespace (``unshare --mount``) on a fresh bpffs, so nothing stays pinned
on the host; the pin is removed before the namespace goes away anyway.
The kernel judges as it does for root (CAP_SYS_ADMIN, CAP_PERFMON): that is
how real loaders run. Without those capabilities it adds Spectre
mitigations (no variable pointer arithmetic, no pointer subtraction) that
reject ordinary packet parsers; with them it lets programs leak pointers
and read uninitialised stack, which ebpflite never allows. Those cases are
listed in verifier/README.md and in the agreement test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120


@dataclass
class KernelVerdict:
    ok: bool
    log: str


def unavailable() -> str | None:
    """Why kernel verdicts cannot be had here (None when they can)."""
    for tool in ("bpftool", "unshare", "setpriv"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "loading BPF programs needs root"
    return None


def _bpftool() -> str:
    return shutil.which("bpftool") or "/usr/sbin/bpftool"


def kernel_verdict(obj: Path, name: str, privileged: bool = True) -> KernelVerdict:
    """Load ``obj`` into the kernel; ok=False with the verifier log when it refuses."""
    pin = f"/sys/fs/bpf/{name}"
    drop = "" if privileged else "setpriv --inh-caps=-all --bounding-set=-sys_admin,-perfmon "
    script = (f"mount -t bpf bpf /sys/fs/bpf || exit 97; "
              f"{drop}{_bpftool()} prog load {obj} {pin}; rc=$?; rm -f {pin}; exit $rc")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True,
                          timeout=TIMEOUT)
    log = proc.stdout + proc.stderr
    if proc.returncode == 97:
        raise RuntimeError(f"cannot mount a bpffs: {log.strip()}")
    return KernelVerdict(proc.returncode == 0, log)


def bpf_refused(log: str) -> bool:
    """True when the failure is the kernel refusing BPF altogether, not the verifier."""
    return ("Operation not permitted" in log and "PROG LOAD LOG" not in log) or "bpf() syscall" in log
