"""bpf_tail_call: continue in another program of a prog_array, never to return.

The helper only looks the target up and sets ``env.pending_tail_call``;
the engine switches programs (and counts them against ``MAX_TAIL_CALLS``).
A tail call that cannot happen (empty slot, index out of range, the limit
reached) returns an error and the program carries on after the call, as
in the kernel. The target's maps become ``env.maps`` (its lddw indexes may
differ from the caller's).
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import E2BIG, ENOENT, err, map_at
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError
from ebpflite.vm.isa import MAX_TAIL_CALLS


def tail_call(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = map_at(env, r2, "bpf_tail_call")
    if live.type != "prog_array":
        raise HelperError(f"bpf_tail_call: map {live.name} is a {live.type} map, not a prog_array")
    if env.tail_calls >= MAX_TAIL_CALLS:
        return err(E2BIG)
    target = live.get_program(r3 & 0xFFFFFFFF)
    if target is None or isinstance(target, str):
        return err(ENOENT)
    maps = env.world.program_maps.get(id(target))
    if maps is not None:
        env.maps = maps
    env.pending_tail_call = target
    return 0


IMPLS = {"tail_call": tail_call}
