"""Checked mode's inline region caches (jit/lower.py ``access``) never let a stale region through.

Each (base register, read/write) of a checked function remembers the region
its last access reached and checks the next one inline against it. These
tests put the cases where a remembered region would be wrong in front of
both engines: a helper shrinking or dropping the region between two accesses
through the same register, the last bytes of a region (cached regions admit
only accesses that fit whole), a region shorter than the widest access, a
read-only region reached first by a read and then written, and a loop
walking off the end of a buffer. The interpreter is the reference: same
error, message and pc, same memory.
"""

from __future__ import annotations

import pytest
from jit_harness import EXIT, agree, buffer, insn, program

from ebpflite.errors import MemoryFault
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.memory import Region


def _with_buffer(size: int = 64, writable: bool = True, helpers=None):
    def make():
        env = Environment.minimal(helpers=helpers or {})
        region = buffer(env, bytes(range(size)), writable=writable)
        return env, {"r1": region.start}
    return make


def _shrinking_helper(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Helper 7: replace the region at r1 by its first r2 bytes (as bpf_xdp_adjust_tail does)."""
    old = env.memory.find(r1)
    env.memory.replace(old, Region(old.name, old.buf[:r2], old.kind))
    return 0


def _dropping_helper(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Helper 8: drop the region at r1 (as submitting a ring buffer record does)."""
    env.memory.remove(env.memory.find(r1))
    return 0


@pytest.mark.parametrize("helper", [7, 8], ids=["shrunk", "dropped"])
def test_a_helper_changing_the_region_forgets_the_cache(helper):
    """The first load caches the buffer through r6; after the helper, the same load through r6
    must fault (the region is shorter, or gone)."""
    helpers = {7: _shrinking_helper, 8: _dropping_helper}
    prog = program(insn("mov", dst=6, src=1),
                   insn("ldxdw", dst=0, src=6, off=32),
                   insn("mov", dst=1, src=6), insn("mov", dst=2, imm=16),
                   insn("call", imm=helper),
                   insn("ldxdw", dst=0, src=6, off=32), EXIT)
    errors = []
    for engine in (Interpreter, JitProgram):  # each on its own environment: the helper changes it
        env, regs = _with_buffer(helpers=helpers)()
        with pytest.raises(MemoryFault) as err:
            engine(prog, env).run(**regs)
        errors.append((err.value.pc, str(err.value).replace(hex(regs["r1"] + 32), "ADDR").split(" (")[0]))
    assert errors[0] == errors[1]
    assert errors[0][0] == 5 and "ADDR" in errors[0][1]


@pytest.mark.parametrize("off,size_name", [(56, "ldxdw"), (57, "ldxdw"), (60, "ldxw"), (61, "ldxw"),
                                           (62, "ldxh"), (63, "ldxb"), (64, "ldxb")])
def test_the_last_bytes_of_a_cached_region(off, size_name):
    """A first load caches the buffer; the second reaches its last bytes or one past them."""
    prog = program(insn("ldxb", dst=0, src=1, off=0), insn(size_name, dst=0, src=1, off=off), EXIT)
    agree(prog, _with_buffer())


@pytest.mark.parametrize("off", [0, 1, 2, 3, 4])
def test_a_region_shorter_than_the_widest_access(off):
    """A 4-byte region is never cached: each access walks the table, and the ones that do
    not fit fault."""
    prog = program(insn("ldxh", dst=0, src=1, off=0), insn("ldxw", dst=2, src=1, off=off),
                   insn("ldxb", dst=3, src=1, off=off), insn("add", dst=0, src=2), EXIT)
    agree(prog, _with_buffer(size=4))


def test_a_read_only_region_read_then_written():
    """A read caches the region for reads only; the write through the same register faults."""
    prog = program(insn("ldxw", dst=0, src=1, off=8), insn("stw", dst=1, off=8, imm=5), EXIT)
    env, regs = _with_buffer(writable=False)()
    with pytest.raises(MemoryFault, match="read-only") as err:
        JitProgram(prog, env, checked=True).run(**regs)
    assert err.value.pc == 1
    agree(prog, _with_buffer(writable=False))


def test_a_loop_walking_off_the_end_faults_at_the_first_byte_past_it():
    """r2 walks the buffer a byte at a time; the cached check admits bytes 0..63 and the
    load of byte 64 faults, with the sum so far in memory: the stack's last store."""
    prog = program(insn("mov", dst=2, src=1), insn("mov", dst=0, imm=0),
                   insn("ldxb", dst=3, src=2, off=0),                 # 2: loop
                   insn("add", dst=0, src=3), insn("stxdw", dst=10, src=0, off=-8),
                   insn("add", dst=2, imm=1), insn("ja", off=-5), EXIT)
    outcome = agree(prog, _with_buffer())
    assert outcome[:2] == ("error", "MemoryFault") and outcome[3] == 2
    assert "0 bytes after the end of buf" in outcome[2] or "after the end" in outcome[2]


def test_copy_between_two_regions_keeps_both_cached_and_exact():
    """The memcpy shape: loads through r2 from one region, stores through r1 into another."""
    def make():
        env = Environment.minimal()
        src = buffer(env, bytes(range(100, 132)), name="src")
        dst = buffer(env, bytes(32), name="dst")
        return env, {"r1": dst.start, "r2": src.start}
    prog = program(insn("mov", dst=3, imm=0),
                   insn("ldxb", dst=4, src=2, off=0), insn("stxb", dst=1, src=4, off=0),   # 1: loop
                   insn("add", dst=1, imm=1), insn("add", dst=2, imm=1), insn("add", dst=3, imm=1),
                   insn("jlt", dst=3, imm=32, off=-6), insn("mov", dst=0, src=3), EXIT)
    outcome = agree(prog, make)
    assert outcome[:2] == ("ok", 32)
