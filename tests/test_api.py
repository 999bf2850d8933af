"""The public API: ebpflite.load, program runs, maps, the load-time helper check, the CLI verbs."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import ebpflite
from ebpflite.errors import ContextError, HelperError, LoaderError
from ebpflite.runtime.runner import ObjectRuntime
from ebpflite.vm.program import Program

PROGS = Path(__file__).resolve().parent / "kernel" / "progs"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def parse_obj(tmp_path_factory) -> Path:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (apt-get install clang)")
    out = tmp_path_factory.mktemp("api") / "xdp_parse.o"
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-I", str(REPO / "include"),
                    "-I", f"/usr/include/{sys.implementation._multiarch}", "-c", str(PROGS / "xdp_parse.c"),
                    "-o", str(out)], check=True, capture_output=True)
    return out


def frame(proto: int, dport: int = 53) -> bytes:
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\xff" * 6 + b"\x02\0\0\0\0\x01\x08\x00" + ip + struct.pack(">HHHH", 1, dport, 8, 0)


def test_load_run_and_maps(parse_obj):
    obj = ebpflite.load(parse_obj)
    prog = obj.programs["xdp_parse"]
    res = prog.run(packet=frame(17, 9))
    assert (res.return_value, res.action) == (1, "XDP_DROP") and res.insns_executed > 10
    res = prog.run(packet=frame(1))
    assert res.action == "XDP_TX" and res.packet[:6] == b"\x02\0\0\0\0\x01"
    assert obj.maps["proto_count"][17] == 1 and obj.maps["proto_count"][1] == 1
    assert obj.maps["src_bytes"][bytes([10, 0, 0, 1])] == 2 * 42
    assert prog.run(packet=frame(6), repeat=5).repeat == 5 and obj.maps["proto_count"][6] == 5
    with pytest.raises(ContextError, match="shorter than an Ethernet header"):
        prog.run(packet=b"\0" * 10)


def test_unknown_helper_fails_at_load():
    code = bytes.fromhex("850000000f270000 9500000000000000")  # call 9999; exit
    rt = ObjectRuntime({"p": Program.from_bytes(code, name="p", prog_type="xdp")}, [])
    with pytest.raises(LoaderError, match="instruction 0: call to unknown helper #9999"):
        rt.runner("p")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_unimplemented_helper_verifies_and_fails_at_the_call(engine):
    """bpf_skb_get_xfrm_state has the kernel's prototype but no implementation: the program verifies
    and loads; running it raises a HelperError naming the helper and the pc of the call."""
    from ebpflite import verifier
    from ebpflite.vm.asm import assemble_program

    text = ("r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\nr5 = 0\n"
            "call bpf_skb_get_xfrm_state\nr0 = 0\nexit")
    program = verifier.check(replace(assemble_program(text, name="p"), prog_type="sched_cls"))
    rt = ObjectRuntime({"p": program}, [])
    runner = rt.runner("p", engine)
    with pytest.raises(HelperError, match=r"^pc 5: bpf_skb_get_xfrm_state \(helper #66\) is not implemented"):
        runner.run(packet=bytes(64))


def test_trace_output_collected(tmp_path):
    # r1 = fmt on the stack ("hi %d"), r2 = 6, r3 = 7; call trace_printk; r0 = 0; exit
    fmt = int.from_bytes(b"hi %d\0\0\0", "little")
    code = (bytes.fromhex("18010000") + struct.pack("<I", fmt & 0xFFFFFFFF) + bytes(4) + struct.pack("<I", fmt >> 32)
            + bytes.fromhex("7b1af8ff00000000 bfa1000000000000 07010000f8ffffff b702000006000000"
                            "b703000007000000 8500000006000000 b700000000000000 9500000000000000"))
    rt = ObjectRuntime({"p": Program.from_bytes(code, name="p", prog_type="kprobe")}, [])
    res = rt.runner("p").run(ctx=bytes(8), repeat=2)
    assert res.trace_output == ["hi 7", "hi 7"] and res.return_value == 0 and res.ctx == bytes(8)


def test_cli_prog_run_and_xdp(parse_obj, tmp_path):
    from ebpflite.cli import cli
    from ebpflite.helpers.pcap import write_pcap

    data = tmp_path / "in.bin"
    data.write_bytes(frame(17, 9))
    out = CliRunner().invoke(cli, ["prog", "run", str(parse_obj), "--data-in", str(data),
                                   "--data-out", str(tmp_path / "out.bin"), "--repeat", "3"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("Return value: 1, duration (average): ")
    assert (tmp_path / "out.bin").read_bytes() == frame(17, 9)
    cap = tmp_path / "in.pcap"
    write_pcap(cap, [frame(17, 9), frame(1), frame(17), b"short"])
    out = CliRunner().invoke(cli, ["xdp", str(parse_obj), "--pcap", str(cap), "--out", str(tmp_path / "o.pcap"),
                                   "--json"])
    assert out.exit_code == 0, out.output
    actions = [line for line in out.output.splitlines() if line.startswith("{")]
    assert [('"XDP_DROP"' in a, '"XDP_TX"' in a, '"XDP_PASS"' in a, '"error"' in a) for a in actions] == [
        (True, False, False, False), (False, True, False, False), (False, False, True, False),
        (False, False, False, True)]
