"""Differential fuzzing of the instruction budget: the JIT stops exactly where the interpreter does.

Seeded random programs (a main function and up to three bpf-to-bpf callees,
each of ALU operations, byte swaps, lddw, loads, stores and atomics on the
stack and on a 64-byte buffer, forward conditional jumps, helper calls, a
counted loop, now and then a wild access through a null or shifted pointer,
a jump outside the program, or a last function with no exit so execution falls
off the end) are compiled once per engine and then run with *every* budget
from 0 to one more than the instructions the program executes (capped). So
each program's budget ends once at every instruction it reaches: mid-block,
inside and just after a callee, on a helper call, at the exit, at the step
past the last instruction and at the step to a jump's target outside the code.
For each budget the interpreter (the reference) and the JIT in checked mode
must give the same outcome: r0 and instruction count, or error class,
message and pc; and in both cases the same bytes in every region (stack and
buffer) afterwards.

Every form that writes r10 (``InsnSpec.written_register_fields``) is dropped
into random programs too: decoding refuses it, and both engines refuse the
same hand-built program with the same error.

Profiles: the suite runs ``EBPFLITE_FUZZ_PROGRAMS`` programs (default 40, a
few seconds); for a long run set it higher, and ``EBPFLITE_FUZZ_SEED`` to
start elsewhere, e.g.
``EBPFLITE_FUZZ_PROGRAMS=5000 pytest tests/jit/test_jit_budget_fuzz.py``.
A failure names the seed and the budget, and prints the program.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from ebpflite.errors import DecodeError, EbpfError
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.disasm import disassemble
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, decode, make
from ebpflite.vm.interp import CONFORMANCE_HELPERS, Interpreter
from ebpflite.vm.isa import SPECS, Kind
from ebpflite.vm.memory import Region, low_alloc
from ebpflite.vm.program import Program

PROGRAMS = int(os.environ.get("EBPFLITE_FUZZ_PROGRAMS", "40"))
SEED = int(os.environ.get("EBPFLITE_FUZZ_SEED", "0"))
MAX_BUDGETS = 400  #: budgets tried per program: 0..executed+1, at most this many
BUF_SIZE = 64
FREE = list(range(0, 8))  # r8 counts the loop, r9 holds the buffer's address
ALU = [s for s in SPECS if s.kind is Kind.ALU]
ENDIAN = [s for s in SPECS if s.kind is Kind.ENDIAN]
JUMPS = [s for s in SPECS if s.kind is Kind.JUMP]
MEMORY = [s for s in SPECS if s.kind in (Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC)]
WRITES_R10 = [s for s in SPECS if s.written_register_fields]


class Jump:
    """A jump or call to an item index, resolved to an offset once pcs are known."""

    def __init__(self, spec, target: int, dst: int = 0, src: int | None = None, imm: int = 0):
        self.spec, self.target, self.dst, self.src, self.imm = spec, target, dst, src, imm


class Generator:
    """Random programs from one seeded ``random.Random``."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def imm(self) -> int:
        r = self.rng
        return r.choice([0, 1, -1, 7, 31, 32, 63, 64, -(2**31), 2**31 - 1, r.randint(-(2**31), 2**31 - 1)])

    def alu(self) -> Insn:
        spec = self.rng.choice(ALU)
        fixed = dict(spec.fixed)
        src = self.rng.randint(0, 10) if spec.source == "X" else None
        imm = fixed.get("imm", self.imm()) if spec.source == "K" else 0
        return make(spec, dst=self.rng.choice(FREE), src=src, off=fixed.get("off", 0), imm=imm)

    def memory(self) -> list[Insn]:
        r = self.rng
        spec = r.choice(MEMORY)
        size = spec.size
        wild = r.randrange(25) == 0
        base = r.choice([10, 9, 9])
        prefix: list[Insn] = []
        if wild:  # a null pointer, or the buffer's address shifted past its end
            base = r.choice(FREE)
            prefix = [make("mov", dst=base, imm=0)] if r.random() < 0.5 else \
                [make("mov", dst=base, src=9), make("add", dst=base, imm=r.randint(BUF_SIZE - size + 1, 600))]
            off = 0
        elif base == 10:
            off = -size * r.randint(1, 64 // size)
        else:
            off = size * r.randint(0, BUF_SIZE // size - 1)
        if spec.kind is Kind.LDX:
            return prefix + [make(spec, dst=r.choice(FREE), src=base, off=off)]
        if spec.kind is Kind.ST:
            return prefix + [make(spec, dst=base, off=off, imm=self.imm())]
        src = r.choice(FREE) if spec.written_register_fields else r.randint(0, 10)
        return prefix + [make(spec, dst=base, src=src, off=off)]

    def body(self, n: int, calls: list[int]) -> list:
        """``n`` items: instructions, and Jumps to a later item (``len`` = the function's end)."""
        r = self.rng
        items: list = []
        while len(items) < n:
            roll = r.random()
            if roll < 0.35:
                items.append(self.alu())
            elif roll < 0.62:
                items.extend(self.memory())
            elif roll < 0.68:
                items.append(make(r.choice(ENDIAN), dst=r.choice(FREE)))
            elif roll < 0.72:
                value = r.getrandbits(64)
                items.append(make("lddw", dst=r.choice(FREE), imm=value & 0xFFFFFFFF, imm_hi=value >> 32))
            elif roll < 0.84:
                spec = r.choice(JUMPS)
                src = r.randint(0, 10) if spec.source == "X" else None
                items.append(Jump(spec, -1, dst=r.randint(0, 10), src=src, imm=0 if src is not None else self.imm()))
            elif roll < 0.92 and calls:
                items.append(Jump("call local", r.choice(calls)))
            elif roll < 0.97:  # helper 5 returns r1; any other number is an unknown helper
                items.append(make("call", imm=5 if r.random() < 0.9 else 99))
            else:
                items.append(Jump("ja", r.choice([-1000, 10_000])))  # outside the program
        for i, item in enumerate(items):
            if isinstance(item, Jump) and item.target == -1:
                item.target = r.randint(i + 1, len(items))  # forward, possibly to the function's end
        return items

    def program(self) -> Program:
        r = self.rng
        nfuncs = r.choice([0, 0, 1, 1, 2, 3])
        # functions: main = 0, callees 1..nfuncs; a function calls only later ones (no recursion)
        functions = []
        for f in range(nfuncs + 1):
            items = self.body(r.randint(3, 18), [g for g in range(f + 1, nfuncs + 1)])
            if f == 0:
                loop = [make("mov", dst=8, imm=r.randint(1, 4))] if r.random() < 0.5 else []
                prefix = [make("mov", dst=9, src=1)] + loop
                for item in items:  # forward jumps: to the same items, now after the prefix
                    if isinstance(item, Jump) and isinstance(item.spec, type(ALU[0])):
                        item.target += len(prefix)
                items = prefix + items
                if loop:  # r8 -= 1; if r8 != 0 goto the item after the counter's set-up
                    items += [make("sub", dst=8, imm=1), Jump(_spec("jne", "K"), ("item", 2), dst=8, imm=0)]
            last = f == nfuncs and r.random() < 0.1  # the last function falls off the end
            items += [] if last else [make("mov", dst=0, src=r.choice(FREE)), make("exit")]
            functions.append(items)
        return _place(functions)


def _spec(name: str, source: str):
    return next(s for s in SPECS if s.name == name and s.source == source)


def _place(functions: list[list]) -> Program:
    """Lay the functions out one after another and resolve jumps and calls to offsets."""
    starts, pcs, pc = [], [], 0
    for items in functions:
        starts.append(pc)
        item_pcs = []
        for item in items:
            item_pcs.append(pc)
            pc += item.slots if isinstance(item, Insn) else 1
        item_pcs.append(pc)  # the function's end
        pcs.append(item_pcs)
    insns = []
    for f, items in enumerate(functions):
        for i, item in enumerate(items):
            at = pcs[f][i]
            if isinstance(item, Insn):
                insns.append(item.with_fields(pc=at))
                continue
            if item.spec == "call local":
                insns.append(make("call local", imm=starts[item.target] - at - 1).with_fields(pc=at))
                continue
            if item.spec == "ja":
                insns.append(make("ja", off=item.target).with_fields(pc=at))
                continue
            target = pcs[f][item.target[1]] if isinstance(item.target, tuple) else pcs[f][item.target]
            insns.append(make(item.spec, dst=item.dst, src=item.src, off=target - at - 1,
                              imm=item.imm).with_fields(pc=at))
    return Program(insns, name="fuzz")


def _environment(budget: int | None) -> tuple[Environment, int]:
    env = Environment.minimal(helpers=CONFORMANCE_HELPERS, budget=budget)
    buf = low_alloc(BUF_SIZE)
    buf[:] = np.arange(1, BUF_SIZE + 1, dtype=np.uint8)
    region = env.memory.add(Region("buf", buf, "mem"))
    return env, region.start


def _outcome(engine, env: Environment, r1: int) -> tuple:
    try:
        res = engine.run(r1)
        result: tuple = ("ok", res.r0, res.insns_executed)
    except EbpfError as exc:
        result = ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None))
    return result + (tuple(region.buf.tobytes() for region in env.memory.regions),)


def compare_every_budget(prog: Program, label: str) -> int:
    """Run ``prog`` with every budget on both engines; returns the budgets tried."""
    env, r1 = _environment(None)
    saved = [(region.buf, region.buf.copy()) for region in env.memory.regions]
    interp, jit = Interpreter(prog, env), JitProgram(prog, env, checked=True, cache=False)

    def run(engine, budget, outcome=_outcome):
        for buf, data in saved:
            buf[:] = data
        env.budget = budget
        return outcome(engine, env, r1)

    def ran_before_error(engine, env, r1) -> int:  # from a traced run (one handler at a time)
        try:
            engine.run(r1)
        except EbpfError as exc:
            return len(exc.trace)
        raise AssertionError(f"{label}: the traced run did not fail like the untraced one")

    unlimited = run(interp, 100_000)
    assert run(jit, 100_000) == unlimited, f"{label}: unlimited budget\n{disassemble(prog)}"
    executed = unlimited[2] if unlimited[0] == "ok" else run(Interpreter(prog, env, trace=True), 100_000, ran_before_error)
    budgets = range(min(executed + 2, MAX_BUDGETS))
    for budget in budgets:
        expected, got = run(interp, budget), run(jit, budget)
        assert got[:-1] == expected[:-1], f"{label}, budget {budget}: JIT {got[:-1]} != interpreter " \
                                          f"{expected[:-1]}\n{disassemble(prog)}"
        assert got[-1] == expected[-1], f"{label}, budget {budget}: memory differs\n{disassemble(prog)}"
    return len(budgets)


@pytest.mark.parametrize("chunk", range(4))
def test_every_budget_stops_both_engines_at_the_same_instruction(chunk):
    tried = 0
    for seed in range(SEED + chunk, SEED + PROGRAMS, 4):
        tried += compare_every_budget(Generator(seed).program(), f"seed {seed}")
    assert tried > 0


def test_the_issue_examples():
    """The three mismatches the issue reported, each with the budget that exposed it."""
    cases = [
        # a store the interpreter ran before the budget ran out mid-block
        Program.of(make("stw", dst=1, imm=7), make("stdw", dst=10, off=-8, imm=7), make("mov", dst=0, imm=1),
                   make("mov", dst=0, imm=2), make("exit"), name="fuzz"),
        # a fault before the budget's end: MemoryFault at pc 1 in both
        Program.of(make("mov", dst=2, imm=0), make("stb", dst=2, imm=1), make("mov", dst=0, imm=1),
                   make("mov", dst=0, imm=2), make("exit"), name="fuzz"),
        # the budget running out in a callee names the callee's pc
        Program.of(make("call local", imm=2), make("mov", dst=0, imm=1), make("exit"),
                   make("mov", dst=0, imm=2), make("exit"), name="fuzz"),
        # falling off the end with the budget spent on the last instruction
        Program.of(make("mov", dst=0, imm=1), make("mov", dst=0, imm=2), name="fuzz"),
    ]
    for prog in cases:
        assert compare_every_budget(prog, prog.name) > 3


def test_budget_ends_are_the_interpreters():
    """What the reference says at a few telling budgets (so the fuzzer's agreement is not an
    agreement on something wrong)."""
    prog = Program.of(make("mov", dst=2, imm=0), make("stb", dst=2, imm=1), make("exit"))
    env, r1 = _environment(1)
    with pytest.raises(EbpfError) as budget_first:
        JitProgram(prog, env, checked=True, cache=False).run(r1)
    assert type(budget_first.value).__name__ == "BudgetExceeded" and budget_first.value.pc == 1
    env.budget = 2
    with pytest.raises(EbpfError) as fault_first:
        JitProgram(prog, env, checked=True, cache=False).run(r1)
    assert type(fault_first.value).__name__ == "MemoryFault" and fault_first.value.pc == 1
    off_end = Program.of(make("mov", dst=0, imm=1))
    env.budget = 1
    with pytest.raises(EbpfError, match="budget of 1 ran out") as spent:
        JitProgram(off_end, env, checked=True, cache=False).run(r1)
    assert spent.value.pc == 1
    env.budget = 2
    with pytest.raises(EbpfError, match="fell off the end"):
        JitProgram(off_end, env, checked=True, cache=False).run(r1)


@pytest.mark.parametrize("spec", WRITES_R10, ids=lambda s: s.name + "/" + s.source)
def test_every_form_writing_r10_is_refused_alike(spec):
    """Each r10-writing form, at a random place in a random program: the decoder refuses its
    bytes, and both engines refuse the hand-built program with the same error."""
    rng = random.Random(f"{SEED}/{spec.name}/{spec.source}")
    prog = Generator(rng.randrange(1 << 30)).program()
    field = spec.written_register_fields[0]
    values = {"dst": rng.choice(FREE), "src": rng.choice(FREE) if spec.source == "X" else None, field: 10}
    fixed = dict(spec.fixed)
    bad = make(spec, dst=values["dst"], src=values["src"], off=fixed.get("off", 0), imm=fixed.get("imm", 0))
    at = rng.randrange(len(prog.insns))
    insns = [i for i in prog.insns if i.kind not in (Kind.CALL_LOCAL, Kind.JUMP, Kind.JA)]
    insns.insert(min(at, len(insns)), bad)
    hand_built = Program.of(*insns, name="fuzz")
    where = next(i.pc for i in hand_built.insns if i.spec is spec and i.dst == bad.dst and i.src == bad.src)
    with pytest.raises(DecodeError, match="frame pointer r10") as decoded:
        decode(hand_built.bytecode)
    assert decoded.value.pc == where
    errors = []
    for engine in (Interpreter, JitProgram):
        with pytest.raises(DecodeError) as refused:
            engine(hand_built, Environment.minimal())
        errors.append((str(refused.value), refused.value.pc))
    assert errors[0] == errors[1]
    assert errors[0][1] == where and errors[0][0].endswith(str(decoded.value).split("): ")[1])
