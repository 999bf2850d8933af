"""Clock helpers: ktime_get_ns and its boot/coarse/tai forms, jiffies64, Windows ms clocks.

A run reads time from the :class:`~ebpflite.vm.world.Clock` in
``env.world.clock`` (defined with the rest of a run's world in vm/world.py).
By default it follows the host's clocks (CLOCK_MONOTONIC, CLOCK_BOOTTIME,
CLOCK_TAI); a fixed clock (``Clock(fixed_ns=...)``) makes runs
reproducible, with ``step_ns`` added after each reading so that a program
measuring an interval sees time pass.
"""

from __future__ import annotations

from ebpflite.vm.env import Environment
from ebpflite.vm.world import Clock  # defined with the rest of the world; importable here too

HZ = 250  #: the usual CONFIG_HZ; jiffies64 and the coarse clock tick at this rate
_TICK_NS = 1_000_000_000 // HZ


def clock(env: Environment) -> Clock:
    return env.world.clock


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
