"""Map helpers: lookup/update/delete, queue and stack push/pop/peek, per-CPU lookup.

They read the key and value from program memory (``key_size``/``value_size``
bytes at the pointer, so a short buffer is a MemoryFault) and call the live
map's kernel operations (``helpers/maps``), which return 0 or ``-errno``
exactly as the kernel's do. A lookup returns a pointer into the map's
storage, so the program can update the value in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ebpflite.helpers.impl._common import ENOENT, M64, err, map_at, read, write
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError
from ebpflite.vm.memory import Region


def _key(env: Environment, live: Any, address: int) -> bytes:
    return read(env, address, live.key_size)


def _status(code: int) -> int:
    """A map operation's 0 / -errno as the unsigned r0."""
    return int(code) & M64


def map_lookup_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = map_at(env, r1, "bpf_map_lookup_elem")
    return int(live.lookup_address(_key(env, live, r2))) & M64


def map_update_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = map_at(env, r1, "bpf_map_update_elem")
    key = _key(env, live, r2)
    value = read(env, r3, live.value_size)
    return _status(live.update(key, value, r4))


def map_delete_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = map_at(env, r1, "bpf_map_delete_elem")
    return _status(live.delete(_key(env, live, r2)))


def _queue_op(live: Any, op: str, helper: str):
    fn = getattr(live, op, None)
    if fn is None:
        raise HelperError(f"{helper}: map {live.name} is a {live.type} map; only queue and stack "
                          f"maps support {op}")
    return fn


def map_push_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = map_at(env, r1, "bpf_map_push_elem")
    push = _queue_op(live, "push", "bpf_map_push_elem")
    return _status(push(read(env, r2, live.value_size), r3))


def _pop_or_peek(op: str):
    helper = f"bpf_map_{op}_elem"

    def fn(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        live = map_at(env, r1, helper)
        if live.type == "bloom_filter":
            # a bloom filter's peek is a membership test of the value at r2
            if op == "pop":
                return _status(live.pop())
            return _status(live.peek(read(env, r2, live.value_size)))
        value = _queue_op(live, op, helper)()
        if value is None:
            return err(ENOENT)
        write(env, r2, bytes(value))
        return 0
    fn.__name__ = f"map_{op}_elem"
    fn.__doc__ = f"{helper}(map, value): copy the {'removed ' if op == 'pop' else ''}head into value."
    return fn


map_pop_elem = _pop_or_peek("pop")
map_peek_elem = _pop_or_peek("peek")


def map_lookup_percpu_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """The value of ``key`` on CPU ``r3`` (NULL for a CPU the map does not have)."""
    live = map_at(env, r1, "bpf_map_lookup_percpu_elem")
    if not getattr(live, "PERCPU", False):
        raise HelperError(f"bpf_map_lookup_percpu_elem: map {live.name} ({live.type}) is not per-CPU")
    cpu = r3 & 0xFFFFFFFF
    if cpu >= live.possible_cpus:
        return 0
    from ebpflite.helpers.maps import layout

    saved = layout.current_cpu()
    layout.set_current_cpu(cpu)
    try:
        return int(live.lookup_address(_key(env, live, r2))) & M64
    finally:
        layout.set_current_cpu(saved)


def map_lookup_and_delete_elem(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """ebpf-for-windows: remove ``key`` and return a pointer to a copy of its value (or NULL).

    The copy lives in a per-map scratch buffer that stays valid until the
    next such call on the same map, like the per-CPU copy Windows returns.
    """
    live = map_at(env, r1, "bpf_map_lookup_and_delete_elem")
    value = live.lookup_and_delete(_key(env, live, r2))
    if value is None:
        return 0
    scratch = env.world.scratch
    region = scratch.get(live.name)
    if region is None:
        region = env.memory.add(Region(f"map {live.name} removed value",
                                       np.zeros(max(1, live.value_size), dtype=np.uint8), "map"))
        scratch[live.name] = region
    region.buf[:len(value)] = np.frombuffer(bytes(value), dtype=np.uint8)
    return region.start


IMPLS = {
    "map_lookup_elem": map_lookup_elem,
    "map_update_elem": map_update_elem,
    "map_delete_elem": map_delete_elem,
    "map_push_elem": map_push_elem,
    "map_pop_elem": map_pop_elem,
    "map_peek_elem": map_peek_elem,
    "map_lookup_percpu_elem": map_lookup_percpu_elem,
}
PLATFORM_IMPLS = {"windows": {"map_lookup_and_delete_elem": map_lookup_and_delete_elem}}
