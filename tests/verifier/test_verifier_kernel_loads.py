"""Kernel verdicts that depend on how the maps were created, checked against the running kernel.

``verdicts.json`` records "R0 max value is outside of the allowed memory range" for Cilium's
``tail_lb_ipv4``/``tail_lb_ipv6`` XDP programs. That verdict is its loader's: it read iproute2's
``struct bpf_elf_map`` as bpf_load.c's ``struct bpf_map_def`` and built the maglev map-in-map
around map 0 instead of the inner template (``ebpf_samples.KERNEL_VERDICT_ARTIFACTS``). Loading
the program exactly as ebpflite linked and verified it, the kernel accepts it; with map 0 as the
template, it refuses it with the recorded message. Needs root, a kernel that permits BPF and the
shared corpus (skips otherwise).
"""

from __future__ import annotations

import pytest
from verifier_kernel import bpf_refused, load_program, unavailable

from ebpflite import verifier
from ebpflite.loader import load_object

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def tail_lb(shared_samples):
    why = unavailable()
    if why:
        pytest.skip(f"kernel loads need root: {why}")
    obj = load_object(shared_samples / "cilium" / "bpf_xdp_dsr_linux.o", partial=True)
    return {section: next(p for p in obj.programs.values() if p.section == section) for section in ("2/7", "2/10")}


@pytest.mark.parametrize("section", ["2/7", "2/10"])
def test_cilium_tail_lb_loads_with_its_own_map_layout(tail_lb, section):
    program = tail_lb[section]
    maglev = [i for i, m in enumerate(program.maps) if m.type == "hash_of_maps"]
    assert maglev and all(program.maps[i].inner.value_size == 4078 for i in maglev)
    kernel = load_program(program, "xdp")
    if not kernel.ok and bpf_refused(kernel.log):
        pytest.skip("the kernel refuses BPF here")
    assert kernel.ok, kernel.log[-2000:]
    assert verifier.verify(program, prog_type="xdp").ok
    wrong = load_program(program, "xdp", inner_template=0)  # what the corpus's legacy loader built
    assert not wrong.ok and "R0 max value is outside of the allowed memory range" in wrong.log
