"""What every helper family shares: errno values, integer views, memory and map access.

Helpers receive raw 64-bit register values. Pointers are host addresses that
must lie in a region of ``env.memory`` (the program's stack, its context,
the packet, map storage); every access goes through the address space, so a
bad pointer or size raises :class:`~ebpflite.errors.MemoryFault` rather than
touching host memory. Helpers that the kernel lets fail softly (probe_read
and friends) catch that and return ``-EFAULT`` like the kernel does.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError, MemoryFault

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

EPERM = _errno.EPERM
ENOENT = _errno.ENOENT
E2BIG = _errno.E2BIG
EFAULT = _errno.EFAULT
EBUSY = _errno.EBUSY
EEXIST = _errno.EEXIST
EINVAL = _errno.EINVAL
ENOSPC = _errno.ENOSPC
ENOMEM = _errno.ENOMEM
EOPNOTSUPP = _errno.EOPNOTSUPP
ENOTSUPP = 524  #: the kernel-internal ENOTSUPP (not in userspace errno.h)


def err(code: int) -> int:
    """``-code`` as the unsigned 64-bit value a helper returns in r0."""
    return (-code) & M64


def s64(value: int) -> int:
    value &= M64
    return value - (1 << 64) if value >> 63 else value


def s32(value: int) -> int:
    value &= M32
    return value - (1 << 32) if value >> 31 else value


def read(env: Environment, address: int, size: int) -> bytes:
    """``size`` bytes the program may read at ``address`` (MemoryFault otherwise)."""
    if size < 0:
        raise HelperError(f"negative size {size}")
    return env.memory.read_bytes(address & M64, size)


def write(env: Environment, address: int, data: bytes) -> None:
    """Store ``data`` where the program may write (MemoryFault otherwise)."""
    env.memory.write_bytes(address & M64, data)


def try_read(env: Environment, address: int, size: int) -> bytes | None:
    """Like :func:`read` but None on a fault (for probe_read-style helpers)."""
    try:
        return read(env, address, size)
    except MemoryFault:
        return None


def read_cstr(env: Environment, address: int, limit: int) -> bytes | None:
    """Bytes up to (excluding) a NUL within ``limit`` bytes, or None when unreadable/unterminated.

    Reads only the regions the program can see; a string running off the end
    of its region before a NUL is unreadable, as a fault would be in the kernel.
    """
    region = env.memory.find(address & M64)
    if region is None:
        return None
    start = (address & M64) - region.start
    chunk = region.buf[start:start + limit].tobytes()
    nul = chunk.find(b"\0")
    if nul < 0:
        return None
    return chunk[:nul]


def map_at(env: Environment, address: int, helper: str) -> Any:
    """The live map whose descriptor is at ``address`` (a helper's map argument)."""
    live = env.world.maps_by_address.get(address & M64)
    if live is None:
        from ebpflite.helpers.maps import by_address

        live = by_address(address & M64)
    if live is None:
        raise HelperError(f"{helper}: 0x{address & M64:x} is not a map (pass a map from lddw)")
    return live


def current_cpu(env: Environment) -> int:
    """The CPU the program runs on (shared with the maps' per-CPU lookups)."""
    from ebpflite.helpers.maps.layout import current_cpu as maps_cpu

    return maps_cpu()
