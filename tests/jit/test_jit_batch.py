"""Batch execution of an XDP program over many packets in one native call."""

from __future__ import annotations

import numpy as np
import pytest
from jit_harness import EXIT, insn, program

from ebpflite.errors import ContextError, MemoryFault
from ebpflite.jit.batch import PacketBatch
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.memory import Region, low_alloc

# XDP: drop (1) short packets, pass (2) IPv4, drop others; rewrite byte 0 of passed packets
PARSE = program(
    insn("ldxw", dst=2, src=1, off=0), insn("ldxw", dst=3, src=1, off=4),
    insn("mov", dst=0, imm=1), insn("mov", dst=4, src=2), insn("add", dst=4, imm=14),
    insn("jgt", dst=4, src=3, off=5),
    insn("ldxh", dst=5, src=2, off=12), insn("jne", dst=5, imm=0x0008, off=3),
    insn("stb", dst=2, imm=0xAA), insn("mov", dst=0, imm=2), EXIT,
    EXIT, name="parse")

PACKETS = [bytes(12) + b"\x08\x00" + bytes(range(30)), bytes(12) + b"\x86\xdd" + bytes(20), bytes(9),
           bytes(12) + b"\x08\x00"]


def _interp_verdict(packet: bytes) -> tuple[int, bytes]:
    env = Environment.minimal()
    buf = low_alloc(len(packet))
    buf[:] = np.frombuffer(packet, dtype=np.uint8)
    pkt = env.memory.add(Region("packet", buf, "packet"))
    md = low_alloc(24)
    md[:8] = np.frombuffer(pkt.start.to_bytes(4, "little") + pkt.end.to_bytes(4, "little"), dtype=np.uint8)
    ctx = env.memory.add(Region("xdp_md", md, "ctx"))
    return Interpreter(PARSE, env).run(r1=ctx.start).r0, buf.tobytes()


@pytest.mark.parametrize("checked", [True, False])
def test_batch_matches_the_interpreter_packet_by_packet(checked: bool):
    jit = JitProgram(PARSE, Environment.minimal(), checked=checked)
    result = jit.run_batch(PACKETS * 3)
    # packets shorter than an Ethernet header are refused (as the kernel's test run does): verdict 0, no packet
    expected = [_interp_verdict(p) if len(p) >= 14 else (0, None) for p in PACKETS * 3]
    assert list(result.verdicts) == [v for v, _ in expected]
    assert [result.packet(i) for i in range(len(PACKETS) * 3)] == [p for _, p in expected]
    assert result.out_lengths.tolist() == [len(p) if p else 0 for _, p in expected]
    assert len(jit.env.memory.regions) == 1  # only the stack is left


def test_empty_batch_and_bad_headroom():
    jit = JitProgram(PARSE)
    assert len(jit.run_batch([]).verdicts) == 0
    with pytest.raises(ContextError, match="headroom must be >= 0"):
        PacketBatch.from_packets([b"x"], headroom=-1)


def test_a_fault_stops_the_batch_and_names_the_packet():
    # reads 100 bytes past data without a bounds check: faults on short packets in checked mode
    reckless = program(insn("ldxw", dst=2, src=1, off=0), insn("ldxb", dst=0, src=2, off=100), EXIT)
    jit = JitProgram(reckless, checked=True)
    with pytest.raises(MemoryFault) as info:
        jit.run_batch([bytes(200), bytes(200), bytes(20)])
    assert info.value.packet_index == 2 and info.value.pc == 1
    # the environment is left as it was
    assert len(jit.env.memory.regions) == 1
