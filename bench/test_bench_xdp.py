"""XDP throughput: per-packet cost of a parse-and-verdict program over a capture in memory.

Run: ``pytest bench/test_bench_xdp.py --benchmark-only -p no:ebpflite``.

The program is bench/progs/xdp_verdict.c (Ethernet, VLAN, IPv4/IPv6, TCP/UDP
ports, a verdict), built twice: as written (it counts each verdict in an
array map, so every packet makes one helper call) and with ``-DNO_COUNTERS``
(pure parsing). The capture is examples/data/sample.pcap, read once and held
in memory. Each benchmark records ``ns/packet`` and ``Mpps`` in
``extra_info`` (the JIT's goal for batch mode: at least 20 Mpps on one core).

- ``interp`` and ``jit``: one ``run()`` per packet through the Python API,
  the cost a test suite pays per packet;
- ``jit-batch``: the whole capture in one native call (``jit.batch``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "progs" / "xdp_verdict.c"
CAPTURE = ROOT / "examples" / "data" / "sample.pcap"
VARIANTS = {"maps": (), "nomaps": ("NO_COUNTERS",)}
PER_RUN_PACKETS = 200  #: packets per round for the one-run-per-packet engines


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    from ebpflite.helpers.pcap import read_packets

    return [p.data for p in read_packets(CAPTURE)]


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, Path]:
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    out = tmp_path_factory.mktemp("xdp")
    try:
        return {name: compile_c(SOURCE, out / f"xdp_verdict_{name}.o", defines=defines)
                for name, defines in VARIANTS.items()}
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


def _handle(path: Path, engine: str):
    import ebpflite

    return ebpflite.load(path, engine=engine).programs["xdp_verdict"]


def _record(benchmark, packets_per_round: int) -> None:
    per_packet = benchmark.stats.stats.median / packets_per_round
    benchmark.extra_info["packets_per_round"] = packets_per_round
    benchmark.extra_info["ns/packet"] = round(per_packet * 1e9, 1)
    benchmark.extra_info["Mpps"] = round(1e-6 / per_packet, 4)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_xdp_per_run(benchmark, objects, packets, engine: str, variant: str):
    if engine == "jit":
        pytest.importorskip("ebpflite.jit.compiler", reason="the JIT is not available")
    runner = _handle(objects[variant], engine).runner()
    sample = packets[:PER_RUN_PACKETS]

    def replay():
        return [runner.run(packet=p).return_value for p in sample]

    benchmark.group = f"xdp-{variant}"
    verdicts = benchmark.pedantic(replay, rounds=3 if engine == "interp" else 10, warmup_rounds=1)
    assert set(verdicts) <= {1, 2}  # XDP_DROP or XDP_PASS, nothing else
    _record(benchmark, len(sample))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_xdp_jit_batch(benchmark, objects, packets, variant: str):
    pytest.importorskip("ebpflite.jit.batch", reason="the JIT's batch mode is not available")
    from ebpflite.jit.batch import PacketBatch

    jit = _handle(objects[variant], "jit").runner().engine
    batch = PacketBatch.from_packets(packets)
    benchmark.group = f"xdp-{variant}"
    result = benchmark.pedantic(jit.run_batch, args=(batch,), rounds=10, warmup_rounds=1)
    assert len(result.verdicts) == len(packets)
    _record(benchmark, len(packets))
