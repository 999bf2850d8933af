"""Which context a program runs on: one builder per program type, in a table.

A run of a ``prog_type`` program gets its context from :data:`BUILDERS`
(keyed by program type; the builder is told the platform); a type without an
entry runs on raw context bytes (:class:`~ebpflite.helpers.contexts.RawContext`)
or, given a packet, on the conformance convention r1 = data, r2 = length
(:class:`~ebpflite.helpers.contexts.MemContext`). The context classes live in
``helpers/contexts.py`` (the helpers read and move them during a run); the
runtime only picks and builds them, and reads them back after the run. A new
program type with a context of its own adds one entry here.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from ebpflite.helpers.contexts import (
    BindContext,
    BindRequest,
    Context,
    MemContext,
    RawContext,
    XdpContext,
    xdp_from_ctx_in,
)
from ebpflite.helpers.net import Net
from ebpflite.helpers.skb import SKB_TYPES, SkbContext, TestRunRefused
from ebpflite.vm.contexts import SK_BUFF_SIZE, descriptor
from ebpflite.vm.errors import ContextError


@dataclass(frozen=True)
class RunInput:
    """What one run was given: a packet (data_in), context bytes (ctx_in), a bind request,
    and the simulated network the object's programs see (helpers/net.py)."""

    packet: bytes | None = None
    ctx: bytes | None = None
    bind: BindRequest | None = None
    net: Net | None = None


#: builder(platform, inputs) -> the context of one run
Builder = Callable[[str, RunInput], Context]


def _xdp(platform: str, given: RunInput) -> Context:
    """An XDP frame; ``ctx`` is an ``xdp_md`` as BPF_PROG_TEST_RUN takes it."""
    if given.packet is None:
        raise ContextError("an XDP program needs a packet (data_in)")
    if given.ctx is not None:
        return xdp_from_ctx_in(given.packet, given.ctx, platform)
    return XdpContext(given.packet, platform)


def _bind(platform: str, given: RunInput) -> Context:
    """ebpf-for-windows bind: a :class:`BindRequest`, or the raw 56-byte ``bind_md`` in ``ctx``."""
    if given.bind is not None:
        return BindContext(given.bind)
    context = _raw(platform, given, "bind")
    if given.packet is None:  # a bind_md given as bytes still names its decisions
        context.actions = descriptor("bind", "windows").actions
    return context


def _skb(prog_type: str) -> Builder:
    """An ``__sk_buff`` built as BPF_PROG_TEST_RUN builds it from data_in and ctx_in (helpers/skb.py)."""
    def build_skb(platform: str, given: RunInput) -> Context:
        if platform != "linux":
            return _raw(platform, given, prog_type)
        if given.packet is None:
            raise TestRunRefused(errno.EINVAL, f"a {prog_type} program runs on a packet (data_in): the "
                                 "kernel builds its __sk_buff from one")
        return SkbContext(prog_type, given.packet, given.ctx, net=given.net)
    return build_skb


def _raw(platform: str, given: RunInput, prog_type: str = "") -> Context:
    """Any other type: r1 -> a copy of ``ctx``, or r1/r2 = a copy of ``packet`` and its length."""
    if given.packet is not None and given.ctx is not None:
        raise ContextError(f"a {prog_type} program takes either a packet or a context, not both "
                           "(only xdp combines them)")
    if given.packet is not None:
        return MemContext(given.packet)
    return RawContext(given.ctx or b"")


#: program type -> builder; types not listed run on raw bytes (:func:`_raw`)
BUILDERS: dict[str, Builder] = {"xdp": _xdp, "bind": _bind, **{t: _skb(t) for t in sorted(SKB_TYPES)}}


def ctx_out_only_input(prog_type: str, platform: str) -> bytes | None:
    """The ctx_in BPF_PROG_TEST_RUN uses when a caller asks for ctx_out but gives no ctx_in: a
    zeroed ``__sk_buff`` for the skb types (its ``wire_len`` then reads as ``len``), None otherwise."""
    if platform == "linux" and prog_type in SKB_TYPES:
        return bytes(SK_BUFF_SIZE)
    return None


def build(prog_type: str, platform: str, *, packet: bytes | None = None, ctx: bytes | None = None,
          bind: BindRequest | None = None, net: Net | None = None) -> Context:
    """The context for one run of a ``prog_type`` program on ``platform``.

    - ``xdp``: ``packet`` required; ``ctx`` is an ``xdp_md`` as for BPF_PROG_TEST_RUN;
    - ``bind`` (Windows): a :class:`BindRequest`, or the raw 56-byte ``bind_md`` in ``ctx``;
    - ``sched_cls``, ``sched_act``, ``socket_filter``, ``cgroup_skb``, ``lwt_*`` (Linux): an
      ``__sk_buff`` over ``packet`` (required) with ``ctx`` as its ctx_in, devices from ``net``;
    - anything else: ``ctx`` -> r1 points to a copy (:class:`RawContext`), or
      ``packet`` -> r1/r2 = a copy and its length (:class:`MemContext`).
    """
    given = RunInput(packet, ctx, bind, net)
    builder = BUILDERS.get(prog_type)
    if builder is None:
        return _raw(platform, given, prog_type)
    return builder(platform, given)
