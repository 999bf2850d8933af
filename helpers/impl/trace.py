"""trace_printk, bpf_printk (trace_vprintk), snprintf and Windows trace_printk2..5.

Formatting follows the kernel's ``bpf_bprintf_prepare``: the format must be
NUL-terminated within its size and printable ASCII; each conversion is
``%`` [flags ``0+- ``] [width] then one of ``d i u x X`` (with ``l``/``ll``),
``c``, ``s``, ``%``, or a pointer form ``p pK px ps pS pB pks pus pi4 pI4
pi6 pI6``; anything else, or more conversions than arguments, is
``-EINVAL``. ``%s`` strings are read from program-visible memory; an
unreadable one prints as empty, as the kernel's nofault copy does.
Pointers print as 16 hex digits (the kernel hashes plain ``%p``; we do not).

Printed messages are appended to ``env.trace_output`` (one string per call,
a single trailing newline removed); :func:`trace_pipe_lines` renders them
the way ``/sys/kernel/tracing/trace_pipe`` shows them.
"""

from __future__ import annotations

import string

from ebpflite.helpers.impl._common import EINVAL, M64, err, read, read_cstr, try_read, write
from ebpflite.vm.env import Environment

MAX_BPRINTF_BUF = 1024  #: the kernel formats into a 1 KiB buffer
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_VARARGS = 12
_PRINTABLE = set(string.printable.encode())


class FormatError(ValueError):
    """A format the kernel refuses (the helper returns -EINVAL)."""


def bprintf(env: Environment, fmt: bytes, args: list[int]) -> bytes:
    """Format ``fmt`` (without its NUL) with raw 64-bit ``args`` like the kernel."""
    out = bytearray()
    i, n, nargs = 0, len(fmt), 0
    for ch in fmt:
        if ch not in _PRINTABLE:
            raise FormatError(f"format contains the non-printable byte 0x{ch:02x}")
    while i < n:
        c = fmt[i]
        if c != 0x25:  # '%'
            out.append(c)
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == 0x25:
            out.append(0x25)
            i += 2
            continue
        if nargs >= len(args):
            raise FormatError(f"format has more conversions than the {len(args)} arguments given")
        start = i
        i += 1
        while i < n and chr(fmt[i]) in "0+- ":
            i += 1
        while i < n and chr(fmt[i]).isdigit():
            i += 1
        spec = fmt[start + 1:i].decode()
        arg = args[nargs] & M64
        nargs += 1
        nxt = chr(fmt[i]) if i < n else "\0"
        if nxt == "p":
            text, i = _pointer(env, fmt, i, arg)
            out += _pad(text, spec)
            continue
        if nxt == "c":
            out += _pad(bytes([arg & 0xFF]), spec)
            i += 1
            continue
        if nxt == "s":
            out += _pad(_string(env, arg), spec)
            i += 1
            continue
        bits = 32
        if nxt == "l":
            bits, i = 64, i + 1
            if i < n and fmt[i] == ord("l"):
                i += 1
        conv = chr(fmt[i]) if i < n else "\0"
        if conv not in "diuxX":
            raise FormatError(f"unsupported conversion %{spec}{'l' if bits == 64 else ''}{conv!s}")
        i += 1
        value = arg & ((1 << bits) - 1)
        if conv in "di" and value >> (bits - 1):
            value -= 1 << bits
        flags = spec if conv in "di" else spec.replace("+", "").replace(" ", "")
        pyconv = "d" if conv in "diu" else conv
        out += (f"%{flags}{pyconv}" % value).encode()
    return bytes(out)


def _pad(text: bytes, spec: str) -> bytes:
    width = int(spec.lstrip("0+- ") or 0)
    if len(text) >= width:
        return text
    fill = b" " * (width - len(text))
    return text + fill if "-" in spec else fill + text


def _string(env: Environment, address: int) -> bytes:
    s = read_cstr(env, address, MAX_BPRINTF_BUF)
    return s if s is not None else b""


def _pointer(env: Environment, fmt: bytes, i: int, arg: int) -> tuple[bytes, int]:
    """Format the %p family starting at fmt[i] == 'p'; returns (text, next index)."""
    a = chr(fmt[i + 1]) if i + 1 < len(fmt) else "\0"
    b = chr(fmt[i + 2]) if i + 2 < len(fmt) else "\0"
    if a == "\0" or a.isspace() or (a in string.punctuation):
        return f"{arg:016x}".encode(), i + 1
    if a in "ku" and b == "s":
        return _string(env, arg), i + 3
    if a in "KxsSB":
        return (f"{arg:016x}" if a in "Kx" else f"0x{arg:x}").encode(), i + 2
    if a in "iI" and b in "46":
        size = 4 if b == "4" else 16
        raw = try_read(env, arg, size)
        if raw is None:
            raise FormatError(f"%p{a}{b} argument 0x{arg:x} is not readable memory")
        if size == 4:
            text = ".".join((f"{x:03d}" if a == "i" else str(x)) for x in raw)
        else:
            groups = [raw[k:k + 2].hex() for k in range(0, 16, 2)]
            text = "".join(groups) if a == "i" else ":".join(groups)
        return text.encode(), i + 3
    raise FormatError(f"unsupported pointer conversion %p{a}")


def _fmt(env: Environment, address: int, size: int) -> bytes:
    """The format string of trace_printk-style helpers: NUL-terminated within ``size``."""
    raw = read(env, address, size)
    nul = raw.find(b"\0")
    if nul < 0:
        raise FormatError("format string is not NUL-terminated within its size")
    return raw[:nul]


def _emit(env: Environment, text: bytes) -> int:
    text = text[:MAX_BPRINTF_BUF - 1]
    message = text.decode("utf-8", "replace")
    env.trace_output.append(message[:-1] if message.endswith("\n") else message)
    return len(text)


def _printk(env: Environment, fmt_ptr: int, fmt_size: int, args: list[int]) -> int:
    try:
        return _emit(env, bprintf(env, _fmt(env, fmt_ptr, fmt_size & 0xFFFFFFFF), args))
    except FormatError:
        return err(EINVAL)


def trace_printk(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, a, b, c): at most three arguments."""
    return _printk(env, r1, r2, [r3, r4, r5])


def _array_args(env: Environment, data: int, data_len: int) -> list[int]:
    data_len &= 0xFFFFFFFF
    if data_len % 8 or data_len > 8 * MAX_BPRINTF_VARARGS:
        raise FormatError(f"argument array of {data_len} bytes (need a multiple of 8, at most "
                          f"{8 * MAX_BPRINTF_VARARGS})")
    if data_len and not data & M64:
        raise FormatError("argument array is NULL")
    raw = read(env, data, data_len)
    return [int.from_bytes(raw[k:k + 8], "little") for k in range(0, data_len, 8)]


def trace_vprintk(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_vprintk(fmt, fmt_size, args, args_len): bpf_printk with more than three arguments."""
    try:
        args = _array_args(env, r3, r4)
        return _emit(env, bprintf(env, _fmt(env, r1, r2 & 0xFFFFFFFF), args))
    except FormatError:
        return err(EINVAL)


def snprintf(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_snprintf(str, size, fmt, args, args_len): the formatted length + 1 (snprintf's rule)."""
    size = r2 & 0xFFFFFFFF
    try:
        fmt = read_cstr(env, r3, MAX_BPRINTF_BUF * 64)
        if fmt is None:
            raise FormatError("format is not a NUL-terminated string in readable memory")
        text = bprintf(env, fmt, _array_args(env, r4, r5))
    except FormatError:
        return err(EINVAL)
    if size:
        kept = text[:size - 1]
        write(env, r1, kept + b"\0")
    return len(text) + 1


def _windows_printk(nargs: int):
    def fn(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        return _printk(env, r1, r2, [r3, r4, r5][:nargs])
    fn.__name__ = f"trace_printk{nargs + 2}"
    fn.__doc__ = f"ebpf-for-windows bpf_trace_printk{nargs + 2}: format and {nargs} arguments."
    return fn


def trace_pipe_lines(messages: list[str], comm: str = "ebpflite", pid: int = 4242, cpu: int = 0,
                     timestamp_s: float = 0.0) -> list[str]:
    """``messages`` as trace_pipe shows them: ``comm-pid [cpu] ..... ts: bpf_trace_printk: msg``."""
    head = f"{comm}-{pid}".rjust(16)
    return [f"{head} [{cpu:03d}] ..... {timestamp_s:12.6f}: bpf_trace_printk: {m}" for m in messages]


IMPLS = {"trace_printk": trace_printk, "trace_vprintk": trace_vprintk, "snprintf": snprintf}
PLATFORM_IMPLS = {"windows": {f"trace_printk{n + 2}": _windows_printk(n) for n in range(4)}}
