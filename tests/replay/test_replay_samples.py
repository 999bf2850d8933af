"""XDP programs nobody here wrote (../shared/ebpf-samples) replayed in the batch loop and the interpreter.

For every XDP program of the corpus that the kernel accepts, that ebpflite
verifies and that can run in the batch loop, a capture (part of
examples/data/sample.pcap plus frames the kernel refuses) goes through both
engines from the same world (redirect maps given a few targets, a fixed
clock, a seeded generator): every packet's verdict, bytes and redirect and
every map's storage afterwards must be identical. Skips when the corpus is
absent (it is not part of the repository).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from differential import batched, compare, compare_worlds, reference, world_state

import ebpflite
from ebpflite.helpers.pcap import Packet, read_packets, write_pcap
from ebpflite.vm.world import Clock

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = (ROOT / ".." / "shared" / "ebpf-samples").resolve()
SAMPLE_PCAP = ROOT / "examples" / "data" / "sample.pcap"


def _xdp_objects() -> list[str]:
    verdicts = SAMPLES / "verdicts.json"
    if not verdicts.exists():
        return []
    seen: list[str] = []
    for entry in json.loads(verdicts.read_text())["programs"]:
        obj = f"{entry['project']}/{entry['object']}"
        if entry.get("kernel") == "accept" and "xdp" in (entry.get("section") or "") and obj not in seen:
            seen.append(obj)
    return seen


def _load(path: Path, engine: str):
    obj = ebpflite.load(path, engine=engine, seed=99, clock=Clock(fixed_ns=5 * 10**12, step_ns=1000))
    for live in obj.maps.values():  # a few redirect targets, so redirect_map finds some
        for key in range(min(3, live.max_entries)):
            if live.type in ("devmap", "devmap_hash"):
                live[key] = 10 + key
            elif live.type == "cpumap":
                live[key] = 64
            elif live.type == "xskmap":
                live[key] = 1
    return obj


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    packets = read_packets(SAMPLE_PCAP)[:600] + [Packet(bytes(9)), Packet(bytes(4000)), Packet(bytes(14))]
    path = tmp_path_factory.mktemp("samples") / "capture.pcap"
    write_pcap(path, packets, nanosecond=True)
    return path


@pytest.mark.parametrize("obj", _xdp_objects() or ["(corpus absent)"])
def test_sample_programs_replay_identically_in_both_engines(obj, capture):
    if obj == "(corpus absent)":
        pytest.skip(f"the ebpf-samples corpus is not at {SAMPLES}")
    from ebpflite.errors import EbpfError
    from ebpflite.runtime.replay import batch_blocker

    path = SAMPLES / obj
    try:
        interp, jit = _load(path, "interp"), _load(path, "jit")
    except EbpfError as exc:
        pytest.skip(f"ebpflite cannot load or verify {obj} yet: {str(exc).splitlines()[0][:120]}")
    compared = 0
    for name, handle in jit.programs.items():
        if handle.prog_type != "xdp" or batch_blocker(handle.program) is not None:
            continue
        compare(reference(interp.programs[name], capture), batched(handle, capture))
        compared += 1
    if not compared:
        pytest.skip(f"no program of {obj} runs in the batch loop")
    compare_worlds(world_state(interp, next(iter(interp.programs.values())), "interp"),
                   world_state(jit, next(iter(jit.programs.values())), "jit"))
