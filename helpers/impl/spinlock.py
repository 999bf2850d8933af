"""bpf_spin_lock / bpf_spin_unlock on a ``struct bpf_spin_lock`` inside a map value.

One run is single-threaded, so a lock is never contended; what can go
wrong is misuse, which the kernel's verifier refuses and we report at run
time: taking a lock twice, releasing one not held, or (checked by the
runtime after the run) exiting with a lock held. The lock word is set to 1
while held so that userspace sees the state.
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import M64
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError


def _held(env: Environment) -> set[int]:
    return env.world.spin_locks


def spin_lock(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    address = r1 & M64
    if address % 4:
        raise HelperError(f"bpf_spin_lock: lock at 0x{address:x} is not 4-byte aligned")
    held = _held(env)
    if address in held:
        raise HelperError(f"bpf_spin_lock: the lock at 0x{address:x} is already held (deadlock)")
    if held:
        raise HelperError("bpf_spin_lock: another bpf_spin_lock is held; only one may be held at a time")
    env.memory.store(address, 4, 1)
    held.add(address)
    return 0


def spin_unlock(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    address = r1 & M64
    held = _held(env)
    if address not in held:
        raise HelperError(f"bpf_spin_unlock: the lock at 0x{address:x} is not held")
    env.memory.store(address, 4, 0)
    held.discard(address)
    return 0


IMPLS = {"spin_lock": spin_lock, "spin_unlock": spin_unlock}
