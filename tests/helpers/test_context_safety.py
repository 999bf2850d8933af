"""No input takes the process down: every program type, verified, on empty/short/long inputs, both engines.

The verifier proves a program safe against its type's context descriptor; the
runtime must then hand it exactly that context, or run it checked. A
verified tc program run on ``packet=b""`` used to get a raw 0-byte context,
load garbage as ``skb->data`` and dereference it in unchecked native code
(SIGSEGV). The child process (tests/helpers/context_probe.py) runs one probe
per program type on every input through the interpreter and the JIT; here we
assert it exits normally, that every case ends in a result or a typed
ebpflite error, and that the probes really are verified programs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ebpflite.vm.contexts import known_types

HERE = Path(__file__).resolve().parent
PROBE = HERE / "context_probe.py"

CASES = [(t, "linux") for t in known_types("linux")] + [(t, "windows") for t in known_types("windows")]

pytest.importorskip("llvmlite", reason="the JIT engine (llvmlite) is not installed")


def run_child(cases) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    return subprocess.run([sys.executable, str(PROBE), *(f"{t}:{p}" for t, p in cases)],
                          capture_output=True, text=True, timeout=900, env=env)


def test_every_program_type_survives_empty_short_and_long_inputs_on_both_engines():
    proc = run_child(CASES)
    last = proc.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    assert proc.returncode == 0, (f"the child died (status {proc.returncode}) at: {last[0]}\n"
                                  f"{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    unverifiable = [line for line in lines if line.endswith("unverifiable")]
    assert not unverifiable, f"no probe verifies for: {unverifiable}"
    runs = [line for line in lines if ": " in line]
    from context_probe import INPUTS

    assert len(runs) == len(CASES) * len(INPUTS) * 2
    for line in runs:
        outcome = line.split(": ", 1)[1]
        assert outcome.startswith(("ok ", "error ")), line


def test_the_probes_touch_the_packet_and_the_fields():
    """The probe of a packet type really dereferences data (else the test above proves little)."""
    sys.path.insert(0, str(HERE))
    try:
        from context_probe import verified_probe
    finally:
        sys.path.remove(str(HERE))
    for prog_type in ("sched_cls", "xdp", "cgroup_skb"):
        prog = verified_probe(prog_type, "linux")
        assert prog is not None and prog.verified
        text = " ".join(str(i) for i in prog.insns)
        assert "r2 + 0" in text or "r2+0" in text or any(i.src == 2 and i.off == 0 for i in prog.insns)
