"""Soundness: every program the verifier accepts runs without a single fault.

A generator writes random XDP programs from templates that exercise what
the verifier reasons about (packet pointers with constant and variable
offsets, bounds checks against data_end in both directions, map lookups
and null checks, stack spills and reads, 32- and 64-bit arithmetic,
branches and counted loops). Each accepted program then runs in the
interpreter, which checks every memory access at run time, over random
packets. A MemoryFault (or any other execution error) in an accepted
program is a verifier bug. A second test makes sure enough generated
programs are accepted for the first to mean something.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from verifier_testlib import CALL, EXIT, LD, MAP, K, X, prog

from ebpflite import verifier
from ebpflite.errors import ExecutionError
from ebpflite.loader.maps import MapSpec
from ebpflite.runtime.runner import ObjectRuntime
from ebpflite.vm.insn import make

ARRAY = MapSpec(name="arr", type="array", key_size=4, value_size=16, max_entries=2)
SCALARS = (0, 7, 8, 9)
ALU = ("add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh", "mod", "div", "mov")
JUMPS = ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset")
SIZES = {1: "b", 2: "h", 4: "w", 8: "dw"}
END = "end"


class Gen:
    """Builds one program; jumps may name END (the epilogue) and are resolved last."""

    def __init__(self, rng: random.Random):
        self.r = rng
        self.pieces: list[list] = []

    def scalar(self) -> int:
        return self.r.choice(SCALARS)

    def alu(self):
        op = self.r.choice(ALU)
        w = "32" if self.r.random() < 0.3 else ""
        if self.r.random() < 0.5:
            return [K(op + w, self.scalar(), self.r.choice([0, 1, 3, 4, 15, 255, -1, 1 << 20, 63]))]
        return [X(op + w, self.scalar(), self.scalar())]

    def ctxload(self):
        return [LD("ldxw", self.scalar(), 6, self.r.choice([12, 16, 20, 12, 16, 20, 24, 2]))]

    def pktptr(self):
        if self.r.random() < 0.5:
            return [X("mov", 4, 2), K("add", 4, self.r.randint(0, 40))]
        return [X("mov", 4, 2), X("mov", 5, self.scalar()), K("and", 5, self.r.choice([7, 15, 63, 255])),
                X("add", 4, 5)]

    def check(self):
        base = self.r.choice([2, 4])
        n = self.r.randint(1, 40)
        op, swap = self.r.choice([("jgt", False), ("jge", False), ("jlt", True), ("jle", True)])
        cmp = [op, 3, 5] if swap else [op, 5, 3]
        return [X("mov", 5, base), K("add", 5, n), ("jump", cmp, END)]

    def linked_index(self):
        """Bound a number through a copy of it, then use the original as a packet offset."""
        src = self.scalar()
        bound = self.r.choice([3, 15, 40])
        op = self.r.choice(["jgt", "jge", "jsgt"])
        if self.r.random() < 0.5:
            return [X("mov", 5, src), ("jump", [op, 5, bound, "K"], END), X("mov", 4, 2), X("add", 4, src)]
        # ... or as a stack offset (a wrong bound shows up as a write outside the stack)
        base = -self.r.choice([8, 16, 48])
        return [X("mov", 5, src), ("jump", [op, 5, bound, "K"], END), X("mov", 4, 10), K("add", 4, base),
                X("add", 4, src), make("stb", dst=4, imm=1), X("mov", 4, 2)]

    def distance(self):
        """A test on ``data_end - p`` (or on ``p != data_end``), then an access at p near the proven edge."""
        base = self.r.choice([2, 4])
        size = self.r.choice([1, 2, 4, 8])
        if self.r.random() < 0.25:
            test = [("jump", ["jeq", 3, base], END)]
            n = 1
        else:
            n = self.r.randint(1, 40)
            op = self.r.choice(["jlt", "jslt", "jle", "jeq"])
            k = {"jle": n - 1, "jeq": n - 1}.get(op, n)
            test = [X("mov", 5, 3), X("sub", 5, base), ("jump", [op, 5, k, "K"], END)]
        off = n - size + self.r.choice([-1, 0, 0, 1])
        return test + [LD(f"ldx{SIZES[size]}", self.scalar(), base, off)]

    def checked_access(self):
        """A bounds check, then an access right at (or just past) the proven edge."""
        pre = self.pktptr() if self.r.random() < 0.5 else []
        check = self.check()
        n = check[1].imm
        size = self.r.choice([1, 2, 4, 8])
        base = check[0].src
        off = n - size + self.r.choice([-1, 0, 0, 0, 1])
        access = (LD(f"ldx{SIZES[size]}", self.scalar(), base, off) if self.r.random() < 0.7
                  else X(f"stx{SIZES[size]}", base, self.scalar(), off))
        return pre + check + [access]

    def pktaccess(self):
        size = self.r.choice([1, 2, 4, 8])
        base = self.r.choice([2, 4])
        off = self.r.randint(-2, 40)
        if self.r.random() < 0.7:
            return [LD(f"ldx{SIZES[size]}", self.scalar(), base, off)]
        return [X(f"stx{SIZES[size]}", base, self.scalar(), off)]

    def stack(self):
        size = self.r.choice([1, 2, 4, 8])
        off = -self.r.choice([8, 16, 24, 4, 1, 512, 520])
        if self.r.random() < 0.5:
            return [X(f"stx{SIZES[size]}", 10, self.r.choice([*SCALARS, 2, 4]), off)]
        return [LD(f"ldx{SIZES[size]}", self.scalar(), 10, off)]

    def lookup(self):
        key = self.r.choice([0, 1, 5])
        size = self.r.choice([1, 2, 4, 8])
        off = self.r.randint(0, 16)
        access = ([LD(f"ldx{SIZES[size]}", 7, 0, off)] if self.r.random() < 0.5
                  else [X(f"stx{SIZES[size]}", 0, 8, off)])
        null_check = [("jump", ["jeq", 0, 0, "K"], END)] if self.r.random() < 0.9 else []
        return [make("stw", dst=10, off=-4, imm=key), X("mov", 2, 10), K("add", 2, -4), MAP(1, 0), CALL(1),
                *null_check, *access, LD("ldxw", 2, 6, 0), LD("ldxw", 3, 6, 4), X("mov", 4, 2), X("mov", 5, 2)]

    def branch(self):
        op = self.r.choice(JUMPS)
        w = "32" if self.r.random() < 0.3 else ""
        return [("jump", [op + w, self.scalar(), self.r.choice([0, 1, 5, 100, -1]), "K"], END)]

    def loop(self):
        n = self.r.randint(1, 6)
        return [K("mov", 9, 0), K("add", 9, 1), K("add", 8, 3), K("jlt", 9, n, -3)]

    def build(self):
        out = [LD("ldxw", 2, 1, 0), LD("ldxw", 3, 1, 4), X("mov", 6, 1), X("mov", 4, 2), X("mov", 5, 2)]
        for r in SCALARS:
            if self.r.random() < 0.5:
                out.append(K("mov", r, self.r.randint(-5, 300)))
            else:  # unknown to the verifier: ingress_ifindex, rx_queue_index or the packet length
                out += [X("mov", r, 3), X("sub", r, 2)] if self.r.random() < 0.5 else \
                    [LD("ldxw", r, 1, self.r.choice([12, 16]))]
        kinds = [self.alu, self.ctxload, self.pktptr, self.check, self.pktaccess, self.stack, self.lookup,
                 self.branch, self.loop, self.checked_access, self.linked_index, self.distance]
        weights = [5, 2, 3, 3, 3, 2, 2, 2, 1, 6, 4, 3]
        for _ in range(self.r.randint(3, 18)):
            out.extend(self.r.choices(kinds, weights)[0]())
        pcs, pc = [], 0
        for item in out:
            pcs.append(pc)
            pc += 1 if isinstance(item, tuple) else item.slots
        epilogue = pc
        out += [X("mov", 0, 7), K("and", 0, 3), EXIT()]
        insns = []
        for n, item in enumerate(out):
            if isinstance(item, tuple):
                _, (op, dst, src, *rest), _target = item
                off = epilogue - pcs[n] - 1
                insns.append(K(op, dst, src, off) if rest else X(op, dst, src, off))
            else:
                insns.append(item)
        return prog(insns, prog_type="xdp", maps=[ARRAY])


def generate(seed: int):
    return Gen(random.Random(seed)).build()


def run_everywhere(program, packets: list[bytes]) -> None:
    runtime = ObjectRuntime({"p": program}, [ARRAY])
    runner = runtime.runner("p")
    for packet in packets:
        try:
            runner.run(packet=packet)
        except ExecutionError as exc:  # pragma: no cover - this is the bug the test looks for
            report = verifier.verify(program, verbose=False)
            raise AssertionError(f"accepted program faulted: {exc}\n{report.text()}\n"
                                 + "\n".join(f"{i.pc}: {i.spec.name} {i}" for i in program.insns)) from None


def packets_around_the_checks(rng: random.Random) -> list[bytes]:
    """Packets of every length the generated checks can straddle (faults hide at exact boundaries)."""
    return [bytes(rng.randrange(256) for _ in range(n)) for n in range(14, 66)]


@settings(deadline=None)
@given(st.integers(0, 2**32))
def test_accepted_programs_never_fault(seed):
    program = generate(seed)
    report = verifier.verify(program)
    if report.ok:
        run_everywhere(report.xlated, packets_around_the_checks(random.Random(seed)))


def test_the_generator_produces_accepted_programs():
    accepted = sum(verifier.verify(generate(seed)).ok for seed in range(300))
    assert accepted >= 30, f"only {accepted} of 300 generated programs were accepted"
