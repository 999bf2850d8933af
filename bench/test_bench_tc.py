"""tc throughput: per-packet cost of a rewriting tc program, native skb helpers against callbacks.

Run: ``pytest bench/test_bench_tc.py --benchmark-only -p no:ebpflite``.

The program is examples/tc_nat/nat.c (static source NAT): for each IPv4
packet whose source is in its ``snat`` map it calls bpf_l3_csum_replace
twice, bpf_l4_csum_replace once for TCP and UDP, and bpf_skb_store_bytes
once, besides two map lookups. The map holds every source of the first
:data:`PER_RUN_PACKETS` packets of examples/data/sample.pcap, so each of
them is translated (but those whose TTL expires). One ``run()`` per packet
through the Python API, as ``ebpflite tc`` and the pytest plugin run tc
programs (each run rebuilds the ``__sk_buff`` from the packet, as
BPF_PROG_TEST_RUN does):

- ``interp``: the reference interpreter;
- ``jit-callbacks``: unchecked JIT code calling the Python skb helpers;
- ``jit-native``: the same with the helpers emitted natively (jit/native_skb.py).

Each benchmark records ``ns/packet`` in ``extra_info``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples" / "tc_nat" / "nat.c"
CAPTURE = ROOT / "examples" / "data" / "sample.pcap"
PER_RUN_PACKETS = 200


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    from ebpflite.helpers.pcap import read_packets

    return [p.data for p in read_packets(CAPTURE)][:PER_RUN_PACKETS]


@pytest.fixture(scope="module")
def nat_object(tmp_path_factory) -> Path:
    from ebpflite.errors import CompileError
    from ebpflite.loader.cc import compile_c

    try:
        return compile_c(SOURCE, tmp_path_factory.mktemp("tc") / "nat.o")
    except CompileError as exc:
        pytest.skip(f"no C-to-eBPF compiler (zig or clang): {exc}")


def _runner(path: Path, engine: str, packets: list[bytes]):
    import ebpflite

    obj = ebpflite.load(path, engine="interp" if engine == "interp" else "jit")
    public = int(ipaddress.IPv4Address("203.0.113.0"))
    for n, packet in enumerate(p for p in packets if p[12:14] == b"\x08\x00"):
        obj.maps["snat"][packet[26:30]] = (public + n % 256).to_bytes(4, "big")
    runner = obj.programs["snat_egress"].runner()
    if engine != "interp":
        from ebpflite.jit.compiler import JitProgram

        runner.engine = JitProgram(runner.program, runner.env, checked=False,
                                   native_helpers=engine == "jit-native")
    return runner


@pytest.mark.parametrize("engine", ["interp", "jit-callbacks", "jit-native"])
def test_tc_nat_per_run(benchmark, nat_object, packets, engine: str):
    runner = _runner(nat_object, engine, packets)
    if engine == "jit-native":
        assert runner.engine.options.native_numbers >= {9, 10, 11}

    def replay():
        return [runner.run(packet=p).return_value for p in packets]

    benchmark.group = "tc-nat"
    verdicts = benchmark.pedantic(replay, rounds=3 if engine == "interp" else 10, warmup_rounds=1)
    assert set(verdicts) <= {0, 2}  # TC_ACT_OK or TC_ACT_SHOT
    first = next(p for p in packets if p[12:14] == b"\x08\x00" and p[22] > 1)
    assert runner.run(packet=first).packet[26:30] != first[26:30]  # the map really translates
    per_packet = benchmark.stats.stats.median / len(packets)
    benchmark.extra_info["packets_per_round"] = len(packets)
    benchmark.extra_info["ns/packet"] = round(per_packet * 1e9, 1)
