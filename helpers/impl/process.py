"""The simulated current process: pid/tgid, uid/gid, comm, task, cgroup, Windows logon.

Tracing programs ask "who is running?"; ebpflite answers from the
:class:`~ebpflite.vm.world.Process` in ``env.world.process`` (configurable,
with defaults that look like a typical user process), so tests can check
per-process logic without a kernel.
"""

from __future__ import annotations

from ebpflite.helpers.impl._common import EINVAL, err, write
from ebpflite.vm.env import Environment
from ebpflite.vm.world import Process  # defined with the rest of the world; importable here too

TASK_COMM_LEN = 16


def process(env: Environment) -> Process:
    return env.world.process


def get_current_pid_tgid(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    p = process(env)
    return ((p.tgid & 0xFFFFFFFF) << 32) | (p.pid & 0xFFFFFFFF)


def get_current_uid_gid(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    p = process(env)
    return ((p.gid & 0xFFFFFFFF) << 32) | (p.uid & 0xFFFFFFFF)


def get_current_comm(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Copy the command name, NUL-terminated and truncated to the buffer, zero-padded."""
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return err(EINVAL)
    name = process(env).comm.encode()[:TASK_COMM_LEN - 1][:size - 1]
    write(env, r1, name + b"\0" * (size - len(name)))
    return 0


def get_current_task(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return process(env).task


def get_current_cgroup_id(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return process(env).cgroup_id


def get_current_logon_id(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return process(env).logon_id


def is_current_admin(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return int(process(env).admin)


IMPLS = {
    "get_current_pid_tgid": get_current_pid_tgid,
    "get_current_uid_gid": get_current_uid_gid,
    "get_current_comm": get_current_comm,
    "get_current_task": get_current_task,
    "get_current_cgroup_id": get_current_cgroup_id,
}
PLATFORM_IMPLS = {"windows": {"get_current_logon_id": get_current_logon_id,
                              "is_current_admin": is_current_admin}}
