"""String and memory helpers: Linux strtol/strtoul/strncmp, Windows memcpy_s and friends."""

from __future__ import annotations

import re

from ebpflite.helpers.impl._common import EINVAL, ENOSPC, M64, err, read, read_cstr, write
from ebpflite.vm.env import Environment

ERANGE = 34



def _strto(env: Environment, r1: int, r2: int, r3: int, r4: int, signed: bool) -> int:
    """bpf_strtol/strtoul(buf, buf_len, flags, res): base in flags (0, 8, 10, 16); chars consumed."""
    base = r3 & 0x1F
    if r3 & ~0x1F or base not in (0, 8, 10, 16):
        return err(EINVAL)
    text = read(env, r1, r2 & 0xFFFFFFFF).split(b"\0")[0]
    m = re.match(rb"\s*([+-]?)", text)
    sign, pos = m.group(1), m.end()
    if sign == b"-" and not signed:
        return err(EINVAL)
    digits = {8: b"0-7", 10: b"0-9", 16: b"0-9a-fA-F"}
    if base in (0, 16) and text[pos:pos + 2].lower() == b"0x" and len(text) > pos + 2:
        base, pos = 16, pos + 2
    elif base == 0:
        base = 8 if text[pos:pos + 1] == b"0" else 10
    run = re.match(rb"[" + digits[base] + rb"]+", text[pos:])
    if not run:
        return err(EINVAL)
    value = int(run.group(0), base) * (-1 if sign == b"-" else 1)
    limit = (-(1 << 63), (1 << 63) - 1) if signed else (0, M64)
    if not limit[0] <= value <= limit[1]:
        return err(ERANGE)
    write(env, r4, (value & M64).to_bytes(8, "little"))
    return pos + run.end()


def strtol(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return _strto(env, r1, r2, r3, r4, signed=True)


def strtoul(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return _strto(env, r1, r2, r3, r4, signed=False)


def strncmp(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): compare at most s1_sz bytes; <0, 0 or >0."""
    n = r2 & 0xFFFFFFFF
    a = read(env, r1, n)
    b = read_cstr(env, r3, 1 << 16)
    if b is None:
        return err(EINVAL)
    for i in range(n):
        x, y = a[i], b[i] if i < len(b) else 0
        if x != y:
            return (x - y) & M64
        if x == 0:
            break
    return 0


# --- ebpf-for-windows ---------------------------------------------------------------------

def memcpy_s(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """(dest, dest_size, src, src_size): copy src_size bytes; -EINVAL when dest is smaller."""
    if r4 & M64 > r2 & M64:
        return err(EINVAL)
    write(env, r1, read(env, r3, r4 & 0xFFFFFFFF))
    return 0


def memcmp_s(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    a, b = read(env, r1, r2 & 0xFFFFFFFF), read(env, r3, r4 & 0xFFFFFFFF)
    return (-1 if a < b else 1 if a > b else 0) & M64


def memset(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    write(env, r1, bytes([r3 & 0xFF]) * (r2 & 0xFFFFFFFF))
    return 0


def strnlen_s(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    raw = read(env, r1, r2 & 0xFFFFFFFF)
    nul = raw.find(b"\0")
    return len(raw) if nul < 0 else nul


def strncpy_s(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """(dest, dest_size, src, count): copy at most count chars plus NUL; -ENOSPC if it does not fit."""
    src = read(env, r3, r4 & 0xFFFFFFFF).split(b"\0")[0]
    if len(src) + 1 > r2 & 0xFFFFFFFF:
        return err(ENOSPC)
    write(env, r1, src + b"\0")
    return 0


def strncat_s(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    size = r2 & 0xFFFFFFFF
    dest = read(env, r1, size)
    end = dest.find(b"\0")
    if end < 0:
        return err(EINVAL)
    src = read(env, r3, r4 & 0xFFFFFFFF).split(b"\0")[0]
    if end + len(src) + 1 > size:
        return err(ENOSPC)
    write(env, r1 + end, src + b"\0")
    return 0


IMPLS = {"strtol": strtol, "strtoul": strtoul, "strncmp": strncmp}
PLATFORM_IMPLS = {"windows": {"memcpy_s": memcpy_s, "memmove_s": memcpy_s, "memcmp_s": memcmp_s,
                              "memset": memset, "strnlen_s": strnlen_s, "strncpy_s": strncpy_s,
                              "strncat_s": strncat_s}}
