"""Ring buffer helpers: output, reserve, submit, discard, query.

The ring itself (record headers, the consumer) is ``helpers/maps/ringbuf.py``.
``submit``/``discard`` get only the record pointer, so the records a run
reserved are remembered in ``env.world.ringbuf_reserved`` (address ->
map); submitting an address that was not reserved is a HelperError (the
verifier's "release of an unacquired reference").
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import M64, map_at, read
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError


def _ring(env: Environment, address: int, helper: str):
    live = map_at(env, address, helper)
    if live.type != "ringbuf":
        raise HelperError(f"{helper}: map {live.name} is a {live.type} map, not a ringbuf")
    return live


def ringbuf_output(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = _ring(env, r1, "bpf_ringbuf_output")
    return live.output(read(env, r2, r3 & 0xFFFFFFFF), r4) & M64


def ringbuf_reserve(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    live = _ring(env, r1, "bpf_ringbuf_reserve")
    address = live.reserve(r2 & M64, r3)
    if address:
        env.world.ringbuf_reserved[address] = live
    return address


def _release(helper: str, discard: bool):
    def fn(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        live = env.world.ringbuf_reserved.pop(r1 & M64, None)
        if live is None:
            raise HelperError(f"{helper}: 0x{r1 & M64:x} is not a record reserved by bpf_ringbuf_reserve "
                              "in this run (or it was already submitted or discarded)")
        (live.discard if discard else live.submit)(r1 & M64, r2)
        return 0
    fn.__name__ = helper[4:]
    fn.__doc__ = f"{helper}(data, flags): {'drop' if discard else 'publish'} a reserved record."
    return fn


ringbuf_submit = _release("bpf_ringbuf_submit", discard=False)
ringbuf_discard = _release("bpf_ringbuf_discard", discard=True)


def ringbuf_query(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return _ring(env, r1, "bpf_ringbuf_query").query(r2) & M64


IMPLS = {
    "ringbuf_output": ringbuf_output,
    "ringbuf_reserve": ringbuf_reserve,
    "ringbuf_submit": ringbuf_submit,
    "ringbuf_discard": ringbuf_discard,
    "ringbuf_query": ringbuf_query,
}
