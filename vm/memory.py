"""The memory both engines see: numpy buffers at real addresses.

Pointers in eBPF registers are real host addresses of numpy buffers, so the
interpreter and the JIT compute identical pointer values, and JITed code can
load and store through them directly. The interpreter (and the JIT in its
checked mode) only lets a program touch the *regions* registered in an
:class:`AddressSpace`: the stack frames, the input memory, the context, the
packet, map storage. A stray access raises :class:`MemoryFault` naming the pc,
the address, the size and the nearest region.

Buffers that a program may see through 32-bit fields (the Linux ``xdp_md``
stores ``data``/``data_end`` as ``u32``) come from :func:`low_alloc`, which
maps memory below 2 GiB (``MAP_32BIT``) so the truncated value is still the
real address; see docs/memory.md for why we chose this over rewriting
context loads.
"""

from __future__ import annotations

import bisect
import mmap
from dataclasses import dataclass

import numpy as np

from ebpflite.vm.errors import MemoryFault
from ebpflite.vm.isa import MAX_CALL_DEPTH, STACK_SIZE

_MAP_32BIT = getattr(mmap, "MAP_32BIT", 0x40)
_PAGE = mmap.PAGESIZE


def low_alloc(size: int) -> np.ndarray:
    """A zeroed uint8 numpy buffer whose address fits in 32 bits.

    Falls back to ordinary memory where the platform has no MAP_32BIT (the
    buffer is then only usable by programs that do not truncate pointers).
    """
    length = max(_PAGE, -(-size // _PAGE) * _PAGE)
    try:
        mem = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_32BIT,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError, TypeError):  # pragma: no cover - non-x86 platforms
        return np.zeros(size, dtype=np.uint8)
    return np.frombuffer(mem, dtype=np.uint8, count=size)


def address_of(buf: np.ndarray) -> int:
    """The host address of a numpy buffer's first byte."""
    return int(buf.ctypes.data)


@dataclass
class Region:
    """A span of memory a program may access.

    ``buf`` is a 1-D uint8 numpy array (often a view into a larger buffer);
    ``start`` is its address. ``kind`` tells the verifier and error messages
    what it is: ``stack``, ``mem``, ``ctx``, ``packet``, ``map``, ``rodata``...
    """

    name: str
    buf: np.ndarray
    kind: str = "mem"
    writable: bool = True

    def __post_init__(self) -> None:
        if self.buf.dtype != np.uint8 or self.buf.ndim != 1:
            self.buf = self.buf.reshape(-1).view(np.uint8)
        self.start = address_of(self.buf) if len(self.buf) else 0

    @property
    def end(self) -> int:
        return self.start + len(self.buf)

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.end


#: Flags in the native region table (column 2)
REGION_WRITABLE = 1


class AddressSpace:
    """The set of regions one run may touch, kept sorted by address.

    :meth:`table` gives the same information as a ``(n, 3)`` uint64 numpy array
    (start, end, flags) for native code; it is rebuilt whenever the regions
    change, and its buffer stays at one address (capacity ``max_regions``) so
    JITed code can hold a pointer to it across helper calls that add or
    resize regions.
    """

    def __init__(self, max_regions: int = 256):
        self._regions: list[Region] = []
        self._starts: list[int] = []
        self._table = np.zeros((max_regions + 1, 3), dtype=np.uint64)  # row 0 = count
        self._last: Region | None = None
        #: bumped whenever the set of regions changes, so callers may cache lookups
        self.version = 0

    # -- management ---------------------------------------------------------
    def add(self, region: Region) -> Region:
        if not len(region.buf):
            return region
        i = bisect.bisect(self._starts, region.start)
        # regions are disjoint and sorted, so only the neighbours can overlap
        for other in self._regions[max(i - 1, 0):i + 1]:
            if region.start < other.end and other.start < region.end:
                raise ValueError(f"region {region.name} overlaps {other.name}")
        self._regions.insert(i, region)
        self._starts.insert(i, region.start)
        self._sync()
        return region

    def remove(self, region: Region) -> None:
        i = self._regions.index(region)
        del self._regions[i]
        del self._starts[i]
        if self._last is region:
            self._last = None
        self._sync()

    def replace(self, old: Region, new: Region) -> Region:
        """Swap a region for another (e.g. the packet after adjust_head)."""
        self.remove(old)
        return self.add(new)

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    def _sync(self) -> None:
        self.version += 1
        n = len(self._regions)
        if n + 1 > len(self._table):
            raise ValueError("too many memory regions")
        self._table[0, 0] = n
        if n:
            self._table[1:n + 1] = [(r.start, r.start + len(r.buf), REGION_WRITABLE if r.writable else 0)
                                    for r in self._regions]

    def table(self) -> np.ndarray:
        """Native view: row 0 holds the count, rows 1..n (start, end, flags)."""
        return self._table

    # -- access ---------------------------------------------------------------
    def find(self, address: int) -> Region | None:
        i = bisect.bisect(self._starts, address) - 1
        if i >= 0 and address < self._regions[i].end:
            return self._regions[i]
        return None

    def resolve(self, address: int, size: int, write: bool, pc: int | None = None) -> tuple[np.ndarray, int]:
        """The buffer and offset for an access, or a :class:`MemoryFault`."""
        region = self._last
        if region is None or not (region.start <= address and address + size <= region.end):
            region = self.find(address)
            if region is None or address + size > region.end:
                raise self.fault(address, size, write, pc)
            self._last = region
        if write and not region.writable:
            raise MemoryFault(pc, address, size, write, f"region {region.name} is read-only")
        return region.buf, address - region.start

    def load(self, address: int, size: int, pc: int | None = None) -> int:
        buf, off = self.resolve(address, size, False, pc)
        return int.from_bytes(buf[off:off + size].tobytes(), "little")

    def store(self, address: int, size: int, value: int, pc: int | None = None) -> None:
        buf, off = self.resolve(address, size, True, pc)
        buf[off:off + size] = np.frombuffer((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"),
                                            dtype=np.uint8)

    def read_bytes(self, address: int, size: int, pc: int | None = None) -> bytes:
        if size == 0:
            return b""
        buf, off = self.resolve(address, size, False, pc)
        return buf[off:off + size].tobytes()

    def write_bytes(self, address: int, data: bytes, pc: int | None = None) -> None:
        if not data:
            return
        buf, off = self.resolve(address, len(data), True, pc)
        buf[off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)

    def fault(self, address: int, size: int, write: bool, pc: int | None) -> MemoryFault:
        return MemoryFault(pc, address, size, write, self.describe(address, size))

    def describe(self, address: int, size: int) -> str:
        """Where an address lies relative to the nearest region, for messages."""
        if not self._regions:
            return "no memory is mapped"
        best = None
        for region in self._regions:
            if region.start <= address < region.end:
                dist = 0
            else:
                dist = region.start - address if address < region.start else address - region.end + 1
            if best is None or dist < best[0]:
                best = (dist, region)
        region = best[1]
        if region.start <= address < region.end:
            return (f"{size} bytes at offset {address - region.start} run past the end of "
                    f"{region.name} ({len(region.buf)} bytes)")
        if address < region.start:
            return f"{region.start - address} bytes before {region.name} ({len(region.buf)} bytes)"
        return f"{address - region.end} bytes after the end of {region.name} ({len(region.buf)} bytes)"


class Stack:
    """The stack of one run: ``MAX_CALL_DEPTH`` frames of 512 bytes in one buffer.

    Frame ``k`` (0 = the entry function) occupies the 512 bytes below
    :meth:`frame_pointer` ``(k)``; deeper calls sit at lower addresses, as on
    a real stack. Both engines use this layout, so r10 has the same value in
    each.
    """

    def __init__(self, depth: int = MAX_CALL_DEPTH, frame_size: int = STACK_SIZE):
        self.depth = depth
        self.frame_size = frame_size
        self.buf = np.zeros(depth * frame_size, dtype=np.uint8)
        self.region = Region("stack", self.buf, "stack")

    def frame_pointer(self, frame: int) -> int:
        """The value of r10 in frame ``frame``."""
        return self.region.start + (self.depth - frame) * self.frame_size

    def clear(self) -> None:
        self.buf[:] = 0
