"""The fastcall builtin (jit/fastcall.py) that runs JITed code from Python: the same results
and errors as the ctypes path, TypeError (never a crash) for bad arguments, no leaks."""

from __future__ import annotations

import ctypes
import tracemalloc

import numpy as np
import pytest
from jit_harness import EXIT, agree, insn, lddw, program

from ebpflite.jit import fastcall
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment, RunResult
from ebpflite.vm.errors import BudgetExceeded

M64 = (1 << 64) - 1
SUM = program(insn("mov", dst=0, src=1), insn("add", dst=0, src=2), insn("add", dst=0, src=3),
              insn("add", dst=0, src=4), insn("add", dst=0, src=5), EXIT)

pytestmark = pytest.mark.skipif(not fastcall.available(), reason="no CPython C API through ctypes")


def test_run_uses_the_builtin_and_fastcall_false_uses_ctypes():
    assert type(JitProgram(SUM)._fast).__name__ == "builtin_function_or_method"
    assert JitProgram(SUM, fastcall=False)._fast.__name__ == "_run_ctypes"


@pytest.mark.parametrize("args", [(1, 2, 3, 4, 5), (-1, 1, 0, 0, 0), (1 << 70, 3, 0, 0, 0),
                                  (np.uint64(M64), np.uint64(3), True, False, 0), ()])
def test_arguments_are_masked_to_64_bits_like_the_ctypes_path(args):
    fast, slow = JitProgram(SUM).run(*args), JitProgram(SUM, fastcall=False).run(*args)
    assert fast == slow == RunResult(sum(int(a) for a in args) & M64, 6, None)


def test_numpy_integers_of_any_width_go_through_index():
    assert JitProgram(SUM).run(np.int32(-2), np.int64(1)).r0 == M64  # -2 + 1, masked


def test_keyword_arguments():
    assert JitProgram(SUM).run(r2=7, r5=-7).r0 == 0


@pytest.mark.parametrize("args, message", [
    ((1, 2, 3, 4, 5), "exactly 6 integer arguments"),
    ((), "exactly 6 integer arguments"),
    ((1, 2, 3, 4, 5, 6, 7), "exactly 6 integer arguments"),
    (("1", 0, 0, 0, 0, 0), "'str' object cannot be interpreted as an integer"),
    ((0, 0, 0, 0, 1.5, 0), "'float' object cannot be interpreted as an integer"),
    ((0, 0, 0, 0, 0, None), "'NoneType' object cannot be interpreted as an integer"),
])
def test_the_builtin_refuses_bad_arguments_with_type_error(args, message):
    builtin = JitProgram(SUM)._fast
    with pytest.raises(TypeError, match=message):
        builtin(*args)
    with pytest.raises(TypeError, match="no keyword arguments"):
        builtin(0, 0, 0, 0, 0, budget=0)


@pytest.mark.parametrize("bad", ["1", 1.5, None, object()])
def test_run_refuses_non_integer_registers_on_both_paths(bad):
    for fast in (True, False):
        with pytest.raises(TypeError):
            JitProgram(SUM, fastcall=fast).run(bad)


@pytest.mark.parametrize("fast", [True, False], ids=["fastcall", "ctypes"])
@pytest.mark.parametrize("case", ["fault", "budget", "helper", "local-call", "lddw"])
def test_both_paths_agree_with_the_interpreter(fast, case):
    programs = {
        "fault": (program(insn("mov", dst=1, imm=8), insn("ldxdw", dst=0, src=1), EXIT), None),
        "budget": (program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), insn("ja", off=-2), EXIT), 50),
        "helper": (program(insn("mov", dst=1, imm=20), insn("call", imm=7), insn("add", dst=0, imm=1), EXIT), None),
        "local-call": (program(insn("call local", imm=1), EXIT, insn("mov", dst=0, imm=9), EXIT), None),
        "lddw": (program(lddw(0, 0x1122_3344_5566_7788), EXIT), None),
    }
    prog, budget = programs[case]

    def env():
        e = Environment.minimal(helpers={7: lambda env, r1, *_: r1 * 2})
        if budget is not None:
            e.budget = budget
        return e, {}

    agree(prog, env, fastcall=fast)


def test_a_budget_change_between_runs_is_seen():
    endless = program(insn("mov", dst=0, imm=1), insn("ja", off=-1), EXIT)
    env = Environment.minimal(budget=10)
    jit = JitProgram(endless, env)
    with pytest.raises(BudgetExceeded, match="budget of 10 ran out"):
        jit.run()
    env.budget = 20
    with pytest.raises(BudgetExceeded, match="budget of 20 ran out"):
        jit.run()


def test_a_helper_may_run_the_same_program_again():
    """A nested run (a helper calling ``run`` of the program that called it) takes the general path."""
    prog = program(insn("mov", dst=6, src=1), insn("call", imm=7), insn("add", dst=0, src=6), EXIT)
    env = Environment.minimal()
    jit = JitProgram(prog, env)
    env.helpers[7] = lambda env_, r1, *_: jit.run(r1 - 1).r0 if r1 else 100
    assert jit.run(3).r0 == 100 + 0 + 1 + 2 + 3


def test_runs_leak_nothing():
    jit = JitProgram(SUM)
    jit.run(1 << 40, 1 << 41)  # warm up
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(20000):
            jit.run(1 << 40, i)  # r0 and the count are new int objects every run
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 64 * 1024, f"{grown} bytes more after 20,000 runs"


def test_without_the_c_api_the_jit_keeps_ctypes(monkeypatch):
    monkeypatch.setattr(fastcall, "_state", {"def": None, "why": "OSError: not CPython"})
    assert not fastcall.available()
    with pytest.raises(RuntimeError, match="unavailable here .OSError: not CPython"):
        fastcall.make(0)
    jit = JitProgram(SUM)
    assert jit._fast.__name__ == "_run_ctypes" and jit.run(1, 2).r0 == 3


def test_the_block_layout_is_what_the_builtin_reads():
    jit = JitProgram(SUM)
    block = jit._block
    assert block[fastcall.Word.CTX] == jit._top_address and block[fastcall.Word.RUN] == jit.code.run
    assert ctypes.sizeof(block) == 8 * fastcall.BLOCK_WORDS
