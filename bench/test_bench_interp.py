"""Interpreter speed: instructions per second on three kinds of program.

Run with ``pytest bench/ --benchmark-only``; each benchmark reports
``M insn/s`` in ``extra_info`` (goal for the ALU loop: at least 8 M/s,
against about 4 M/s for a naive decode-and-dispatch loop).

- ``alu``: a tight loop of register arithmetic and a conditional jump.
- ``memory``: a loop that loads, adds and stores through the input memory
  and the stack.
- ``calls``: a loop making a bpf-to-bpf call and a helper call per turn.
"""

from __future__ import annotations

import pytest

from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.isa import BY_NAME
from ebpflite.vm.memory import Region, low_alloc
from ebpflite.vm.program import Program

LOOPS = 40_000


def reg(name: str, dst: int, src: int, off: int = 0) -> Insn:
    """The register-source form of an ALU/jump mnemonic."""
    return make(next(s for s in BY_NAME[name] if s.source == "X"), dst=dst, src=src, off=off)


def program(*insns: Insn) -> Program:
    return Program([insn.with_fields(pc=pc) for pc, insn in enumerate(insns)])


def alu_loop() -> Program:
    return program(
        make("mov", dst=0, imm=0), make("mov", dst=1, imm=0), make("mov", dst=2, imm=1),
        # loop:
        make("add", dst=0, imm=3), reg("xor", 2, 0), make("lsh", dst=2, imm=1), make("and32", dst=2, imm=0xFFFF),
        reg("sub", 0, 2), make("rsh", dst=0, imm=1), make("add", dst=1, imm=1),
        make("jlt", dst=1, imm=LOOPS, off=-8),
        make("exit"))


def memory_loop() -> Program:
    # r1 = memory (16 bytes); r2 = counter
    return program(
        make("mov", dst=2, imm=0),
        # loop:
        make("ldxdw", dst=3, src=1), reg("add", 3, 2), make("stxdw", dst=1, src=3, off=8),
        make("stxdw", dst=10, src=3, off=-8), make("ldxw", dst=4, src=10, off=-8), make("stxw", dst=1, src=4),
        make("add", dst=2, imm=1), make("jlt", dst=2, imm=LOOPS, off=-8),
        make("ldxdw", dst=0, src=1, off=8), make("exit"))


def call_loop() -> Program:
    return program(
        make("mov", dst=6, imm=0), make("mov", dst=7, imm=0),
        # loop:
        reg("mov", 1, 6), make("call local", imm=6), reg("add", 7, 0),
        make("call", imm=5), make("add", dst=6, imm=1), make("jlt", dst=6, imm=LOOPS, off=-6),
        reg("mov", 0, 7), make("exit"),
        # f(r1) = r1 * 2 + 1
        reg("mov", 0, 1), make("mul", dst=0, imm=2), make("add", dst=0, imm=1), make("exit"))


def _env() -> tuple[Environment, int]:
    env = Environment.minimal(helpers={5: lambda env, r1, r2, r3, r4, r5: r1}, budget=None)
    region = env.memory.add(Region("mem", low_alloc(16)))
    return env, region.start


@pytest.mark.parametrize("kind", ["alu", "memory", "calls"])
def test_interpreter_speed(benchmark, kind: str):
    build = {"alu": alu_loop, "memory": memory_loop, "calls": call_loop}[kind]
    env, mem = _env()
    interp = Interpreter(build(), env)
    result = benchmark.pedantic(interp.run, kwargs={"r1": mem, "r2": 16}, rounds=5, iterations=1)
    assert result.insns_executed > 5 * LOOPS
    if kind == "calls":  # r0 = sum of f(i) = 2i + 1 over the loop: proves f really ran
        assert result.r0 == LOOPS * LOOPS
    if benchmark.stats is None:  # --benchmark-disable: the run was only a check
        return
    best = benchmark.stats.stats.min
    benchmark.extra_info["insns_per_run"] = result.insns_executed
    benchmark.extra_info["M insn/s"] = round(result.insns_executed / best / 1e6, 2)
