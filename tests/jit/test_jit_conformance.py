"""The conformance suite with the JIT in unchecked mode (verified-program code).

tests/test_conformance.py runs every file through ``engines.create("jit")``,
which compiles in checked mode (the suite's programs are not verified); this
file adds the unchecked mode, where no bounds checks or budget exist, so
both code paths of the lowering are held to the suite's expected results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.interp import conformance_environment
from ebpflite.vm.program import Program

SUITE = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance").resolve()
ASSEMBLED = SUITE / "assembled.json"
CASES = json.loads(ASSEMBLED.read_text()) if ASSEMBLED.is_file() else {}

pytestmark = pytest.mark.skipif(not CASES, reason=f"conformance suite not found at {SUITE}")


@pytest.mark.parametrize("checked", [False, True], ids=["unchecked", "checked"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_conformance_file(name: str, checked: bool):
    case = CASES[name]
    prog = Program.from_bytes(bytes.fromhex(case["prog"]), name=name)
    env, r1, r2 = conformance_environment(bytes.fromhex(case["mem"]))
    result = JitProgram(prog, env, checked=checked).run(r1, r2)
    assert result.r0 == case["result"]


def test_suite_has_all_files():
    assert len(CASES) == 313
