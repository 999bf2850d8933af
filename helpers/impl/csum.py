"""bpf_csum_diff: the checksum difference of two buffers, as Linux and Windows compute it.

Linux (since 6.13, net/core/filter.c) folds the result to 16 bits:
``csum_from32to16(csum_sub(csum_partial(to, seed), csum_partial(from, 0)))``,
with one-sided forms for an empty ``from`` or ``to`` and the seed returned
when both are empty; sizes must be multiples of 4. ``csum_partial`` is the
x86-64 one: 64-bit one's complement accumulation of little-endian words,
folded to 32 bits. ebpf-for-windows sums 16-bit words of ``to`` and the
complements of those of ``from`` onto the seed, without folding.
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import EINVAL, M32, M64, err, read
from ebpflite.vm.env import Environment


def csum_partial(data: bytes, seed: int) -> int:
    """x86-64 ``csum_partial``: 32-bit one's complement sum of ``data`` plus ``seed``."""
    acc = seed & M32
    n8 = len(data) - len(data) % 8
    for i in range(0, n8, 8):
        acc += int.from_bytes(data[i:i + 8], "little")
        if acc > M64:
            acc = (acc & M64) + 1
    tail = data[n8:]
    if len(tail) >= 4:
        acc += int.from_bytes(tail[:4], "little")
        if acc > M64:
            acc = (acc & M64) + 1
        tail = tail[4:]
    if tail:  # not reached by csum_diff (sizes are multiples of 4)
        acc += int.from_bytes(tail, "little")
        if acc > M64:
            acc = (acc & M64) + 1
    folded = (acc >> 32) + (acc & M32)
    return (folded & M32) + (folded >> 32)


def csum_add(a: int, b: int) -> int:
    res = (a + b) & M32
    return (res + (res < b)) & M32


def csum_from32to16(total: int) -> int:
    total = (total + (((total >> 16) | (total << 16)) & M32)) & M32
    return total >> 16


def linux_csum_diff(frm: bytes, to: bytes, seed: int) -> int:
    seed &= M32
    if frm and to:
        return csum_from32to16(csum_add(csum_partial(to, seed), ~csum_partial(frm, 0) & M32))
    if to:
        return csum_from32to16(csum_partial(to, seed))
    if frm:
        return csum_from32to16(~csum_partial(frm, ~seed & M32) & M32)
    return seed


def windows_csum_diff(frm: bytes, to: bytes, seed: int) -> int:
    total = seed & M32
    total += sum(int.from_bytes(to[i:i + 2], "little") for i in range(0, len(to), 2))
    total += sum(~int.from_bytes(frm[i:i + 2], "little") & 0xFFFF for i in range(0, len(frm), 2))
    return total if total < 1 << 31 else err(EINVAL)


def _buffers(env: Environment, r1: int, r2: int, r3: int, r4: int) -> tuple[bytes, bytes] | None:
    from_size, to_size = r2 & M32, r4 & M32
    if (from_size | to_size) & 3:
        return None
    frm = read(env, r1, from_size) if from_size else b""
    to = read(env, r3, to_size) if to_size else b""
    return frm, to


def csum_diff(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed)."""
    bufs = _buffers(env, r1, r2, r3, r4)
    if bufs is None:
        return err(EINVAL)
    if env.world.platform == "windows":
        return windows_csum_diff(bufs[0], bufs[1], r5) & M64
    return linux_csum_diff(bufs[0], bufs[1], r5)


IMPLS = {"csum_diff": csum_diff}
