"""Helper implementations, one module per family, looked up by the registry by name.

Each family module has ``IMPLS: dict[str, HelperFn]`` keyed by the helper's
short name (``map_lookup_elem``); :func:`implementations` merges them. A
helper has the signature ``fn(env, r1, r2, r3, r4, r5) -> r0``.

What a helper reads and leaves besides memory (the clock, the process, the
random generator, the context, the redirect target, held locks and ring
buffer records, the network...) is ``env.world``, a
:class:`~ebpflite.vm.world.World` whose fields are listed, typed and
documented in vm/world.py (the runtime, ``runtime/runner.py``, fills them;
tests may set them by hand).
"""

from __future__ import annotations

import importlib

from ebpflite.vm.env import HelperFn

FAMILIES = ("maps", "time", "trace", "random", "process", "xdp", "ringbuf", "perf", "csum", "loop",
            "tailcall", "probe", "spinlock", "strings", "skb", "route", "sockets")


def implementations(platform: str) -> dict[str, HelperFn]:
    """Every implemented helper of ``platform`` by short name."""
    impls: dict[str, HelperFn] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        impls.update(module.IMPLS)
        impls.update(getattr(module, "PLATFORM_IMPLS", {}).get(platform, {}))
    return impls
