"""The kill() tracer (trace.c), tested without a kernel: read these tests as its documentation.

Run them with ``python -m pytest examples/tracing_ringbuf``; each runs on the
interpreter and on the JIT. A tracepoint program's context is the raw
tracepoint record, so a test packs one with ``struct`` and passes it as
``ctx``. Who is "running" comes from a simulated :class:`ebpflite.Process`,
and time from a simulated clock (the plugin's ``ebpf_process`` and
``ebpf_clock`` fixtures, or the ``process=``/``clock=`` load options). The
test then reads the ring buffer as a user-space consumer would.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest

from ebpflite import Process
from ebpflite.testing import assert_printed, assert_return

SIGTERM, SIGKILL, SIGUSR1 = 15, 9, 10
#: struct sys_enter_kill_args: common fields, __syscall_nr, pad, pid, sig
KILL_ARGS = struct.Struct("<HBBiiIqq")
#: struct event: ts_ns, tgid, tid, uid, target, sig, comm[16], pad
EVENT = struct.Struct("<QIIIii16sI")


@dataclass
class Event:
    ts_ns: int
    tgid: int
    tid: int
    uid: int
    target: int
    sig: int
    comm: str

    @classmethod
    def parse(cls, record: bytes) -> Event:
        ts, tgid, tid, uid, target, sig, comm, _ = EVENT.unpack(record)
        return cls(ts, tgid, tid, uid, target, sig, comm.split(b"\0", 1)[0].decode())


def kill_record(target: int, sig: int) -> bytes:
    """The tracepoint record the kernel would build for ``kill(target, sig)``."""
    return KILL_ARGS.pack(0, 0, 0, 0, 62, 0, target, sig)


SHELL = Process(pid=3001, tgid=3000, uid=1000, comm="bash")


@pytest.fixture
def tracer(ebpf_load):
    return ebpf_load("trace.c", process=SHELL)


def kill(tracer, target: int, sig: int):
    return tracer.programs["trace_kill"].run(ctx=kill_record(target, sig))


def test_each_kill_becomes_one_ring_buffer_event(tracer, ebpf_clock):
    res = kill(tracer, 1234, SIGTERM)

    assert_return(res, 0)
    (record,) = tracer.maps["events"].consume()
    event = Event.parse(record)
    assert (event.tgid, event.tid, event.uid, event.comm) == (3000, 3001, 1000, "bash")
    assert (event.target, event.sig) == (1234, SIGTERM)
    assert event.ts_ns >= ebpf_clock.fixed_ns  # the simulated clock: 1000 s after boot
    assert tracer.maps["events"].consume() == []  # consumed records are gone


def test_events_arrive_in_order_and_timestamps_advance(tracer):
    for target in (10, 20, 30):
        kill(tracer, target, SIGUSR1)

    events = [Event.parse(r) for r in tracer.maps["events"].consume()]

    assert [e.target for e in events] == [10, 20, 30]
    assert events[0].ts_ns < events[1].ts_ns < events[2].ts_ns


def test_calls_are_counted_per_signal(tracer):
    for sig in (SIGTERM, SIGTERM, SIGKILL, SIGTERM):
        kill(tracer, 99, sig)

    assert dict(tracer.maps["signal_counts"].items()) == {SIGTERM: 3, SIGKILL: 1}


def test_sigkill_is_also_printed(tracer):
    res = kill(tracer, 4321, SIGKILL)

    assert_printed(res, "kill -9 4321 from pid 3000")
    assert kill(tracer, 4321, SIGTERM).trace_output == []


def test_the_comm_of_another_process(ebpf_load):
    obj = ebpf_load("trace.c", process=Process(pid=77, tgid=77, uid=0, comm="a-very-long-command-name"))
    kill(obj, 1, SIGTERM)

    event = Event.parse(obj.maps["events"].consume()[0])
    assert (event.tgid, event.uid, event.comm) == (77, 0, "a-very-long-com")  # TASK_COMM_LEN - 1 chars


def test_a_full_ring_counts_dropped_events(tracer):
    """4096 bytes hold 73 records of 56 bytes (48 + an 8-byte header); nobody reads, so the rest drop."""
    for i in range(80):
        kill(tracer, i, SIGUSR1)

    kept = tracer.maps["events"].records()
    assert len(kept) == 4096 // (EVENT.size + 8)
    assert tracer.maps["dropped"][0] == 80 - len(kept)
    assert Event.parse(kept[-1]).target == len(kept) - 1

    tracer.maps["events"].consume()  # the reader catches up: events flow again
    kill(tracer, 1000, SIGUSR1)
    assert Event.parse(tracer.maps["events"].consume()[0]).target == 1000


def test_engines_agree(ebpf_both):
    obj = ebpf_both("trace.c", process=SHELL)
    for sig in (SIGKILL, SIGTERM):
        obj.programs["trace_kill"].run(ctx=kill_record(5, sig))
