"""The fast copies of loops in checked code (jit/loops.py): where they check, how far ahead.

A loop's fast copy checks the budget only at checkpoints (loop headers, the
segment after a call), each for the longest run of instructions before the
next one. These tests pin the plan on small programs (a wrong ``longest``
would let a fast copy run past the budget) and run loops whose budget ends
at every instruction of the last iterations, so the fall back from the fast
copy to the exact one is taken at each place it can be.
"""

from __future__ import annotations

import pytest
from jit_harness import EXIT, insn, program

from ebpflite.errors import BudgetExceeded
from ebpflite.jit.compiler import JitProgram
from ebpflite.jit.loops import plan_loops, segments
from ebpflite.vm.cfg import reachable_blocks
from ebpflite.vm.env import Environment
from ebpflite.vm.interp import CONFORMANCE_HELPERS, Interpreter

#: r0 = sum of 0..9 with an if inside the loop and a helper call in one arm
LOOP = program(
    insn("mov", dst=0, imm=0), insn("mov", dst=1, imm=0),
    insn("add", dst=0, src=1),                      # 2: loop header
    insn("jset", dst=1, imm=1, off=3),              # 3: odd -> 7
    insn("mov", dst=6, src=0), insn("call", imm=5),  # 4, 5: r0 = helper(r1)
    insn("mov", dst=0, src=6),                      # 6
    insn("add", dst=1, imm=1),                      # 7
    insn("jlt", dst=1, imm=10, off=-7),             # 8: back to 2
    EXIT)                                           # 9


def test_plan_of_a_loop_with_a_call():
    plan = plan_loops(reachable_blocks(LOOP.by_pc(), 0))
    assert plan.fast_blocks == {2, 4, 7}
    assert plan.checkpoints == {2, 6}  # the header, and the segment after the call
    # from 2: 2,3 then either 4,5 (the call ends the run: 6 is a checkpoint) or 7,8
    assert plan.longest == {2: 4, 6: 3}


#: a call that is the last instruction of its block (pc 4 is a jump target): the next block
#: starts after the call, so it must check (found by the fuzzer, seed 5238)
CALL_ENDS_BLOCK = program(
    insn("mov", dst=1, imm=0), insn("mov", dst=0, imm=0),
    insn("jeq", dst=1, imm=5, off=1),               # 2: loop header; -> 4
    insn("call local", imm=4),                      # 3: r0 = r1 + 3, in a callee that counts too
    insn("add", dst=0, imm=1), insn("add", dst=1, imm=1),
    insn("jlt", dst=1, imm=10, off=-5),             # 6: back to 2
    EXIT,
    insn("mov", dst=0, src=1), insn("add", dst=0, imm=3), EXIT)  # 8: the callee


def test_plan_when_a_call_ends_a_block():
    plan = plan_loops(reachable_blocks(CALL_ENDS_BLOCK.by_pc(), 0))
    assert plan.fast_blocks == {2, 3, 4}
    assert plan.checkpoints == {2, 4}
    assert plan.longest == {2: 2, 4: 3}


def test_no_loop_no_fast_copy():
    straight = program(insn("mov", dst=0, imm=1), insn("jeq", dst=0, imm=1, off=1), insn("mov", dst=0, imm=2),
                       EXIT)
    plan = plan_loops(reachable_blocks(straight.by_pc(), 0))
    assert not plan.fast_blocks and not plan.checkpoints


def test_segments_end_after_calls():
    cut = segments(LOOP.insns[4:9])
    assert [[i.pc for i in seg] for seg in cut] == [[4, 5], [6, 7, 8]]


def test_the_fast_copy_is_in_checked_code_only():
    checked = JitProgram(LOOP, Environment.minimal(helpers=CONFORMANCE_HELPERS), checked=True, cache=False)
    assert "fast_2" in str(checked.code.lowering.module)
    unchecked = JitProgram(LOOP, Environment.minimal(helpers=CONFORMANCE_HELPERS), checked=False, cache=False)
    assert "fast_2" not in str(unchecked.code.lowering.module)


def _outcome(engine, env):
    try:
        res = engine.run()
        return ("ok", res.r0, res.insns_executed)
    except BudgetExceeded as exc:
        return ("budget", str(exc), exc.pc)


@pytest.mark.parametrize("prog", [LOOP, CALL_ENDS_BLOCK], ids=["call-mid-block", "call-ends-block"])
@pytest.mark.parametrize("budget", range(0, 90))
def test_every_budget_through_the_loop(prog, budget):
    env = Environment.minimal(helpers=CONFORMANCE_HELPERS, budget=budget)
    expected = _outcome(Interpreter(prog, env), env)
    assert _outcome(JitProgram(prog, env, checked=True), env) == expected


def test_the_loop_runs_to_its_end():
    env = Environment.minimal(helpers=CONFORMANCE_HELPERS)
    assert _outcome(JitProgram(LOOP, env, checked=True), env) == _outcome(Interpreter(LOOP, env), env)
