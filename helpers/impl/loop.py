"""bpf_loop and bpf_for_each_map_elem: helpers that call back into the program.

A callback is a subprogram of the running program. Its address comes from
an ``lddw rX, <func>`` with pseudo source ``CODE_ADDR`` (4), whose value is
the slot index of the subprogram's first instruction (``pc + imm + 1``, see
``Environment.lddw_value``).

The callback interface (for engine authors): before running a program the
engine sets ``env.world.call_function = fn`` where
``fn(target_pc, r1, r2, r3, r4, r5) -> r0`` runs the subprogram starting at
slot ``target_pc`` of the *currently executing* program as a bpf-to-bpf
call would (a new stack frame, r6-r9 of the caller preserved, counting
against the call depth and the instruction budget) and returns its r0
when it exits. Without it these helpers raise HelperError saying so.
"""

from __future__ import annotations

import numpy as np

from ebpflite.helpers.impl._common import E2BIG, EINVAL, M64, err, map_at
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError
from ebpflite.vm.memory import Region

BPF_MAX_LOOPS = 8 * 1024 * 1024


def _caller(env: Environment, helper: str):
    fn = env.world.call_function
    if fn is None:
        raise HelperError(f"{helper}: this engine does not run callbacks "
                          "(it does not set env.world.call_function)")
    return fn


def loop(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_loop(nr_loops, callback, ctx, flags): callback(i, ctx) until it returns nonzero."""
    if r4:
        return err(EINVAL)
    nr = r1 & 0xFFFFFFFF
    if nr > BPF_MAX_LOOPS:
        return err(E2BIG)
    call = _caller(env, "bpf_loop")
    for i in range(nr):
        if call(r2 & M64, i, r3 & M64, 0, 0, 0) & M64:
            return i + 1
    return nr


def _key_region(env: Environment, live, size: int) -> Region:
    """A read-only buffer holding the current key (the kernel passes a pointer it owns)."""
    keys = env.world.callback_keys
    region = keys.get(live.name)
    if region is None:
        region = env.memory.add(Region(f"map {live.name} iteration key",
                                       np.zeros(max(size, 1), dtype=np.uint8), "map", writable=False))
        keys[live.name] = region
    return region


def for_each_map_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_for_each_map_elem(map, callback, ctx, flags): callback(map, &key, &value, ctx) per element.

    Returns the number of elements visited (including the one whose callback
    returned 1 to stop). Elements are visited in the map's key order.
    """
    if r4:
        return err(EINVAL)
    live = map_at(env, r1, "bpf_for_each_map_elem")
    if not getattr(live, "HAS_KEYS", True) or live.type in ("prog_array", "perf_event_array", "ringbuf"):
        raise HelperError(f"bpf_for_each_map_elem: a {live.type} map cannot be iterated")
    call = _caller(env, "bpf_for_each_map_elem")
    region = _key_region(env, live, live.key_size)
    visited = 0
    for key in list(live._raw_keys()):
        value = live.lookup_address(key)
        if not value:  # removed by an earlier callback
            continue
        region.buf[:len(key)] = np.frombuffer(key, dtype=np.uint8)
        visited += 1
        if call(r2 & M64, r1 & M64, region.start, value, r3 & M64, 0) & M64:
            break
    return visited


IMPLS = {"loop": loop, "for_each_map_elem": for_each_map_elem}
