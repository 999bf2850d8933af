"""CO-RE relocations applied against a target BTF (loader/core.py), with both compilers.

``c/core_relo/prog.c`` stores one relocated value per slot of ``out[]``; ``target.c`` plays the
kernel, with other layouts (fields moved, one renamed, one inside an anonymous union, bitfields,
other enum values). Each program is verified and run on both engines against a packet, and every
slot is compared with what the target layout says. The running kernel's own BTF and libbpf (via
``bpftool -d``) are the oracle for the real-world cases.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import ebpflite
from ebpflite import verifier
from ebpflite.errors import BTFError, HelperError, LoaderError
from ebpflite.loader import core, load_object
from ebpflite.loader.btf import parse_btf
from ebpflite.loader.btf_ext import CoreRelo
from ebpflite.loader.cc import compile_c, find_compilers

SRC = Path(__file__).resolve().parent / "c" / "core_relo"
COMPILERS = [name for name, _ in find_compilers()]
PACKET = bytes((i * 37 + 11) & 0xFF for i in range(64))


@pytest.fixture(scope="module", params=COMPILERS or [None])
def built(request, tmp_path_factory) -> dict[str, Path]:
    """prog.o and the targets, built by each available compiler (ziglang's clang, Debian's clang)."""
    if request.param is None:
        pytest.skip("no eBPF C compiler: install the ziglang wheel (pip install ebpflite[cc]) or clang")
    out = tmp_path_factory.mktemp(f"core-{request.param}")
    objs = {src.stem: compile_c(src, out / f"{src.stem}.o", compiler=request.param) for src in SRC.glob("*.c")}
    objs["compiler"] = request.param
    return objs


def target_layout(packet: bytes) -> dict[int, int]:
    """What each out[] slot must hold, from target.c's layout (written out by hand, not from BTF)."""
    word = struct.unpack_from("<I", packet, 16 + 12)[0]  # struct opts: bitfields in the unit at 12
    sbits = (word >> 8) & 0xF
    return {
        0: packet[3],                                   # hdr.kind: after pad[3]
        1: struct.unpack_from("<H", packet, 4)[0],      # hdr.len at 4
        2: 2,                                           # sizeof(hdr.len)
        3: 0,                                           # hdr.missing does not exist
        4: 0,                                           # ... so the guarded read never ran
        5: struct.unpack_from("<i", packet, 16 + 4)[0] & 0xFFFFFFFFFFFFFFFF,  # opts.c in the union
        6: (word >> 3) & 0x1F,                          # opts.bits2 (unsigned, 5 bits after 3)
        7: (sbits - 16 if sbits & 8 else sbits) & 0xFFFFFFFFFFFFFFFF,   # opts.sbits (signed 4 bits)
        8: 12,                                          # sizeof(struct hdr) in the target
        9: 0,                                           # struct only_here is not in the target
        10: 20,                                         # GREEN is 20 there
        11: 0,                                          # BLUE is not
        15: struct.unpack_from("<i", packet, 16 + 4)[0] & 0xFFFFFFFFFFFFFFFF,  # opts___flavour.c
    }


def run_out(obj_path: Path, target: Path) -> list[int]:
    obj = ebpflite.load(obj_path, btf=target, engine="both")
    res = obj.programs["read_all"].run(packet=PACKET)
    assert res.action == "XDP_PASS"
    return list(struct.unpack("<16Q", bytes(obj.maps[".bss"][0])))


def test_every_relocation_kind_against_a_target_layout(built):
    out = run_out(built["prog"], built["target"])
    for slot, want in target_layout(PACKET).items():
        assert out[slot] == want, f"out[{slot}]"
    target = load_object(built["target"]).btf
    local = load_object(built["prog"], btf=built["target"]).btf
    assert out[13] == target.find("hdr").id  # type_id_target
    assert out[14] == local.find("hdr").id  # type_id_local
    # type_matches (clang >= 15): local struct pair {x, y} is a subset of the target's {x, y, z}
    assert out[12] in (1, 99)
    if built["compiler"] == "zig":
        assert out[12] == 1


def test_relocated_offsets_differ_from_the_compiled_ones(built):
    """Without relocation the program would read hdr.kind at 0: the instruction now reads 3."""
    prog = load_object(built["prog"], btf=built["target"]).programs["read_all"]
    assert prog.meta["core"]["relocations"] >= 15
    assert prog.meta["core"]["target"] == str(built["target"])


def test_missing_field_poisons_only_the_guarded_read(built):
    prog = load_object(built["prog"], btf=built["target"]).programs["read_all"]
    poisoned = prog.meta["core"]["poisoned"]
    assert len(poisoned) == 1
    (pc, message), = poisoned.items()
    assert prog.insns[[i.pc for i in prog.insns].index(pc)].imm == core.POISON_HELPER
    assert "field_byte_offset of struct hdr (access 0:2 = hdr.missing)" in message
    assert "field 'hdr.missing' not found in the target" in message
    assert verifier.verify(prog).ok  # bpf_core_field_exists() == 0 made it dead code


def test_renamed_field_is_refused_where_it_is_read(built):
    """target.c renamed opts.d to renamed_d: the unguarded read fails verification, naming the
    relocation (kind, type, access string and path, section and pc) and the target."""
    prog = load_object(built["renamed"], btf=built["target"]).programs["renamed"]
    report = verifier.verify(prog)
    assert not report.ok
    err = report.errors[0]
    assert err.check == "core"
    assert re.search(r"CO-RE relocation field_byte_offset of struct opts \(access 0:2 = opts\.d\) at pc \d+ "
                     r"\(instruction \d+ of xdp, function 'renamed'\): field 'opts\.d' not found in the target "
                     rf"\({re.escape(str(built['target_ambiguous'].parent / 'target.o'))}\)", err.message), err.message


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_running_into_a_poisoned_instruction_names_the_relocation(built, engine):
    """Unverified (--no-verify), the program runs until it reaches the read: a typed error, not a crash."""
    obj = ebpflite.load(built["renamed"], btf=built["target"], verify=False, engine=engine)
    with pytest.raises(HelperError, match=r"reached an instruction the loader could not relocate: CO-RE "
                                          r"relocation field_byte_offset of struct opts \(access 0:2 = opts\.d\)"):
        obj.programs["renamed"].run(packet=PACKET)


def test_negative_enumerator_relocated_as_libbpf_does(built):
    """NEG_A is -5 here and -7 in the target: the program stores -7. clang 14 leaves the BTF enum
    unsigned (4294967291) but writes -5 sign-extended; libbpf reads 32-bit enumerators as __s32."""
    obj = ebpflite.load(built["enum_sign"], btf=built["target"], engine="both")
    assert obj.programs["enum_sign"].run(packet=PACKET).action == "XDP_PASS"
    assert obj.maps[".bss"].lookup((0).to_bytes(4, "little")) == struct.pack("<q", -7)


def test_unsigned_enumerator_above_2_31_is_refused_as_by_libbpf(built):
    """BIG_B = 0xFFFFFFF0u: clang writes 4294967280, libbpf expects its sign-extended __s32 and
    refuses ("unexpected insn #0 (LDIMM64) value"); so do we, saying why."""
    with pytest.raises(LoaderError, match=r"CO-RE relocation enumval_value of enum big \(access 1 = big::BIG_B\) "
                                          r".*: the instruction holds 4294967280, not the local value "
                                          r"18446744073709551600 \(libbpf reads 32-bit enumerator values as "
                                          r"signed __s32"):
        load_object(built["enum_big"], btf=built["target"])


def test_ambiguous_candidates_are_refused(built):
    """Two flavours of `struct hdr` place `kind` at different offsets: libbpf refuses, so do we."""
    with pytest.raises(LoaderError, match=r"program 'read_all': CO-RE relocation field_byte_offset of struct hdr "
                                          r"\(access 0:0 = hdr\.kind\) at pc \d+ .*: the target has several types "
                                          r"'hdr' that place the field at different offsets \(0 and 1\)"):
        load_object(built["prog"], btf=built["target_ambiguous"])


def test_no_target_btf_is_a_clear_error(built, monkeypatch):
    monkeypatch.setattr(core, "VMLINUX_BTF", "/nonexistent/vmlinux")
    with pytest.raises(LoaderError, match=r"program 'read_all' needs \d+ CO-RE relocation\(s\) \(the first: CO-RE "
                                          r"relocation field_byte_offset of hdr \(access 0:0\) at pc \d+.*\), and "
                                          r"there is no target BTF: /nonexistent/vmlinux does not exist here; give "
                                          r"one with --btf FILE \(CLI\) or btf= \(API\)"):
        load_object(built["prog"])
    obj = load_object(built["prog"], partial=True)
    assert set(obj.failed) == {"read_all"}


def test_unreadable_and_malformed_target_btf(built, tmp_path):
    with pytest.raises(LoaderError, match="cannot read the target BTF"):
        load_object(built["prog"], btf=tmp_path / "absent")
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x12\x34\x01\x00" + bytes(20))
    with pytest.raises(BTFError, match="bad BTF magic"):
        load_object(built["prog"], btf=bad)
    with pytest.raises(LoaderError, match="ELF file without a .BTF section"):
        load_object(built["prog"], btf=_elf_without_btf())


def _elf_without_btf() -> bytes:
    from elfbuild import ElfBuilder

    obj = ElfBuilder()
    obj.section("xdp", bytes.fromhex("b700000002000000" "9500000000000000"), executable=True)
    return obj.build()


# --- the relocation engine on its own: malformed records ------------------------------------------


@pytest.fixture(scope="module")
def local_btf(built):
    return load_object(built["prog"], btf=built["target"]).btf


@pytest.mark.parametrize("access,kind,message", [
    ("0:x", "field_byte_offset", "access string '0:x' is not a list of numbers"),
    ("", "field_byte_offset", "access string '' is not a list of numbers"),
    ("0:9", "field_byte_offset", "struct hdr has no member 9"),
    ("0:0:1", "field_byte_offset", "access string '0:0:1' indexes into INT at position 2"),
    ("1", "type_size", "a type_size relocation must have access string '0', not '1'"),
    ("0", "kind 42", "unknown relocation kind kind 42"),
    ("7", "enumval_value", "does not name an enumerator"),
])
def test_malformed_relocations(local_btf, built, access, kind, message):
    target = core.target_btf(built["target"])
    relo = CoreRelo(0, local_btf.find("hdr").id, access, kind, "hdr")
    with pytest.raises(core.CoreError, match=re.escape(message)):
        core.Resolver(local_btf, target).resolve(relo)


def test_relocating_an_instruction_of_the_wrong_form(local_btf, built):
    """A jump carries no value to relocate; an ALU immediate must hold the local value."""
    target = core.target_btf(built["target"])
    relo = CoreRelo(0, local_btf.find("hdr").id, "0:0", "field_byte_offset", "hdr")
    res = core.Resolver(local_btf, target).resolve(relo)
    with pytest.raises(core.CoreError, match=r"opcode 0x05 cannot be relocated"):
        core.patch([[0x05, 0, 0, 0]], 0, res)
    with pytest.raises(core.CoreError, match=r"the instruction holds 9, not the local value 0"):
        core.patch([[0x07, 1, 0, 9]], 0, res)
    with pytest.raises(core.CoreError, match=r"takes a register, not an immediate"):
        core.patch([[0x0F, 0x21, 0, 0]], 0, res)


def test_essential_names():
    assert core.essential_name("task_struct___v2") == "task_struct"
    assert core.essential_name("a___b___c") == "a___b"
    assert core.essential_name("__x____y") == "__x____y"
    assert core.essential_name("plain") == "plain"


# --- the running kernel's BTF ---------------------------------------------------------------------

needs_vmlinux = pytest.mark.skipif(not Path(core.VMLINUX_BTF).exists(),
                                   reason=f"this kernel publishes no BTF ({core.VMLINUX_BTF} is absent)")


@needs_vmlinux
def test_task_struct_against_this_kernel(objects):
    """tests/loader/c/core.c reads task->tgid: the offset is this kernel's (default target)."""
    prog = load_object(objects["core"]).programs["read_pid"]
    vmlinux = parse_btf(Path(core.VMLINUX_BTF).read_bytes())
    task = vmlinux.find("task_struct")
    tgid = next(m for m in task.members if m.name == "tgid")
    assert prog.insns[0].spec.name == "ldxw" and prog.insns[0].off == tgid.offset // 8
    assert prog.meta["core"]["target"] == core.VMLINUX_BTF


def _libbpf_patches(obj: Path, extra: str = "") -> dict[str, dict[int, int]]:
    """libbpf's own relocation decisions for ``obj`` against this kernel: `bpftool -d prog loadall`
    logs "prog 'P': relo #K: patched insn #N (...) off|imm A -> B" before loading."""
    script = (f"mount -t bpf bpf /sys/fs/bpf && {extra} "
              f"bpftool -d prog loadall {obj} /sys/fs/bpf/progs {'' if not extra else 'map name rtt_events pinned /sys/fs/bpf/rb'}")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    found: dict[str, dict[int, int]] = {}
    for prog, insn, value in re.findall(r"prog '(\w+)': relo #\d+: patched insn #(\d+) \([^)]*\) \w+ \S+ -> (\S+)",
                                        proc.stdout + proc.stderr):
        found.setdefault(prog, {})[int(insn)] = int(value)
    return found


needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None or shutil.which("unshare") is None,
                                   reason="bpftool and unshare are needed to ask libbpf")


@needs_vmlinux
@needs_bpftool
@pytest.mark.kernel
@pytest.mark.parametrize("case", ["core_read", "tcprtt_sockops"])
def test_same_values_as_libbpf(case, shared_samples, tmp_path):
    """Every value libbpf patches into a real object, we patch too (the sample Cilium ships, and
    the libbpf-bootstrap style BPF_CORE_READ program of the compat corpus)."""
    if case == "core_read":
        path = compile_c(Path(__file__).parent / "c" / "compat" / "core_read.c", tmp_path / "core_read.o")
        extra = ""
    else:
        path = shared_samples / "cilium-examples" / "tcprtt_sockops_bpf_bpfel.o"
        extra = "bpftool map create /sys/fs/bpf/rb type ringbuf key 0 value 0 entries 4096 name rtt_events &&"
    patches = _libbpf_patches(path, extra)
    if not patches:
        pytest.skip("libbpf logged no relocations (BPF not permitted here?)")
    obj = load_object(path)
    for prog_name, insns in patches.items():
        by_pc = {i.pc: i for i in obj.programs[prog_name].insns}
        for pc, value in insns.items():
            insn = by_pc[pc]
            got = insn.off if insn.spec.kind.name in ("LDX", "ST", "STX") else insn.imm
            assert got == value, f"{prog_name} insn {pc}: {insn.spec.name} has {got}, libbpf patched {value}"
