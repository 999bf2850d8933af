"""Helper implementations, one module per family, looked up by the registry by name.

Each family module has ``IMPLS: dict[str, HelperFn]`` keyed by the helper's
short name (``map_lookup_elem``); :func:`implementations` merges them. A
helper has the signature ``fn(env, r1, r2, r3, r4, r5) -> r0``.

Per-run state lives in ``env.state`` under these keys (the runtime,
``runtime/runner.py``, fills them; tests may set them by hand):

=====================  ==========================================================
``platform``           ``"linux"`` or ``"windows"``
``maps_by_address``    ``{descriptor address: live map}`` of the object
``programs``           ``{program id: Program}`` (prog_array values are ids)
``program_maps``       ``{id(Program): [live maps by lddw index]}`` (tail calls)
``ctx``                the context object (``contexts.XdpContext`` ...)
``process``            :class:`process.Process` (pid, tgid, uid, gid, comm, task)
``clock``              :class:`time.Clock`
``prandom``            a ``random.Random`` (seedable)
``call_function``      set by the ENGINE: ``fn(pc, r1, r2, r3, r4, r5) -> r0``
                       runs the subprogram starting at slot ``pc`` of the
                       current program in a new stack frame (bpf_loop,
                       for_each_map_elem); see :mod:`loop`
``redirect``           the last redirect target (dict) of this run
``perf_events``        records written by perf_event_output (list of dicts)
``spin_locks``         addresses of held bpf_spin_locks
``net``                the simulated network (:class:`~ebpflite.helpers.net.Net`): devices,
                       routes, neighbours, sockets
``sockets``            socket views handed out by sk_lookup_* in this run, with reference counts
=====================  ==========================================================
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
