"""Switch recovery (jit/switches.py): clang's BPF compare trees become one LLVM switch.

C switches compiled by clang (dense, signed with negative cases, on a 32-bit
value, with a huge default range) run in the interpreter and in the JIT's
no-count unchecked mode (where the recovery applies) for values inside,
around and far outside the case range; results must be identical. Other
tests check that the recovery really happens (the IR has the switch (its default block)) and
that it declines what it cannot enumerate.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from jit_harness import insn, program

from ebpflite.jit.compiler import JitProgram
from ebpflite.jit.lower import function_shapes
from ebpflite.jit.switches import MAX_SPAN, recover_switch
from ebpflite.vm.env import Environment
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.memory import Region, low_alloc

SOURCE = r"""
typedef unsigned long long u64;
typedef long long s64;
#define KERNEL(name) __attribute__((section("kernel/" #name), used)) u64 name(u64 x)
KERNEL(dense) {
    u64 acc = x * 7;
    switch (x) {
    case 0: acc += 1; break;   case 1: acc ^= 3; break;    case 2: acc *= 5; break;
    case 3: acc -= 7; break;   case 4: acc += x; break;    case 5: acc ^= x << 3; break;
    case 6: acc >>= 1; break;  case 7: acc <<= 1; break;   case 8: acc += 11; break;
    case 9: acc ^= 0x5555; break; case 10: acc *= 3; break; case 11: acc -= x; break;
    default: acc += 13; break;
    }
    return acc;
}
KERNEL(signed_cases) {
    s64 v = (s64)x;
    switch (v) {
    case -3: return 100; case -2: return 101; case -1: return 102; case 0: return 103;
    case 1: return 104; case 2: return 105; case 4: return 106; case 5: return 107;
    case 7: return 108; case 9: return 109;
    default: return v < 0 ? 1 : 2;
    }
}
KERNEL(narrow) {
    unsigned int w = (unsigned int)x;
    switch (w) {
    case 10: return 1; case 11: return 2; case 12: return 3; case 13: return 4;
    case 14: return 5; case 15: return 6; case 17: return 7; case 19: return 8;
    default: return w;
    }
}
"""
KERNELS = ["dense", "signed_cases", "narrow"]
C_DIR = Path(__file__).resolve().parents[2] / "bench" / "c"


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang (BPF target) is needed to compile the switches")
    from ebpflite.loader import load_object

    out = tmp_path_factory.mktemp("switches")
    src = out / "switches.c"
    src.write_text(SOURCE)
    built = {}
    for name, path in (("switches", src), ("kernels", C_DIR / "kernels.c")):
        obj = out / f"{name}.o"
        subprocess.run(["clang", "-O2", "-target", "bpf", "-fno-builtin", "-c", str(path), "-o", str(obj)],
                       check=True)
        built[name] = load_object(str(obj))
    return built


def _values() -> list[int]:
    rng = random.Random(4)
    edges = [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 12, 2**63, 2**64 - 1, 2**64 - 3]
    return list(range(-300, 300)) + edges + [rng.getrandbits(64) for _ in range(200)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_recovered_switches_agree_with_the_interpreter(objects, kernel):
    prog = objects["switches"].programs[kernel]
    prog.verified = True
    env = Environment.minimal(budget=None)
    jit = JitProgram(prog, env, checked=False, count=False)
    assert "switch_default" in str(jit.code.lowering.module)  # the tree was recovered
    interp = Interpreter(prog, env)
    for value in _values():
        assert jit.run(value & (2**64 - 1)).r0 == interp.run(value & (2**64 - 1)).r0, value


def test_dense_switch_kernel_agrees(objects):
    prog = objects["kernels"].programs["dense_switch"]
    prog.verified = True
    env = Environment.minimal(budget=None)
    buf = low_alloc(65536)
    buf[:32768] = np.random.default_rng(1).integers(1, 256, 32768, dtype=np.uint8)
    region = env.memory.add(Region("mem", buf))
    jit = JitProgram(prog, env, checked=False, count=False)
    assert "switch_default" in str(jit.code.lowering.module)
    assert jit.run(region.start).r0 == Interpreter(prog, env).run(region.start).r0


def test_counting_mode_keeps_the_tree(objects):
    """With the instruction count on, every tree block must run (and be counted)."""
    prog = objects["switches"].programs["dense"]
    prog.verified = True
    env = Environment.minimal(budget=None)
    jit = JitProgram(prog, env, checked=False, count=True)
    assert "switch_default" not in str(jit.code.lowering.module)
    interp = Interpreter(prog, env)
    for value in (0, 5, 11, 12, 2**40):
        got, want = jit.run(value), interp.run(value)
        assert (got.r0, got.insns_executed) == (want.r0, want.insns_executed)


def _tree(constants: list[int]) -> list:
    """r1 compared with each constant in turn (an equality chain), each hit returning its index."""
    chain = [insn("jeq", dst=1, imm=c, off=3 * (len(constants) - i) - 1) for i, c in enumerate(constants)]
    hits = []
    for i in reversed(range(len(constants))):
        hits += [insn("mov", dst=0, imm=i), insn("exit")]
    return [*chain, insn("mov", dst=0, imm=-1), insn("exit"), *hits]


def test_recovery_declines_a_wide_span_and_small_trees():
    for constants, expected in (([0, 1, 2, 3], True), ([0, 1, 2], False), ([0, 1, 2, MAX_SPAN], False)):
        prog = program(*_tree(constants))
        shape = function_shapes(prog)[0]
        plan = recover_switch(shape.blocks, shape.blocks[0])
        assert (plan is not None) is expected, constants
        if plan is not None:
            env = Environment.minimal(budget=None)
            prog.verified = True
            jit, interp = JitProgram(prog, env, checked=False, count=False), Interpreter(prog, env)
            for value in range(-5, 10):
                assert jit.run(value & (2**64 - 1)).r0 == interp.run(value & (2**64 - 1)).r0
