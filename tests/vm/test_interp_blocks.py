"""Compiled blocks (vm.blocks) against the per-instruction handlers.

Trace mode runs every instruction through its own handler, so it is the
reference here: with blocks compiled at once (``COMPILE_AFTER = 0``) every
program must give the same r0, the same instruction count, the same
registers, and fail with the same error at the same pc, including a budget
that runs out in the middle of a block.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebpflite.errors import BudgetExceeded, EbpfError, MemoryFault
from ebpflite.vm import blocks
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, decode, make
from ebpflite.vm.interp import Interpreter, conformance_environment
from ebpflite.vm.isa import BY_NAME, SPECS, Kind, PseudoSrc
from ebpflite.vm.memory import AddressSpace, Region, low_alloc
from ebpflite.vm.program import Program

SUITE = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance").resolve()


@pytest.fixture(autouse=True)
def compile_at_once(monkeypatch):
    """Blocks are generated the first time they run, so short programs exercise them."""
    monkeypatch.setattr(blocks, "COMPILE_AFTER", 0)


def reg(name: str, dst: int, src: int, off: int = 0) -> Insn:
    return make(name, dst=dst, src=src, off=off)


def program(*insns: Insn) -> Program:
    return Program.of(*insns)


def outcome(interp: Interpreter, *args: int) -> tuple:
    """What a run gives: (r0, count, r0..r9), or the error's type, pc, message and r0..r9.

    (r10 is left out: it points into each environment's own stack.)
    """
    try:
        result = interp.run(*args)
    except EbpfError as exc:
        return type(exc).__name__, getattr(exc, "pc", None), str(exc), interp._machine.regs[:10]
    return result.r0, result.insns_executed, interp._machine.regs[:10]


def compiled(interp: Interpreter) -> int:
    """How many generated block functions the interpreter has."""
    return sum(f.__name__ == "block" for _, _, functions, _ in interp._code.values() for f in functions)


def loop() -> Program:
    """A loop of 8 instructions (one block) run 5 times, behind a 3-instruction block."""
    return program(
        make("mov", dst=0, imm=0), make("mov", dst=1, imm=0), make("lddw", dst=2, imm=1),
        make("add", dst=0, imm=3), reg("xor", 2, 0), make("lsh", dst=2, imm=1), make("and32", dst=2, imm=0xFFFF),
        reg("sub", 0, 2), make("arsh", dst=0, imm=1), make("add", dst=1, imm=1),
        make("jslt", dst=1, imm=5, off=-8),
        make("exit"))


# --- budgets ----------------------------------------------------------------------------------


def test_a_budget_running_out_inside_a_block_stops_at_the_same_pc_and_count():
    prog = loop()
    full = Interpreter(prog, Environment.minimal(budget=None), trace=True).run()
    seen_pcs = set()
    for budget in range(full.insns_executed + 2):
        fast = Interpreter(prog, Environment.minimal(budget=budget))
        reference = Interpreter(prog, Environment.minimal(budget=budget), trace=True)
        assert outcome(fast) == outcome(reference), f"budget {budget}"
        if budget < full.insns_executed:
            with pytest.raises(BudgetExceeded) as info:
                fast.run()
            seen_pcs.add(info.value.pc)
    assert compiled(fast) == 2  # the entry block and the loop body ran as generated code
    # the budget ran out at every pc of the loop body, i.e. inside the compiled block
    assert set(range(4, 12)) <= seen_pcs


def test_a_budget_that_ends_exactly_at_exit_is_enough():
    prog = loop()
    needed = Interpreter(prog, Environment.minimal(budget=None)).run().insns_executed
    assert Interpreter(prog, Environment.minimal(budget=needed)).run().insns_executed == needed
    with pytest.raises(BudgetExceeded, match=f"budget of {needed - 1} ran out"):
        Interpreter(prog, Environment.minimal(budget=needed - 1)).run()


# --- faults inside a block ------------------------------------------------------------------


def test_a_fault_inside_a_block_leaves_the_registers_as_the_handlers_would():
    # r3 and r4 are written before the faulting store; the fault names its pc
    prog = program(make("mov", dst=3, imm=7), make("add", dst=4, imm=9), make("stxdw", dst=1, src=3, off=64),
                   make("mov", dst=5, imm=1), make("exit"))
    env = Environment.minimal()
    mem = env.memory.add(Region("mem", low_alloc(16)))
    results = [outcome(Interpreter(prog, env, trace=trace), mem.start, 16) for trace in (False, True)]
    assert results[0][:2] == ("MemoryFault", 2)
    assert results[0][3][3:6] == [7, 9, 0]
    assert results[0][1:] == results[1][1:]


def test_the_region_cache_notices_a_helper_removing_the_region():
    """A block's cached region is dropped when a helper changes the regions (AddressSpace.version)."""
    env = Environment.minimal()
    region = env.memory.add(Region("mem", low_alloc(16)))

    def unmap(env, *args):
        env.memory.remove(region)
        return 0

    env.helpers[1] = unmap
    # the first block caches the region at pc 1; the loop's second turn must fault there
    prog = program(make("mov", dst=6, imm=0),
                   make("ldxdw", dst=0, src=1), make("add", dst=6, imm=1), make("call", imm=1),
                   make("jlt", dst=6, imm=3, off=-4), make("exit"))
    with pytest.raises(MemoryFault) as info:
        Interpreter(prog, env).run(region.start, 16)
    assert info.value.pc == 1


def test_the_address_space_version_moves_with_each_change():
    space = AddressSpace()
    seen = [space.version]
    region = space.add(Region("a", low_alloc(8)))
    seen.append(space.version)
    space.replace(region, Region("b", low_alloc(8)))
    seen.append(space.version)
    assert seen == sorted(set(seen))


def test_a_read_only_region_still_refuses_stores_from_a_block():
    env = Environment.minimal()
    region = env.memory.add(Region("ro", low_alloc(16), writable=False))
    prog = program(make("ldxdw", dst=0, src=1), make("stxdw", dst=1, src=0), make("exit"))
    with pytest.raises(MemoryFault, match="read-only") as info:
        Interpreter(prog, env).run(region.start, 16)
    assert info.value.pc == 1


# --- every operation, generated both ways ---------------------------------------------------


def _operation_programs() -> list[Program]:
    """For each ALU, byte-swap and jump form: r1 = a, r2 = b; op; r0 = result (or taken?)."""
    programs = []
    for spec in SPECS:
        if spec.kind in (Kind.ALU, Kind.ENDIAN):
            op = make(spec, dst=1, src=2 if spec.source == "X" else 0, imm=-3 if spec.source == "K" else 0)
            programs.append(program(op, reg("mov", 0, 1), make("exit")))
        elif spec.kind is Kind.JUMP:
            op = make(spec, dst=1, src=2 if spec.source == "X" else 0, imm=-3 if spec.source == "K" else 0, off=2)
            programs.append(program(make("mov", dst=0, imm=1), op, make("mov", dst=0, imm=2), make("exit"),
                                    make("mov", dst=0, imm=3), make("exit")))
    return programs


OPERATIONS = _operation_programs()
OPERAND = st.one_of(st.integers(0, (1 << 64) - 1),
                    st.sampled_from([0, 1, 3, 63, (1 << 31), (1 << 32) - 3, (1 << 63), (1 << 64) - 3]))


@cache
def _interpreters() -> list[tuple[Interpreter, Interpreter]]:
    """(blocks, trace) interpreters of each operation program, built once for all examples."""
    return [(Interpreter(prog), Interpreter(prog, trace=True)) for prog in OPERATIONS]


@given(a=OPERAND, b=OPERAND)
def test_every_operation_computes_the_same_in_a_block(a: int, b: int):
    for fast, reference in _interpreters():
        assert outcome(fast, a, b) == outcome(reference, a, b), fast.program.insns[0].spec.name
        assert compiled(fast) >= 1


@pytest.mark.skipif(not (SUITE / "assembled.json").is_file(), reason=f"conformance suite not found at {SUITE}")
def test_the_conformance_suite_gives_the_same_results_with_blocks():
    cases = json.loads((SUITE / "assembled.json").read_text())
    total = 0
    for name, case in sorted(cases.items()):
        runs = []
        for trace in (False, True):
            prog = Program(decode(bytes.fromhex(case["prog"])), name="conformance")
            env, r1, r2 = conformance_environment(bytes.fromhex(case["mem"]))
            interp = Interpreter(prog, env, trace=trace)
            runs.append(outcome(interp, r1, r2)[:-1])  # registers may hold each run's own addresses
            total += compiled(interp)
        assert runs[0] == runs[1], name
        assert runs[0][0] == case["result"], name
    assert total > 200  # most suite programs have straight-line runs


@pytest.mark.parametrize("base, off", [((1 << 64) - 4, 8), (4, -8), ((1 << 64) - 1, 32767)])
@pytest.mark.parametrize("kind", ["ldxdw", "stxw", "stb"])
def test_addresses_that_wrap_around_64_bits_fault_as_in_the_handlers(base: int, off: int, kind: str):
    """Blocks and handlers cut an address to 64 bits only on their slow path: same fault, same address."""
    env = Environment.minimal()
    access = make(kind, dst=0 if kind.startswith("ldx") else 1, src=1, off=off)
    prog = program(make("mov", dst=0, imm=0), access, make("exit"))
    results = [outcome(Interpreter(prog, env, trace=trace), base) for trace in (False, True)]
    assert results[0] == results[1]
    assert results[0][0] == "MemoryFault" and results[0][1] == 1
    assert f"0x{(base + off) & ((1 << 64) - 1):x}" in results[0][2]


CODE_ADDRESS = next(s for s in BY_NAME["lddw"] if dict(s.fixed)["src"] == PseudoSrc.CODE_ADDR)


def _loop_helper(env, r1, r2, r3, r4, r5):
    """bpf_loop's shape: call the callback at r2 with 0..r1-1, sum what it returns."""
    return sum(env.world.call_function(r2, i) for i in range(r1))


def test_callbacks_run_blocks_with_the_same_budget_and_count():
    prog = program(make("mov", dst=1, imm=40), make(CODE_ADDRESS, dst=2, imm=3), make("call", imm=1),
                   make("exit"),
                   # the callback, at pc 5: r0 = 3 * r1 + 1
                   reg("mov", 0, 1), make("mul", dst=0, imm=3), make("add", dst=0, imm=1), make("exit"))
    assert prog.insns[4].pc == 5

    def interpreter(budget: int | None, trace: bool) -> Interpreter:
        return Interpreter(prog, Environment.minimal(helpers={1: _loop_helper}, budget=budget), trace=trace)

    full = interpreter(None, True).run()
    assert full.r0 == sum(3 * i + 1 for i in range(40))
    # 4 instructions in the entry function; per callback 4, plus 1 for the return into the helper
    assert full.insns_executed == interpreter(None, False).run().insns_executed == 4 + 40 * 5
    # a callback gets the budget less what earlier callbacks ran: with 11, the first two
    # run 5 each and the third stops after one instruction, at pc 6
    for budget, pc in [(5, 5), (11, 6), (12, 7), (100, 5)]:
        with pytest.raises(BudgetExceeded, match="inside a callback") as info:
            interpreter(budget, False).run()
        assert info.value.pc == pc, budget
    for budget in [*range(0, 30), full.insns_executed - 1, full.insns_executed]:
        fast = interpreter(budget, False)
        assert outcome(fast) == outcome(interpreter(budget, True)), f"budget {budget}"
    assert compiled(fast) >= 1  # the callback body ran as a generated block
