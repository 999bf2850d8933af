"""The ebpf-for-windows bind policy (bind.c), tested on Linux: read these tests as its documentation.

Run them with ``python -m pytest examples/bind_policy``; each runs on the
interpreter and on the JIT. The program is compiled against the
ebpf-for-windows headers (``platform="windows"``) and loaded with the
Windows helper numbering and ``bind_md_t`` context. Each bind() the hook
would see is a :class:`ebpflite.BindRequest`: address, protocol, process
id, application id and operation.
"""

from __future__ import annotations

import struct

import pytest

from ebpflite import BindRequest
from ebpflite.testing import assert_action, assert_printed

TCP, UDP = 6, 17
BIND_PERMIT_SOFT, BIND_DENY, BIND_PERMIT_HARD = 0, 1, 3
APP = r"C:\Program Files\web\server.exe"


def port_key(port: int, protocol: int) -> bytes:
    """``port_key_t``: ``{u16 port (host order); u8 protocol; u8 pad}``."""
    return struct.pack("<HBB", port, protocol, 0)


@pytest.fixture
def policy(ebpf_compile, ebpf_load):
    """bind.c built for ebpf-for-windows and loaded on this test's engine."""
    return ebpf_load(ebpf_compile("bind.c", platform="windows"), platform="windows")


def bind(policy, address: str = "0.0.0.0:8080", *, pid: int = 1000, app: str = APP, protocol: str = "tcp",
         operation: str = "bind"):
    request = BindRequest(address, protocol=protocol, process_id=pid, app_id=app, operation=operation)
    return policy.programs["bind_policy"].run(bind=request)


def app_name(entry) -> str:
    """The application id a ``process_map`` entry recorded (UTF-16LE, cut at 64 bytes)."""
    return bytes(entry["name"]).decode("utf-16-le").rstrip("\0")


def test_binds_are_permitted_by_default_and_the_process_is_tracked(policy):
    res = bind(policy, pid=1000)

    assert_action(res, "BIND_PERMIT_SOFT")
    entry = policy.maps["process_map"][1000]
    assert int(entry["count"]) == 1
    assert app_name(entry) == APP[:32]  # 64 bytes of UTF-16 = the first 32 characters


def test_a_denied_port_is_refused_for_every_process(policy):
    policy.maps["port_policy"][port_key(445, TCP)] = BIND_DENY

    res = bind(policy, "0.0.0.0:445", pid=7)

    assert_action(res, "BIND_DENY")
    assert_printed(res, "port 445 denied to process 7")
    assert 7 not in policy.maps["process_map"]  # a refused bind holds no socket
    assert_action(bind(policy, "0.0.0.0:445", protocol="udp"), "BIND_PERMIT_SOFT")  # TCP only
    assert_action(bind(policy, "0.0.0.0:446"), "BIND_PERMIT_SOFT")


def test_the_per_process_limit_denies_extra_binds(policy):
    policy.maps["limits_map"][0] = 2

    assert_action(bind(policy, "0.0.0.0:9001", pid=42), "BIND_PERMIT_SOFT")
    assert_action(bind(policy, "0.0.0.0:9002", pid=42), "BIND_PERMIT_SOFT")
    third = bind(policy, "0.0.0.0:9003", pid=42)

    assert_action(third, "BIND_DENY")
    assert_printed(third, "pid 42 over limit 2")
    assert_action(bind(policy, "0.0.0.0:9003", pid=43), "BIND_PERMIT_SOFT")  # another process
    assert int(policy.maps["process_map"][42]["count"]) == 2


def test_unbind_gives_the_slot_back_and_forgets_idle_processes(policy):
    policy.maps["limits_map"][0] = 1
    bind(policy, pid=42)
    assert_action(bind(policy, "0.0.0.0:9999", pid=42), "BIND_DENY")

    assert_action(bind(policy, pid=42, operation="unbind"), "BIND_PERMIT_SOFT")

    assert 42 not in policy.maps["process_map"]
    assert_action(bind(policy, "0.0.0.0:9999", pid=42), "BIND_PERMIT_SOFT")


def test_permit_hard_ports_bypass_the_limit(policy):
    policy.maps["limits_map"][0] = 1
    policy.maps["port_policy"][port_key(53, UDP)] = BIND_PERMIT_HARD
    bind(policy, "0.0.0.0:8000", pid=5)

    res = bind(policy, "127.0.0.1:53", pid=5, protocol="udp")

    assert_action(res, "BIND_PERMIT_HARD")
    assert int(policy.maps["process_map"][5]["count"]) == 2


def test_post_bind_notifications_change_nothing(policy):
    res = bind(policy, operation="post_bind")

    assert_action(res, "BIND_PERMIT_SOFT")
    assert len(policy.maps["process_map"]) == 0


def test_an_empty_application_id_is_fine(policy):
    assert_action(bind(policy, pid=9, app=""), "BIND_PERMIT_SOFT")
    assert app_name(policy.maps["process_map"][9]) == ""
