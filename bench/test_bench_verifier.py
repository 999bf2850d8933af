"""Verifier speed: verification time against program size, and on real parsers.

Run with ``pytest bench/test_bench_verifier.py --benchmark-only``. The
synthetic programs are packet parsers of 100, 1,000 and 10,000
instructions: blocks of "bounds check, load, arithmetic, branch" walking
further into the packet, which is the shape that costs a verifier most
(every block forks and joins). ``extra_info`` reports instructions
processed and the rate. Goal: under a second for the 1,000-instruction
parser. The "real" cases are corpus programs compiled by ``ebpflite cc``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ebpflite import verifier
from ebpflite.loader import load_object
from ebpflite.loader.cc import compile_c, find_compilers
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.isa import BY_NAME
from ebpflite.vm.program import Program

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "verifier" / "corpus" / "safe"


def _x(name: str, dst: int, src: int, off: int = 0) -> Insn:
    return make(next(s for s in BY_NAME[name] if s.source == "X"), dst=dst, src=src, off=off)


def _k(name: str, dst: int, imm: int, off: int = 0) -> Insn:
    return make(next(s for s in BY_NAME[name] if s.source == "K"), dst=dst, imm=imm, off=off)


def synthetic_parser(size: int) -> Program:
    """An XDP parser of about ``size`` instructions (10 per header field)."""
    body: list[Insn] = [make("ldxw", dst=2, src=1, off=0), make("ldxw", dst=3, src=1, off=4), _k("mov", 0, 2)]
    blocks = max(1, (size - 5) // 10)
    end = 3 + blocks * 10  # index of the epilogue
    for b in range(blocks):
        here = len(body)
        body += [
            _x("mov", 4, 2), _k("add", 4, b + 1), _x("jgt", 4, 3, end - (here + 2) - 1),
            make("ldxb", dst=5, src=2, off=b), _x("add", 0, 5), _k("and", 0, 0xFF),
            _k("jne", 5, 0x45, 1), _k("xor", 0, 1), _k("rsh", 5, 1), _x("add", 6 if b else 0, 5) if b else
            _k("mov", 6, 0),
        ]
    body += [_k("and", 0, 3), make("exit")]
    insns, pc = [], 0
    for insn in body:
        insns.append(insn.with_fields(pc=pc))
        pc += insn.slots
    return Program(insns, name=f"parser{size}", prog_type="xdp")


@pytest.mark.parametrize("size", [100, 1000, 10000])
def test_bench_verify_synthetic_parser(benchmark, size):
    program = synthetic_parser(size)
    report = benchmark(verifier.verify, program)
    assert report.ok, report.text()
    benchmark.extra_info["instructions"] = len(program.insns)
    benchmark.extra_info["processed"] = report.processed


@pytest.fixture(scope="module")
def real_parsers(tmp_path_factory):
    if not find_compilers():
        pytest.skip("no eBPF C compiler (pip install ziglang, or apt-get install clang)")
    out = tmp_path_factory.mktemp("bench_verifier")
    programs = {}
    for name in ("xdp_vlan", "xdp_ipv4_options", "xdp_udp_count", "loop_packet_sum"):
        obj = compile_c(CORPUS / f"{name}.c", out / f"{name}.o")
        programs[name] = next(iter(load_object(obj).programs.values()))
    return programs


@pytest.mark.parametrize("name", ["xdp_vlan", "xdp_ipv4_options", "xdp_udp_count", "loop_packet_sum"])
def test_bench_verify_real_parser(benchmark, real_parsers, name):
    program = real_parsers[name]
    report = benchmark(verifier.verify, program)
    assert report.ok, report.text()
    benchmark.extra_info["instructions"] = len(program.insns)
    benchmark.extra_info["processed"] = report.processed


if __name__ == "__main__":  # quick manual timing: python bench/test_bench_verifier.py
    import time

    for n in (100, 1000, 10000):
        p = synthetic_parser(n)
        t = time.perf_counter()
        r = verifier.verify(p)
        print(n, len(p.insns), r.ok, r.processed, f"{time.perf_counter() - t:.3f}s", file=sys.stdout)
