"""Raw programs on a memory buffer (``ebpflite run --mem``, the conformance suite's convention):
r1 points to the buffer, r2 holds its size. Every conformance program verifies this way, and
the verified programs give the expected result in the JIT without runtime checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebpflite import engines, verifier
from ebpflite.errors import VerifierError
from ebpflite.vm.insn import decode
from ebpflite.vm.interp import conformance_environment
from ebpflite.vm.program import Program

SUITE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"


def suite() -> dict:
    path = SUITE / "assembled.json"
    if not path.exists():
        pytest.skip(f"the conformance suite is not at {SUITE}")
    return {name: t for name, t in json.loads(path.read_text()).items() if not t.get("error")}


def test_every_conformance_program_verifies():
    rejected = []
    for name, t in suite().items():
        report = verifier.verify(Program(decode(bytes.fromhex(t["prog"]))),
                                 memory_size=len(bytes.fromhex(t["mem"] or "")))
        if not report.ok:
            rejected.append(f"{name}: {report.errors[0].message}")
    assert not rejected, "\n".join(rejected)


def test_verified_programs_with_memory_run_unchecked_in_the_jit():
    pytest.importorskip("ebpflite.jit.compiler", reason="the JIT (llvmlite) is not installed")
    ran = 0
    for _name, t in suite().items():
        mem = bytes.fromhex(t["mem"] or "")
        if not mem:
            continue
        program = verifier.check(Program(decode(bytes.fromhex(t["prog"]))), memory_size=len(mem))
        env, r1, r2 = conformance_environment(mem)
        jit = engines.create("jit", program, env)
        assert not jit.checked
        assert jit.run(r1, r2).r0 == t["result"] & (1 << 64) - 1
        ran += 1
    assert ran > 20


def test_memory_access_past_the_buffer_is_rejected():
    program = Program(decode(bytes.fromhex("6110040000000000" + "9500000000000000")))  # r0 = *(u32 *)(r1 + 4)
    assert verifier.verify(program, memory_size=8).ok
    report = verifier.verify(program, memory_size=6)
    assert not report.ok and report.errors[0].check == "map_bounds"
    assert "the memory has 6 bytes" in report.errors[0].message
    report = verifier.verify(program, memory_size=0)
    assert report.errors[0].check == "deref_number"
    with pytest.raises(VerifierError, match="memory size -1 is out of range"):
        verifier.verify(program, memory_size=-1)
