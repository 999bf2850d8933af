"""probe_read and its _user/_kernel/_str forms, copy_from_user, probe_write_user.

ebpflite has no kernel or user address space to peek into: "unsafe"
pointers may point at any memory the program can see (its stack, context,
packet, map values). Anything else fails like a faulting read in the
kernel: ``-EFAULT`` with the destination zeroed.
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import EFAULT, M64, err, read, read_cstr, try_read, write
from ebpflite.vm.env import Environment


def probe_read(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """(dst, size, unsafe_ptr): copy ``size`` bytes; -EFAULT and a zeroed dst on failure."""
    size = r2 & 0xFFFFFFFF
    data = try_read(env, r3, size)
    if data is None:
        write(env, r1, bytes(size))
        return err(EFAULT)
    write(env, r1, data)
    return 0


def probe_read_str(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """(dst, size, unsafe_ptr): copy a NUL-terminated string, truncated to size - 1 bytes plus NUL.

    Returns the length including the NUL; -EFAULT (dst zeroed) when the
    source is unreadable before a NUL or ``size`` bytes.
    """
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return 0
    region = env.memory.find(r3 & M64)
    text = None
    if region is not None:
        avail = region.end - (r3 & M64)
        chunk = read(env, r3, min(avail, size))
        nul = chunk.find(b"\0")
        if nul >= 0:
            text = chunk[:nul]
        elif len(chunk) >= size - 1 and size - 1 <= avail:
            text = chunk[:size - 1]
    if text is None:
        write(env, r1, bytes(size))
        return err(EFAULT)
    write(env, r1, text + b"\0")
    return len(text) + 1


def probe_write_user(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """(dst, src, size): write into program-visible memory; -EFAULT when dst is not writable there."""
    data = read(env, r2, r3 & 0xFFFFFFFF)
    region = env.memory.find(r1 & M64)
    if region is None or not region.writable or (r1 & M64) + len(data) > region.end:
        return err(EFAULT)
    write(env, r1, data)
    return 0


def strnlen(env: Environment, address: int, limit: int) -> int | None:
    s = read_cstr(env, address, limit)
    return None if s is None else len(s)


IMPLS = {
    "probe_read": probe_read,
    "probe_read_user": probe_read,
    "probe_read_kernel": probe_read,
    "copy_from_user": probe_read,
    "probe_read_str": probe_read_str,
    "probe_read_user_str": probe_read_str,
    "probe_read_kernel_str": probe_read_str,
    "probe_write_user": probe_write_user,
}
