"""The world a program runs in: what the helpers read and leave, in one typed place.

An eBPF program sees more than its registers and memory: who is running
(:class:`Process`), what time it is (:class:`Clock`), a random generator,
the network, the object's maps by address; and a run leaves things behind
(a redirect target, perf records, held locks and ring buffer records that
must be released). :class:`World` holds all of it for one
:class:`~ebpflite.vm.env.Environment` (``env.world``), one named, typed field
per thing, so a reader sees here everything a run may touch besides memory.
(The lines ``bpf_trace_printk`` prints are ``env.trace_output``.)

Who fills what: the runtime (``runtime/runner.py``) sets the surroundings
when it builds an environment (the clock, process, network and maps are the
object's, shared by all of its programs); the engine sets
``call_function`` before each run; the helpers (``helpers/impl/``) set and
read the rest; the runner clears the per-run fields after each run
(:meth:`World.end_run`) and checks nothing was left held. Tests may set any
field by hand.

It lives in ``vm`` because both engines and the helpers read it (the JIT's
batch loop copies the clock and the generator into native memory,
``jit/batch.py``), and ``vm`` is the layer below all of them. Types that
belong to higher layers (the context classes, the simulated network) are
typed ``Any`` here and named in the field's comment.
"""

from __future__ import annotations

import random
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ebpflite.vm.memory import Region

#: ``fn(target_pc, r1, r2, r3, r4, r5) -> r0``: run the subprogram at slot ``target_pc``
CallFunction = Callable[..., int]


@dataclass
class Clock:
    """Where a run gets the time. ``fixed_ns=None`` reads the host clocks.

    By default runs follow the host's clocks (CLOCK_MONOTONIC,
    CLOCK_BOOTTIME, CLOCK_TAI); a fixed clock (``Clock(fixed_ns=...)``) makes
    runs reproducible, with ``step_ns`` added after each reading so that a
    program measuring an interval sees time pass. The helpers reading it are
    in ``helpers/impl/time.py``; the JIT's native helpers read the same
    fields (``jit/native_world.py``).
    """

    fixed_ns: int | None = None
    step_ns: int = 0
    #: boot time minus monotonic time, for the fixed clock (time spent suspended)
    boot_offset_ns: int = 0
    #: TAI minus monotonic, for the fixed clock
    tai_offset_ns: int = 0

    def _read(self, clock_id: int | None, offset: int) -> int:
        if self.fixed_ns is None:
            return _time.clock_gettime_ns(clock_id if clock_id is not None else _time.CLOCK_MONOTONIC)
        now = self.fixed_ns + offset
        self.fixed_ns += self.step_ns
        return now

    def monotonic_ns(self) -> int:
        return self._read(_time.CLOCK_MONOTONIC, 0)

    def boot_ns(self) -> int:
        return self._read(getattr(_time, "CLOCK_BOOTTIME", _time.CLOCK_MONOTONIC), self.boot_offset_ns)

    def tai_ns(self) -> int:
        return self._read(getattr(_time, "CLOCK_TAI", _time.CLOCK_REALTIME), self.tai_offset_ns)


@dataclass
class Process:
    """The simulated current process (``helpers/impl/process.py`` answers "who is running?" from it).

    The defaults look like a typical user process, so tracing programs'
    per-process logic can be tested without a kernel."""

    pid: int = 4242  #: the thread id (the kernel's pid)
    tgid: int = 4242  #: the process id (the kernel's tgid)
    uid: int = 1000
    gid: int = 1000
    comm: str = "ebpflite"
    #: a stand-in for the task_struct address (programs only compare or pass it on)
    task: int = 0xFFFF_8880_0BAD_0000
    cgroup_id: int = 1
    logon_id: int = 0x3E7  #: Windows logon session id (SYSTEM)
    admin: bool = False  #: Windows: is the current user an administrator


@dataclass
class World:
    """Everything a run reads or leaves besides registers and memory (see the module docstring)."""

    # --- the surroundings: set by the runtime when it builds the environment ---------------
    #: ``"linux"`` or ``"windows"``: whose helper semantics and names apply
    platform: str = "linux"
    #: ``{descriptor address: live map}`` of the object (a helper's map argument is an address)
    maps_by_address: dict[int, Any] = field(default_factory=dict)
    #: ``{id(Program): [live maps by lddw index]}``: the maps a tail-call target runs with
    program_maps: dict[int, list[Any]] = field(default_factory=dict)
    #: who is running (bpf_get_current_pid_tgid, _uid_gid, _comm, _task, ...)
    process: Process = field(default_factory=Process)
    #: what time it is (bpf_ktime_get_*_ns, jiffies64, the Windows ms clocks)
    clock: Clock = field(default_factory=Clock)
    #: the seed of :attr:`prandom` (None: the OS's randomness, like the kernel's)
    seed: int | None = None
    #: bpf_get_prandom_u32's generator; None until first used (:meth:`generator` makes it)
    prandom: random.Random | None = None
    #: the simulated network (``helpers.net.Net``: devices, routes, neighbours, sockets) for
    #: bpf_fib_lookup, bpf_sk_lookup_*, bpf_redirect_neigh...; None: an empty one
    net: Any = None

    # --- set by the engine before each run --------------------------------------------------
    #: runs the subprogram at a slot of the *currently executing* program as a bpf-to-bpf call
    #: would (new frame, r6-r9 kept, call depth and budget counted) and returns its r0:
    #: how bpf_loop and bpf_for_each_map_elem call back (``helpers/impl/loop.py``)
    call_function: CallFunction | None = None

    # --- what one run holds: the runner clears these after each run (end_run) ---------------
    #: the context object of this run (``helpers.contexts.XdpContext``, ``helpers.skb.SkbContext``...)
    ctx: Any = None
    #: where bpf_redirect / bpf_redirect_map / bpf_redirect_neigh / _peer sent the packet
    #: (the runner clears it before each repeat and reports it as ``Result.redirect``)
    redirect: dict[str, Any] | None = None
    #: addresses of the bpf_spin_locks held (exiting with one held is an error)
    spin_locks: set[int] = field(default_factory=set)
    #: ``{record address: ringbuf map}`` reserved and not yet submitted or discarded
    ringbuf_reserved: dict[int, Any] = field(default_factory=dict)
    #: ``{bpf_sock address: (socket, its read-only region, references held)}`` handed out by
    #: bpf_sk_lookup_* (``helpers/impl/sockets.py`` unmaps them after the run)
    sockets: dict[int, tuple[Any, Region, int]] = field(default_factory=dict)
    #: a packet for legacy LD_ABS/LD_IND without an ``__sk_buff`` context: (address, length);
    #: None: the context's own ``ld_abs`` rules apply
    skb_data: tuple[int, int] | None = None

    # --- what runs leave for the caller (kept across runs) ----------------------------------
    #: records bpf_perf_event_output wrote (``{"map": name, "data": bytes}``), in order
    perf_events: list[dict[str, Any]] = field(default_factory=list)
    #: packets bpf_clone_redirect sent (``helpers/impl/skb.py``)
    clones: list[dict[str, Any]] = field(default_factory=list)

    # --- helper buffers reused across runs ----------------------------------------------------
    #: per map name: the buffer Windows' bpf_map_lookup_and_delete_elem returns a copy in
    scratch: dict[str, Region] = field(default_factory=dict)
    #: per map name: the read-only key buffer bpf_for_each_map_elem passes its callback
    callback_keys: dict[str, Region] = field(default_factory=dict)

    def generator(self) -> random.Random:
        """:attr:`prandom`, created from :attr:`seed` on first use (every reader goes through
        here, so the interpreter, the JIT's batch loop and ``engine="both"`` draw the same
        sequence)."""
        if self.prandom is None:
            self.prandom = random.Random(self.seed)
        return self.prandom

    def end_run(self) -> None:
        """Forget what the finished run held (its context, reserved records, held locks).

        Socket views also map memory: ``helpers/impl/sockets.py`` ``forget``
        unmaps and clears them."""
        self.ctx = None
        self.ringbuf_reserved = {}
        self.spin_locks = set()
