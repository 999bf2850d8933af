"""The native storage layout of every map: the descriptor, the hash, the storage buffer.

This module is the single source of truth for what native code (the JIT)
may rely on; docs/maps.md describes it in prose and a test checks that the
offsets table there matches :data:`DESCRIPTOR`.

Each live map owns a 128-byte descriptor (its own numpy record, never in a
file) and one contiguous numpy byte buffer (anonymous memory, or a
memory-mapped file when pinned) that holds each storage region (values,
hash slots, free list, ...) at a 64-byte aligned offset. The descriptor's address is what a program's
``r1 = map`` lddw loads, so a helper finds the map from ``r1`` and native
code finds the storage from the descriptor's pointer fields.
"""

from __future__ import annotations

import errno as _errno
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ebpflite.vm.errors import MapError

# --- kernel constants ---------------------------------------------------------------

EINVAL = _errno.EINVAL
EEXIST = _errno.EEXIST
ENOENT = _errno.ENOENT
E2BIG = _errno.E2BIG
ENOSPC = _errno.ENOSPC
EAGAIN = _errno.EAGAIN
ENOMEM = _errno.ENOMEM
EOPNOTSUPP = _errno.EOPNOTSUPP
EBUSY = _errno.EBUSY

#: update flags (include/uapi/linux/bpf.h)
BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 0, 1, 2, 4

#: map_flags at creation
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12

#: flags every map type accepts (access modes and NUMA placement have no effect here
#: except RDONLY_PROG, which makes the value regions read-only to programs)
COMMON_FLAGS = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG

PAGE_SIZE = 4096
DESCRIPTOR_MAGIC = 0x4D465045  # "EPFM" little-endian
ALIGN = 64
#: refuse maps whose storage would exceed this (the kernel would fail with ENOMEM)
MAX_STORAGE = 1 << 30

# --- the descriptor -----------------------------------------------------------------

#: The native descriptor, 128 bytes. Pointer fields are host addresses (0 when unused).
DESCRIPTOR = np.dtype([
    ("magic", "<u4"),         # 0   DESCRIPTOR_MAGIC
    ("type", "<u4"),          # 4   Linux BPF_MAP_TYPE_* number
    ("key_size", "<u4"),      # 8
    ("value_size", "<u4"),    # 12
    ("max_entries", "<u4"),   # 16
    ("flags", "<u4"),         # 20  map_flags
    ("ncpus", "<u4"),         # 24  per-CPU copies of each value (1 for shared maps)
    ("value_stride", "<u4"),  # 28  bytes of one CPU's copy of a value (value_size rounded up to 8)
    ("entry_stride", "<u4"),  # 32  bytes between consecutive entries in `values` (ncpus * value_stride)
    ("slot_size", "<u4"),     # 36  bytes of one hash/LPM slot
    ("capacity", "<u4"),      # 40  hash slots (a power of two); ringbuf data size; queue ring size
    ("hash_seed", "<u4"),     # 44  FNV-1a offset basis used for this map
    ("values", "<u8"),        # 48  address of value storage (entry i at values + i * entry_stride)
    ("slots", "<u8"),         # 56  address of the hash/LPM slot table, or the array of keys
    ("meta", "<u8"),          # 64  address of the u64[8] counters (see META_* below)
    ("cpu_ptr", "<u8"),       # 72  address of the process-wide u32 current CPU
    ("aux", "<u8"),           # 80  type-specific: LRU stamps, bloom bits, presence bytes
    ("map_id", "<u4"),        # 88  the map's id (unique in this process)
    ("reserved", "<u4", (9,)),  # 92..127
])
assert DESCRIPTOR.itemsize == 128

#: indexes into the u64[8] ``meta`` counters
META_COUNT = 0        # live entries (hash, LPM, queue/stack elements)
META_FREE_TOP = 1     # hash: number of free value indexes on the free-list stack
META_CLOCK = 2        # LRU: last stamp handed out
META_HEAD = 3         # queue/stack: ring head (next pop for queue)
META_TAIL = 4         # queue/stack: ring tail (next push)
META_CONSUMER = 5     # ringbuf: consumer position
META_PRODUCER = 6     # ringbuf: producer position
META_RESERVED = 7

# --- hashing ------------------------------------------------------------------------

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a(data: bytes, basis: int = FNV_OFFSET) -> int:
    """32-bit FNV-1a of ``data``: ``h = basis; for b in data: h = (h ^ b) * 16777619 mod 2**32``.

    Chosen because native code can compute it in a four-instruction loop and
    it needs no tables. Hash slots store the full hash so probing compares it
    before the key bytes.
    """
    h = basis
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def round8(n: int) -> int:
    return (n + 7) & ~7


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


# --- the current CPU ----------------------------------------------------------------

#: One u32 shared by every map: the CPU a program "runs on". Per-CPU lookups from a
#: program return that CPU's copy; native code reads it through ``descriptor.cpu_ptr``.
CPU_CELL = np.zeros(1, dtype="<u4")


def current_cpu() -> int:
    return int(CPU_CELL[0])


def set_current_cpu(cpu: int) -> None:
    """Select the CPU programs run on (get_smp_processor_id and per-CPU lookups).

    Per-CPU maps with fewer CPUs than ``cpu`` raise at lookup time, so set
    it to a value below the ``cpus`` the maps were created with.
    """
    if not 0 <= int(cpu) < 1 << 16:
        raise MapError(f"current CPU {cpu} is out of range (0..65535)", EINVAL)
    CPU_CELL[0] = int(cpu)


# --- one map's storage buffer --------------------------------------------------------

PIN_MAGIC = b"EBPFLITE-MAP 1\n"
PIN_HEADER = PAGE_SIZE


@dataclass
class Plan:
    """Where each region lives in the buffer: name -> (offset, size)."""

    regions: dict[str, tuple[int, int]] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def build(cls, sizes: dict[str, int], base: int) -> Plan:
        plan = cls()
        off = base
        for name, size in sizes.items():
            off = (off + ALIGN - 1) // ALIGN * ALIGN
            plan.regions[name] = (off, size)
            off += size
        plan.size = max(off, base + 8)
        if plan.size > MAX_STORAGE:
            raise MapError(f"map storage of {plan.size} bytes exceeds the {MAX_STORAGE} byte limit", ENOMEM)
        return plan


class Storage:
    """A map's descriptor and its one buffer of named regions.

    ``path`` backs it with a file (pinning): a 4 KiB header holding the map's
    spec as JSON, then the same layout. ``created`` tells whether the file
    was new (and so needs the map's initial contents).
    """

    def __init__(self, sizes: dict[str, int], header: dict | None = None, path: str | None = None,
                 readonly: bool = False):
        self.path = path
        self.created = True
        #: the header found in an existing pinned file (None for new storage)
        self.existing_header: dict | None = None
        base = PIN_HEADER if path else 0
        self.plan = Plan.build(sizes, base)
        if path is None:
            self.buf = np.zeros(self.plan.size, dtype=np.uint8)
        else:
            self.buf = self._map_file(path, header or {}, readonly)
        self.descriptor = np.zeros(1, dtype=DESCRIPTOR)
        self.views = {name: self.buf[off:off + size] for name, (off, size) in self.plan.regions.items()}

    def _map_file(self, path: str, header: dict, readonly: bool) -> np.ndarray:
        blob = PIN_MAGIC + json.dumps(dict(header, layout=self.plan.regions, size=self.plan.size),
                                      sort_keys=True).encode() + b"\n"
        if len(blob) > PIN_HEADER:
            raise MapError(f"pinned map header for {path} is too large", EINVAL)
        if os.path.exists(path):
            self.created = False
            existing = self.existing_header = read_pin_header(path)
            if existing.get("size") != self.plan.size or os.path.getsize(path) != self.plan.size:
                raise MapError(f"pinned map file {path} has the wrong size for its layout", EINVAL)
            return np.memmap(path, dtype=np.uint8, mode="r" if readonly else "r+")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(blob.ljust(PIN_HEADER, b"\0"))
            f.truncate(self.plan.size)
        return np.memmap(path, dtype=np.uint8, mode="r+")

    def address(self, name: str) -> int:
        view = self.views.get(name)
        return int(view.ctypes.data) if view is not None and len(view) else 0


def read_pin_header(path: str) -> dict:
    """The JSON header of a pinned map file, or MapError if it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(PIN_HEADER)
    except OSError as exc:
        raise MapError(f"cannot read pinned map {path}: {exc.strerror}", exc.errno) from None
    if not head.startswith(PIN_MAGIC):
        raise MapError(f"{path} is not an ebpflite pinned map (bad magic)", EINVAL)
    text = head[len(PIN_MAGIC):].split(b"\n", 1)[0]
    try:
        header = json.loads(text)
    except ValueError:
        raise MapError(f"{path}: corrupt pinned map header", EINVAL) from None
    if not isinstance(header, dict):
        raise MapError(f"{path}: corrupt pinned map header", EINVAL)
    return header
