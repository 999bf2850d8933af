"""The XDP programs Debian ships with xdp-tools/libxdp (``/usr/lib/<arch>/bpf/*.o``): objects
nobody here wrote, built by their own toolchain. Each XDP program verifies in ebpflite, and the
kernel agrees when it can be asked (a second test, marked ``kernel``). Skips where the
``xdp-tools`` package is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from verifier_kernel import bpf_refused, kernel_verdict, unavailable

from ebpflite import verifier
from ebpflite.loader import load_object

OBJECTS = sorted(Path(p) for p in glob.glob("/usr/lib/*/bpf/*.o") + glob.glob("/usr/lib/bpf/*.o"))


def _xdp_programs():
    found = []
    for path in OBJECTS:
        obj = load_object(path, partial=True)
        found += [pytest.param(path, name, id=f"{path.stem}:{name}")
                  for name, program in obj.programs.items() if program.prog_type == "xdp"]
    return found or [pytest.param(None, None, marks=pytest.mark.skip(
        reason="xdp-tools is not installed (no /usr/lib/*/bpf/*.o): apt-get install xdp-tools"))]


PROGRAMS = _xdp_programs()


def test_the_filters_are_among_them():
    names = {p.values[0].stem for p in PROGRAMS if p.values[0] is not None}
    if not names:
        pytest.skip("xdp-tools is not installed")
    assert {f"xdpfilt_{a}_{w}" for a in ("alw", "dny") for w in ("all", "eth", "ip", "tcp", "udp")} <= names


@pytest.mark.parametrize(("path", "name"), PROGRAMS)
def test_verifies(path, name):
    program = load_object(path).programs[name]
    checked = verifier.check(program)
    assert checked.verified


@pytest.mark.kernel
@pytest.mark.parametrize(("path", "name"), PROGRAMS)
def test_kernel_accepts_it_too(path, name):
    why = unavailable()
    if why:
        pytest.skip(f"kernel verdicts unavailable: {why}")
    kernel = kernel_verdict(path, f"xdpt_{path.stem}"[:15])
    if not kernel.ok and bpf_refused(kernel.log):
        pytest.skip("the kernel refuses BPF here")
    assert kernel.ok, kernel.log[-2000:]
