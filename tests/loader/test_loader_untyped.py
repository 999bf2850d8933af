"""Sections that name no program type (Cilium ``2/7``, OVS ``tail-3``, Suricata ``filter``).

They load (as ``unspec``), but verifying or running them needs a type: ``--type`` on every command
that loads an object, ``prog_type=`` in the API. Without one the message says so, names the types
and what ``tc``/``ip link`` would choose.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from elfbuild import STT_FUNC, ElfBuilder

import ebpflite
from ebpflite import verifier
from ebpflite.cli import cli
from ebpflite.errors import LoaderError
from ebpflite.loader import load_object
from ebpflite.vm.asm import assemble_bytes

MESSAGE = (r"section tail-3: the section names no program type, so the program's context and helpers are unknown: "
           r"choose one "
           r"with --type TYPE \(CLI\) or prog_type= \(API\); the tools that load such sections use their own "
           r"\(tc as sched_cls, ip link as xdp\)\. Program types: cgroup_device, .*sched_cls, .*xdp")


@pytest.fixture(scope="module")
def untyped(tmp_path_factory):
    """An object with a typed `xdp` section and an untyped `tail-3` one; both return 2."""
    code = assemble_bytes("r0 = 2\nexit\n")
    obj = ElfBuilder()
    for section, name in (("xdp", "fast_path"), ("tail-3", "tail_3")):
        index = obj.section(section, code, executable=True)
        obj.symbol(name, index, size=len(code), kind=STT_FUNC)
    path = tmp_path_factory.mktemp("untyped") / "untyped.o"
    path.write_bytes(obj.build())
    return path


def test_untyped_sections_load_as_unspec(untyped):
    obj = load_object(untyped)
    assert obj.programs["tail_3"].prog_type == "unspec"
    assert obj.programs["fast_path"].prog_type == "xdp"


def test_verifying_needs_a_type(untyped):
    prog = load_object(untyped).programs["tail_3"]
    with pytest.raises(LoaderError, match=MESSAGE):
        verifier.verify(prog)
    assert verifier.verify(prog, prog_type="sched_cls").ok


def test_api_load_needs_a_type(untyped):
    with pytest.raises(LoaderError, match=MESSAGE):
        ebpflite.load(untyped)
    obj = ebpflite.load(untyped, prog_type="sched_cls")
    assert obj.programs["tail_3"].prog_type == "sched_cls"
    assert obj.programs["tail_3"].run(packet=bytes(64)).return_value == 2


def test_api_load_verifies_only_the_named_programs(untyped):
    obj = ebpflite.load(untyped, verify=["fast_path"])
    assert obj.programs["fast_path"].program.verified
    assert obj.programs["fast_path"].run(packet=bytes(64)).action == "XDP_PASS"
    with pytest.raises(LoaderError, match=r"no program nope to verify \(the object has fast_path, tail_3\)"):
        ebpflite.load(untyped, verify=["nope"])


def test_running_unverified_needs_a_type(untyped):
    obj = ebpflite.load(untyped, verify=False)
    with pytest.raises(LoaderError, match=MESSAGE):
        obj.programs["tail_3"].run(packet=bytes(64))


def test_an_unknown_type_is_refused():
    with pytest.raises(LoaderError, match="unknown program type 'tc'"):
        load_object(b"", prog_type="tc")


# --- every command that loads --------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("command", [
    ["verify", "{obj}", "tail-3"],
    ["prog", "run", "{obj}", "--prog", "tail_3", "--data-in", "{pkt}"],
    ["xdp", "{obj}", "--prog", "tail_3", "--pcap", "{pcap}"],
    ["bench", "{obj}", "--prog", "tail_3", "--data-in", "{pkt}", "-n", "3", "--engine", "interp"],
    ["disasm", "{obj}", "tail-3", "--xlated"],
])
def test_commands_say_a_type_is_needed_and_accept_one(untyped, tmp_path, command):
    from ebpflite.helpers.pcap import write_pcap

    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(64))
    pcap = tmp_path / "in.pcap"
    write_pcap(pcap, [bytes(64)])
    args = [a.format(obj=untyped, pkt=pkt, pcap=pcap) for a in command]
    result = invoke(*args)
    assert result.exit_code != 0
    text = result.output + str(result.exception or "")
    assert "names no program type" in text and "--type TYPE" in text
    chosen = "xdp" if command[0] in ("xdp", "disasm") else "sched_cls"
    result = invoke(*args, "--type", chosen)
    assert result.exit_code == 0, result.output + str(result.exception)


def test_commands_choose_among_the_known_types(untyped):
    result = invoke("verify", untyped, "--type", "tc")
    assert result.exit_code == 2
    assert "'tc' is not one of" in result.output and "'sched_cls'" in result.output and "'xdp'" in result.output


def test_a_typed_program_runs_beside_untyped_sections(untyped, tmp_path):
    """--prog picks the typed program: the untyped section next to it is not verified."""
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(64))
    result = invoke("prog", "run", untyped, "--prog", "fast_path", "--data-in", pkt)
    assert result.exit_code == 0, result.output
    assert "Return value: 2" in result.output


def test_sections_lists_them_and_takes_a_type(untyped):
    result = invoke("sections", untyped)
    assert result.exit_code == 0 and "unspec" in result.output
    result = invoke("sections", untyped, "--type", "sched_cls", "--json")
    assert result.exit_code == 0 and '"unspec"' not in result.output and '"sched_cls"' in result.output
