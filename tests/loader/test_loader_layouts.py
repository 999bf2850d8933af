"""Object layouts of older toolchains and loaders: EM_NONE + ``.rela`` relocations, ``maps/<name>``.

Each object is built byte by byte (``elfbuild``) in the shape the real one has (OVS datapath.o,
PREVAIL's map_in_map_legacy.o), and the test checks what the loader makes of its lddws and maps.
"""

from __future__ import annotations

import struct

import pytest
from elfbuild import EM_BPF, EM_NONE, R_BPF_64_64, STT_FUNC, STT_OBJECT, ElfBuilder

from ebpflite import verifier
from ebpflite.errors import LoaderError
from ebpflite.loader import load_object
from ebpflite.vm.asm import assemble_bytes
from ebpflite.vm.isa import Kind, PseudoSrc

#: bpf_map_def: type, key_size, value_size, max_entries, map_flags (libbpf's 20-byte legacy layout)
HASH, ARRAY, ARRAY_OF_MAPS = 1, 2, 12


def map_def(mtype: int, key: int, value: int, entries: int, *extra: int) -> bytes:
    return struct.pack(f"<{5 + len(extra)}I", mtype, key, value, entries, 0, *extra)


LOOKUP = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r2 = r10
    r2 += -4
    r1 = 0 ll
    call 1
    r0 = 0
    exit
"""
LDDW_OFFSET = 4 * 8  # byte offset of `r1 = 0 ll` above


def ovs_style(machine: int, rtype: int, *, rela: bool, addend: int = 0) -> bytes:
    """Two maps in `maps`, one program whose lddw is relocated against the second one."""
    obj = ElfBuilder(machine=machine)
    code = obj.section("tail-1", assemble_bytes(LOOKUP), executable=True)
    maps = obj.section("maps", map_def(HASH, 4, 8, 16) + map_def(HASH, 4, 4, 32), writable=True)
    obj.symbol("tail_1", code, size=len(assemble_bytes(LOOKUP)), kind=STT_FUNC)
    obj.symbol("flows", maps, value=0, size=20, kind=STT_OBJECT)
    obj.symbol("stats", maps, value=20, size=20, kind=STT_OBJECT)
    obj.relocs(code, [(LDDW_OFFSET, "stats", rtype, addend)], rela=rela)
    return obj.build()


def lddw(prog):
    return next(i for i in prog.insns if i.kind is Kind.LDDW)


@pytest.mark.parametrize("machine,rtype,rela", [
    (EM_NONE, 0, True),          # early LLVM, as OVS datapath.o: .rela<section>, every type 0
    (EM_NONE, 0, False),
    (EM_BPF, R_BPF_64_64, True),
    (EM_BPF, R_BPF_64_64, False),
])
def test_map_lddw_relocated_from_rel_and_rela(machine, rtype, rela):
    obj = load_object(ovs_style(machine, rtype, rela=rela))
    prog = obj.programs["tail_1"]
    insn = lddw(prog)
    assert (insn.src, insn.imm) == (PseudoSrc.MAP_IDX, obj.maps.index(obj.map("stats")))
    assert verifier.verify(prog, prog_type="sched_cls").ok


def test_r_bpf_none_is_still_skipped_in_em_bpf_objects():
    """R_BPF_NONE means "no relocation" where relocation numbers mean something (EM_BPF)."""
    prog = load_object(ovs_style(EM_BPF, 0, rela=True)).programs["tail_1"]
    assert (lddw(prog).src, lddw(prog).imm) == (0, 0)


def global_data_object(*, rela: bool, addend: int, imm: int) -> bytes:
    """`r1 = counter ll` against .data, the offset carried by the RELA addend or by imm (REL)."""
    text = "r1 = 0 ll\nr0 = *(u32 *)(r1 + 0)\nexit\n"
    code_bytes = bytearray(assemble_bytes(text))
    struct.pack_into("<i", code_bytes, 4, imm)
    obj = ElfBuilder(machine=EM_BPF)
    code = obj.section("xdp", bytes(code_bytes), executable=True)
    data = obj.section(".data", bytes(16), writable=True)
    obj.symbol("prog", code, size=len(code_bytes), kind=STT_FUNC)
    obj.symbol("", data, kind=3, bind=0)  # the section symbol, as clang relocates static data
    obj.symbol(".data", data, kind=3, bind=0)
    obj.relocs(code, [(0, ".data", R_BPF_64_64, addend)], rela=rela)
    return obj.build()


@pytest.mark.parametrize("rela,addend,imm", [(True, 8, 0), (False, 0, 8)])
def test_global_data_offset_from_rela_addend_or_rel_imm(rela, addend, imm):
    prog = load_object(global_data_object(rela=rela, addend=addend, imm=imm)).programs["prog"]
    insn = lddw(prog)
    assert insn.src == PseudoSrc.MAP_IDX_VALUE
    assert insn.imm_hi == 8


def test_rela_addend_outside_the_data_section_is_refused():
    with pytest.raises(LoaderError, match=r"lddw of '\.data' \+ 64 is outside \.data"):
        load_object(global_data_object(rela=True, addend=64, imm=0))


# --- one maps/<name> section per map ---------------------------------------------------------------


def per_section_maps(inner_idx: int) -> bytes:
    """PREVAIL's map_in_map_legacy.o: the outer map names its template by inner_map_idx, which counts
    maps across the maps/ sections in section order."""
    text = LOOKUP
    obj = ElfBuilder()
    code = obj.section(".text", assemble_bytes(text), executable=True)
    outer = obj.section("maps/array_of_maps", map_def(ARRAY_OF_MAPS, 4, 4, 1, inner_idx, 0), writable=True)
    inner = obj.section("maps/inner_map", map_def(ARRAY, 4, 8, 1, 0, 0), writable=True)
    obj.symbol("func", code, size=len(assemble_bytes(text)), kind=STT_FUNC)
    obj.symbol("array_of_maps", outer, size=28, kind=STT_OBJECT)
    obj.symbol("inner_map", inner, size=28, kind=STT_OBJECT)
    obj.relocs(code, [(LDDW_OFFSET, "array_of_maps", R_BPF_64_64, 0)])
    return obj.build()


def test_maps_slash_name_sections_are_legacy_map_sections():
    obj = load_object(per_section_maps(inner_idx=1))
    assert [(m.name, m.type, m.section) for m in obj.maps] == [
        ("array_of_maps", "array_of_maps", "maps/array_of_maps"), ("inner_map", "array", "maps/inner_map")]
    assert obj.map("array_of_maps").inner is obj.map("inner_map")
    insn = lddw(obj.programs["func"])
    assert (insn.src, insn.imm) == (PseudoSrc.MAP_IDX, 0)


def test_inner_map_idx_naming_the_map_itself_links_nothing():
    obj = load_object(per_section_maps(inner_idx=0))
    assert obj.map("array_of_maps").inner is None


def test_corpus_map_in_map_legacy(shared_samples):
    obj = load_object(shared_samples / "build" / "map_in_map_legacy.o")
    assert obj.map("array_of_maps").inner is obj.map("inner_map")
    assert verifier.verify(obj.programs["func"], prog_type="sched_cls").ok


# --- .values initialisers among other BTF maps ----------------------------------------------------

RINGBUF_IN_MAP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} inner_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, inner_map);
} array_of_maps SEC(".maps") = { .values = { &inner_map } };

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	return bpf_map_lookup_elem(&array_of_maps, &key) ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
"""


def test_values_initialiser_after_a_map_with_many_entries(tmp_path):
    """The ringbuf before it (max_entries 262144) does not own the relocation at array_of_maps.values[0]
    (PREVAIL's ringbuf_in_map.o: "relocation at offset 40 does not fall in the 'values' of any map")."""
    from ebpflite.loader.cc import compile_c, find_compilers

    if not find_compilers():
        pytest.skip("no eBPF C compiler: install the ziglang wheel (pip install ebpflite[cc]) or clang")
    src = tmp_path / "ringbuf_in_map.c"
    src.write_text(RINGBUF_IN_MAP)
    obj = load_object(compile_c(src, tmp_path / "ringbuf_in_map.o"))
    assert obj.map("array_of_maps").initial == {0: "inner_map"}
    assert obj.map("inner_map").initial is None
