"""perf_event_output and xdp_output: records into a perf_event_array.

As in the kernel, ``flags`` carries the CPU index in its low 32 bits
(``BPF_F_CURRENT_CPU`` = 0xffffffff) and, for packet programs, the number of
packet bytes to append after the sample in bits 32..51
(``BPF_F_CTXLEN_MASK``). The map (``helpers/maps/perf.py``) keeps the
records for userspace; each is also listed in ``env.world.perf_events``.
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import EFAULT, EINVAL, M64, err, map_at, read
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError

BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CTXLEN_MASK = 0xFFFFF << 32


def _output(env: Environment, helper: str, ctx_ptr: int, map_ptr: int, flags: int, data: int,
            size: int) -> int:
    live = map_at(env, map_ptr, helper)
    if live.type != "perf_event_array":
        raise HelperError(f"{helper}: map {live.name} is a {live.type} map, not a perf_event_array")
    if flags & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK):
        return err(EINVAL)
    sample = read(env, data, size & 0xFFFFFFFF)
    ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32
    if ctx_len:
        ctx = env.world.ctx
        if not hasattr(ctx, "load_bytes"):  # an XDP buffer or an __sk_buff
            raise HelperError(f"{helper}: BPF_F_CTXLEN_MASK asks for packet bytes, but the program's "
                              "context has no packet")
        if ctx_len > ctx.length:
            return err(EFAULT)
        sample += ctx.load_bytes(0, ctx_len)
    rc = live.output(sample, flags & BPF_F_INDEX_MASK)
    if rc == 0:
        env.world.perf_events.append({"map": live.name, "data": sample})
    return rc & M64


def perf_event_output(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output(ctx, map, flags, data, size)."""
    return _output(env, "bpf_perf_event_output", r1, r2, r3, r4, r5)


def xdp_output(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_output(ctx, map, flags, data, size): perf_event_output for XDP (fentry) programs."""
    return _output(env, "bpf_xdp_output", r1, r2, r3, r4, r5)


IMPLS = {"perf_event_output": perf_event_output, "xdp_output": xdp_output}
