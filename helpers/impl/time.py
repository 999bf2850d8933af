"""Clock helpers: ktime_get_ns and its boot/coarse/tai forms, jiffies64, Windows ms clocks.

A run reads time from the :class:`Clock` in ``env.state["clock"]``. By
default it follows the host's clocks (CLOCK_MONOTONIC, CLOCK_BOOTTIME,
CLOCK_TAI); a fixed clock (``Clock(fixed_ns=...)``) makes runs
reproducible, with ``step_ns`` added after each reading so that a program
measuring an interval sees time pass.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

from ebpflite.vm.env import Environment

HZ = 250  #: the usual CONFIG_HZ; jiffies64 and the coarse clock tick at this rate
_TICK_NS = 1_000_000_000 // HZ


@dataclass
class Clock:
    """Where a run gets the time. ``fixed_ns=None`` reads the host clocks."""

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


def clock(env: Environment) -> Clock:
    c = env.state.get("clock")
    if c is None:
        c = env.state["clock"] = Clock()
    return c


def ktime_get_ns(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return clock(env).monotonic_ns()


def ktime_get_boot_ns(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return clock(env).boot_ns()


def ktime_get_coarse_ns(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Monotonic time at the last timer tick (the kernel's coarse clock)."""
    now = clock(env).monotonic_ns()
    return now - now % _TICK_NS


def ktime_get_tai_ns(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return clock(env).tai_ns()


def jiffies64(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Ticks since boot at ``HZ``."""
    return clock(env).boot_ns() // _TICK_NS


def ktime_get_boot_ms(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return clock(env).boot_ns() // 1_000_000


def ktime_get_ms(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return clock(env).monotonic_ns() // 1_000_000


IMPLS = {
    "ktime_get_ns": ktime_get_ns,
    "ktime_get_boot_ns": ktime_get_boot_ns,
    "ktime_get_coarse_ns": ktime_get_coarse_ns,
    "ktime_get_tai_ns": ktime_get_tai_ns,
    "jiffies64": jiffies64,
}
PLATFORM_IMPLS = {"windows": {"ktime_get_boot_ms": ktime_get_boot_ms, "ktime_get_ms": ktime_get_ms}}
