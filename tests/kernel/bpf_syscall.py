"""The kernel as an oracle through the bpf(2) system call itself, for objects bpftool cannot load.

libbpf 1.x (and so bpftool) refuses objects with the legacy ``maps`` section
of samples/bpf and iproute2: most of the Linux tc samples, Cilium's and Open
vSwitch's datapaths. ebpflite's loader reads them; this module takes what it
read into the kernel: each map created with BPF_MAP_CREATE (global data
filled and, for .rodata, frozen), each program loaded with BPF_PROG_LOAD with
the map file descriptors in ``fd_array`` (ebpflite keeps map references as
the kernel's BPF_PSEUDO_MAP_IDX/IDX_VALUE, so the instructions go in as they
are), prog arrays filled with program descriptors, and packets run with
BPF_PROG_TEST_RUN. Everything is file descriptors: nothing is pinned, and
closing the :class:`KernelObject` frees it all.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass, field
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = 321  # x86-64
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_GET_NEXT_KEY = 0, 1, 2, 4
BPF_PROG_LOAD, BPF_PROG_TEST_RUN, BPF_MAP_FREEZE = 5, 10, 22
BPF_F_RDONLY_PROG = 1 << 7
ATTR_SIZE = 144

#: program types by ebpflite's name (enum bpf_prog_type)
PROG_TYPES = {"socket_filter": 1, "sched_cls": 3, "sched_act": 4, "xdp": 6, "cgroup_skb": 8, "lwt_in": 10,
              "lwt_out": 11, "lwt_xmit": 12}


class BpfError(OSError):
    """A bpf(2) command failed; ``log`` is the verifier's log for BPF_PROG_LOAD."""

    def __init__(self, code: int, what: str, log: str = ""):
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.log = log


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    ret = _libc.syscall(_SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        return -ctypes.get_errno()
    return ret


def _attr() -> ctypes.Array:
    return (ctypes.c_ubyte * ATTR_SIZE)()


def _put(attr: ctypes.Array, fmt: str, off: int, *values: Any) -> None:
    struct.pack_into(fmt, attr, off, *values)


def _addr(buf: Any) -> int:
    return ctypes.addressof(buf)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0,
               name: str = "", inner_fd: int = 0) -> int:
    attr = _attr()
    _put(attr, "<6I", 0, map_type, key_size, value_size, max_entries, flags, inner_fd)
    raw = name.encode()[:15]
    attr[28:28 + len(raw)] = list(raw)
    fd = _bpf(BPF_MAP_CREATE, attr)
    if fd < 0:
        raise BpfError(-fd, f"BPF_MAP_CREATE {name}")
    return fd


def _elem(cmd: int, fd: int, key: bytes, value: ctypes.Array | None, flags: int = 0) -> int:
    attr = _attr()
    kbuf = (ctypes.c_ubyte * max(1, len(key))).from_buffer_copy(key or b"\0")
    _put(attr, "<IIQQQ", 0, fd, 0, _addr(kbuf), _addr(value) if value is not None else 0, flags)
    return _bpf(cmd, attr)


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    vbuf = (ctypes.c_ubyte * len(value)).from_buffer_copy(value)
    rc = _elem(BPF_MAP_UPDATE_ELEM, fd, key, vbuf, flags)
    if rc < 0:
        raise BpfError(-rc, "BPF_MAP_UPDATE_ELEM")


def map_dump(fd: int, key_size: int, value_size: int) -> dict[bytes, bytes]:
    """Every entry (per-CPU maps: the value of each possible CPU, concatenated, as the kernel gives them)."""
    out: dict[bytes, bytes] = {}
    key: bytes | None = None
    nxt = (ctypes.c_ubyte * key_size)()
    value = (ctypes.c_ubyte * value_size)()
    while True:
        attr = _attr()
        kbuf = (ctypes.c_ubyte * key_size).from_buffer_copy(key) if key is not None else None
        _put(attr, "<IIQQ", 0, fd, 0, _addr(kbuf) if kbuf is not None else 0, _addr(nxt))
        if _bpf(BPF_MAP_GET_NEXT_KEY, attr) < 0:
            return out
        key = bytes(nxt)
        if _elem(BPF_MAP_LOOKUP_ELEM, fd, key, value) == 0:
            out[key] = bytes(value)


def prog_load(prog_type: int, code: bytes, fd_array: list[int], name: str = "", license: str = "GPL") -> int:
    insns = (ctypes.c_ubyte * len(code)).from_buffer_copy(code)
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(1 << 20)
    fds = (ctypes.c_int * max(1, len(fd_array)))(*fd_array)
    attr = _attr()
    _put(attr, "<IIQQIIQ", 0, prog_type, len(code) // 8, _addr(insns), _addr(lic), 1, len(log), _addr(log))
    raw = "".join(c if c.isalnum() or c in "_." else "_" for c in name).encode()[:15]  # the kernel's rule
    attr[48:48 + len(raw)] = list(raw)
    _put(attr, "<Q", 120, _addr(fds))
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd < 0:
        raise BpfError(-fd, f"BPF_PROG_LOAD {name}", log.value.decode(errors="replace"))
    return fd


@dataclass
class TestRun:
    retval: int | None  #: None when the kernel refused the run
    errno: int = 0
    data_out: bytes = b""
    ctx_out: bytes | None = None


def prog_test_run(fd: int, data: bytes, ctx: bytes | None = None, repeat: int = 1) -> TestRun:
    """BPF_PROG_TEST_RUN with data_in (and ctx_in/ctx_out when ``ctx`` is given)."""
    din = (ctypes.c_ubyte * max(1, len(data))).from_buffer_copy(data or b"\0")
    dout = (ctypes.c_ubyte * 65536)()
    attr = _attr()
    _put(attr, "<IIIIQQII", 0, fd, 0, len(data), len(dout), _addr(din), _addr(dout), repeat, 0)
    cin = cout = None
    if ctx is not None:
        cin = (ctypes.c_ubyte * max(1, len(ctx))).from_buffer_copy(ctx or b"\0")
        cout = (ctypes.c_ubyte * 4096)()
        _put(attr, "<IIQQ", 40, len(ctx), len(cout), _addr(cin) if ctx else 0, _addr(cout))
    rc = _bpf(BPF_PROG_TEST_RUN, attr)
    if rc < 0:
        return TestRun(None, -rc)
    retval, size_out = struct.unpack_from("<II", attr, 4)[0], struct.unpack_from("<I", attr, 12)[0]
    ctx_size_out = struct.unpack_from("<I", attr, 44)[0]
    return TestRun(retval, 0, bytes(dout[:size_out]), bytes(cout[:ctx_size_out]) if cout is not None else None)


@dataclass
class KernelObject:
    """An object's maps and programs in the kernel (closing releases them)."""

    maps: dict[str, tuple[int, Any]] = field(default_factory=dict)  #: name -> (fd, MapSpec)
    programs: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  #: program -> why the kernel refused it

    def close(self) -> None:
        for fd in [fd for fd, _ in self.maps.values()] + list(self.programs.values()):
            os.close(fd)
        self.maps.clear()
        self.programs.clear()

    def dump(self, name: str) -> dict[bytes, bytes]:
        """Every entry; per-CPU values are each CPU's, padded to 8 bytes, one after the other."""
        fd, spec = self.maps[name]
        value_size = -(-spec.value_size // 8) * 8 * possible_cpus() if "percpu" in spec.type else spec.value_size
        return map_dump(fd, spec.key_size, value_size)


def possible_cpus() -> int:
    """How many CPUs the kernel's per-CPU maps hold a value for (/sys/devices/system/cpu/possible)."""
    text = open("/sys/devices/system/cpu/possible").read().strip()
    return sum(int(b) - int(a) + 1 if "-" in part else 1
               for part in text.split(",") for a, _, b in [part.partition("-")] if part)


def load_object(objfile: Any, prog_type: str, *, slots: dict[str, tuple[str, int]] | None = None,
                map_types: dict[str, int] | None = None) -> KernelObject:
    """Create ``objfile``'s maps (an ebpflite ``ObjectFile``), load every program as ``prog_type``
    (those the kernel refuses are listed in ``refused``), and put programs into prog arrays:
    ``slots`` maps a program name to (prog array map name, index)."""
    from ebpflite.helpers.registry import map_type_number

    kernel = KernelObject()
    try:
        for spec in objfile.maps:
            number = (map_types or {}).get(spec.type) or map_type_number(spec.type, "linux")
            flags = spec.flags
            fd = map_create(number, spec.key_size, spec.value_size, spec.max_entries, flags, spec.name)
            kernel.maps[spec.name] = (fd, spec)
            initial = spec.initial
            if isinstance(initial, (bytes, bytearray)) and spec.type == "array":
                map_update(fd, bytes(4), bytes(initial).ljust(spec.value_size, b"\0"))
                if flags & BPF_F_RDONLY_PROG:
                    attr = _attr()
                    _put(attr, "<I", 0, fd)
                    _bpf(BPF_MAP_FREEZE, attr)
        fds = [kernel.maps[spec.name][0] for spec in objfile.maps]
        for name, program in objfile.programs.items():
            code = program.bytecode
            try:
                kernel.programs[name] = prog_load(PROG_TYPES[prog_type], code, fds, name)
            except BpfError as exc:
                kernel.refused[name] = f"{exc} {exc.log[-400:]}"
        for name, (map_name, index) in (slots or {}).items():
            if name in kernel.programs and map_name in kernel.maps:
                map_update(kernel.maps[map_name][0], struct.pack("<I", index),
                           struct.pack("<I", kernel.programs[name]))
    except BaseException:
        kernel.close()
        raise
    return kernel


def tail_call_slots(objfile: Any) -> dict[str, tuple[str, int]]:
    """Which program goes into which prog array slot, by the loaders these objects were written for:

    - iproute2 (tc, Cilium): a section ``ID/KEY`` goes into the prog array whose map definition has
      that ``id``, at ``KEY`` (both may be hex). Cilium's 28-byte definitions are iproute2's
      ``bpf_elf_map`` without the inner-map fields (type, key, value, max_elem, flags, id,
      pinning), which ebpflite's loader reads as libbpf's legacy layout: its ``inner_map_idx`` is
      the ``id``;
    - samples/bpf's bpf_load.c: ``socket/N`` goes into the (only) prog array at N;
    - Open vSwitch: ``tail-N`` goes into the prog array at N.
    """
    arrays = [spec for spec in objfile.maps if spec.type == "prog_array"]
    by_id = {spec.extra.get("id", spec.extra.get("inner_map_idx")): spec.name for spec in arrays}
    out: dict[str, tuple[str, int]] = {}
    for name, program in objfile.programs.items():
        section = program.section or ""
        head, sep, tail = section.partition("/")
        try:
            if sep and head == "socket" and len(arrays) == 1:
                out[name] = (arrays[0].name, int(tail, 0))
            elif sep and int(head, 0) in by_id:
                out[name] = (by_id[int(head, 0)], int(tail, 0))
            elif section.startswith("tail-") and len(arrays) == 1:
                out[name] = (arrays[0].name, int(section[5:], 0))
        except ValueError:
            continue
    return out


def available() -> str | None:
    """Why the bpf(2) oracle cannot run here, or None."""
    if os.geteuid() != 0:
        return "the kernel oracle needs root"
    try:
        fd = map_create(2, 4, 4, 1, name="probe")
    except BpfError as exc:
        return f"the kernel refuses BPF here: {exc}"
    os.close(fd)
    return None


__all__ = ["BpfError", "KernelObject", "TestRun", "available", "load_object", "possible_cpus",
           "prog_test_run", "tail_call_slots", "errno"]
