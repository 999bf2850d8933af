"""bpf_get_prandom_u32 and the current CPU.

The generator is a ``random.Random`` in ``env.world.prandom``; the
runtime seeds it from the ``seed`` option so runs can be repeated exactly
(unseeded runs draw from the OS like the kernel's per-CPU prandom state).
"""

from __future__ import annotations

import random as _random

from ebpflite.helpers.impl._common import current_cpu
from ebpflite.vm.env import Environment


def generator(env: Environment) -> _random.Random:
    return env.world.generator()


def get_prandom_u32(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return generator(env).getrandbits(32)


def get_smp_processor_id(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return current_cpu(env)


def get_numa_node_id(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return 0


IMPLS = {
    "get_prandom_u32": get_prandom_u32,
    "get_smp_processor_id": get_smp_processor_id,
    "get_numa_node_id": get_numa_node_id,
}
