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


# --- one program, loaded as ebpflite relocated it ---------------------------------------------------

_SYS_BPF = 321  # x86-64
_MAP_CREATE, _PROG_LOAD = 0, 5
#: map types whose value the kernel sizes itself (a file descriptor or nothing)
_FD_VALUES = {"prog_array", "array_of_maps", "hash_of_maps", "perf_event_array"}


def _bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(_SYS_BPF, cmd, buf, 128)
    return fd, ctypes.get_errno()


def _create_map(spec, inner_fd: int = 0) -> int:
    import struct

    from ebpflite.helpers import registry

    kind = spec.type if isinstance(spec.type, str) else registry.map_type_name(spec.type, "linux")
    key, value = spec.key_size, spec.value_size
    if kind in _FD_VALUES:
        key, value = 4, 4
    if kind == "ringbuf":
        key = value = 0
    attr = struct.pack("<IIIIIII16s", registry.map_type_number(kind, "linux"), key, value, spec.max_entries or 1,
                       spec.flags or 0, inner_fd, 0, (spec.name or "m")[:15].encode())
    fd, errno = _bpf(_MAP_CREATE, attr)
    if fd < 0:
        raise RuntimeError(f"cannot create map {spec.name} ({kind}): {os.strerror(errno)}")
    return fd


def load_program(program, prog_type: str, inner_template: int | None = None) -> KernelVerdict:
    """BPF_PROG_LOAD of ``program`` as ebpflite's loader linked it, its maps created from its MapSpecs.

    Unlike :func:`kernel_verdict` (bpftool and libbpf decide how the object's maps are laid out),
    the kernel sees exactly the instructions and maps ebpflite verified. ``inner_template``
    (a map index) replaces the inner-map template of every map-in-map, to show what a loader
    that picks another template makes the kernel say. Needs root; the maps are closed afterwards.
    """
    import ctypes
    import struct

    from ebpflite.loader.progtypes import PROG_TYPE_NUMBERS
    from ebpflite.vm.insn import encode
    from ebpflite.vm.isa import PseudoSrc

    fds: dict[int, int] = {}
    try:
        for index, spec in enumerate(program.maps or []):
            inner = 0
            if getattr(spec, "inner", None) is not None:
                inner = fds.setdefault(-1 - index, _create_map(
                    spec.inner if inner_template is None else program.maps[inner_template]))
            fds[index] = _create_map(spec, inner)
        insns = []
        for insn in program.insns:
            if insn.kind.name == "LDDW" and insn.src in (PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE):
                src = PseudoSrc.MAP_FD if insn.src == PseudoSrc.MAP_IDX else PseudoSrc.MAP_VALUE
                insn = insn.with_fields(src=src, imm=fds[insn.imm])
            insns.append(insn)
        code = encode(insns)
        text = ctypes.create_string_buffer(code, len(code))
        license_ = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(1 << 22)
        attr = struct.pack("<IIQQIIQII16s", PROG_TYPE_NUMBERS[prog_type], len(code) // 8, ctypes.addressof(text),
                           ctypes.addressof(license_), 1, len(log), ctypes.addressof(log), 0, 0, b"ebpflite")
        fd, errno = _bpf(_PROG_LOAD, attr)
        message = log.value.decode(errors="replace")
        if fd >= 0:
            os.close(fd)
        return KernelVerdict(fd >= 0, message if fd >= 0 else f"{message}\n{os.strerror(errno)}")
    finally:
        for fd in fds.values():
            os.close(fd)
