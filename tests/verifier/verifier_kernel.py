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


# --- asking the kernel which helpers a program type may call ---------------------------------------

_NR_BPF = {"x86_64": 321, "aarch64": 280}
_PROG_LOAD = 5


def load_raw(prog_type: int, code: bytes, attach: int = 0, flags: int = 0) -> tuple[bool, str]:
    """``bpf(BPF_PROG_LOAD)`` of raw instructions as root: (loaded, verifier log).

    No object file and no bpffs: the question asked here (may this type call
    this helper?) is answered by the verifier before anything is pinned.
    """
    import ctypes
    import struct

    nr = _NR_BPF.get(os.uname().machine)
    if nr is None:
        raise RuntimeError(f"no bpf syscall number known for {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    log = ctypes.create_string_buffer(1 << 16)
    license_ = ctypes.create_string_buffer(b"GPL")
    insns = ctypes.create_string_buffer(code, len(code))
    attr = bytearray(144)  # union bpf_attr, BPF_PROG_LOAD part
    struct.pack_into("<IIQQIIQII", attr, 0, prog_type, len(code) // 8, ctypes.addressof(insns),
                     ctypes.addressof(license_), 1, len(log), ctypes.addressof(log), 0, flags)
    struct.pack_into("<I", attr, 68, attach)  # expected_attach_type
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    fd = libc.syscall(nr, _PROG_LOAD, buf, len(attr))
    if fd >= 0:
        os.close(fd)
    return fd >= 0, log.value.decode(errors="replace")


def kernel_allows_helper(prog_type: int, helper: int, attach: int = 0, flags: int = 0) -> bool:
    """Does the kernel let this program type call ``helper``?

    Refusals: no proto for the type ("cannot use helper"), or a proto whose
    ``allowed`` callback says no for this type ("not allowed in probe").
    Any other verifier complaint (about the arguments we did not set up) means yes.
    """
    import struct

    def insn(op: int, dst: int = 0, imm: int = 0) -> bytes:
        return struct.pack("<BBhi", op, dst, 0, imm)

    code = b"".join([*(insn(0xB7, r) for r in range(1, 6)), insn(0x85, imm=helper), insn(0xB7, 0), insn(0x95)])
    _, log = load_raw(prog_type, code, attach, flags)
    return not any(refusal in log for refusal in ("cannot use helper", "unknown func", "not allowed in probe"))
