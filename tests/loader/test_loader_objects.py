"""Loading the C corpus: sections, program types, maps, relocations, linking, line info."""

from __future__ import annotations

import pytest

from ebpflite.errors import LoaderError
from ebpflite.loader import load_object
from ebpflite.loader.maps import BPF_F_RDONLY_PROG
from ebpflite.vm.isa import Kind, PseudoSrc


def _lddws(prog, src):
    return [i for i in prog.insns if i.kind is Kind.LDDW and i.src == src]


def test_btf_maps_of_every_form(objects):
    obj = load_object(objects["maps_btf"])
    maps = {m.name: m for m in obj.maps}
    h = maps["hash_map"]
    assert (h.type, h.type_number, h.key_size, h.value_size, h.max_entries, h.flags) == ("hash", 1, 8, 8, 1024, 1)
    assert obj.btf.type_name(h.btf_key_type) == "struct key"
    sized = maps["sized_array"]
    assert (sized.type, sized.key_size, sized.value_size, sized.max_entries, sized.pinning) == ("array", 4, 16, 4, 1)
    assert (maps["lpm"].type, maps["lpm"].key_size) == ("lpm_trie", 8)
    assert (maps["events"].type, maps["events"].max_entries) == ("ringbuf", 4096)
    assert maps["counters"].type == "percpu_array"
    outer = maps["outer"]
    assert outer.type == "array_of_maps" and outer.initial == {0: "inner1", 2: "inner2"}
    assert outer.inner is not None and (outer.inner.type, outer.inner.max_entries) == ("array", 2)
    assert maps["jump_table"].type == "prog_array" and maps["jump_table"].initial == {3: "tail_target"}


def test_global_data_maps(objects):
    obj = load_object(objects["maps_btf"])
    maps = {m.name: m for m in obj.maps}
    assert maps[".data"].initial == (7).to_bytes(4, "little")
    assert maps[".rodata"].initial == (100).to_bytes(4, "little") and maps[".rodata"].flags & BPF_F_RDONLY_PROG
    assert maps[".bss"].initial == bytes(8) and not maps[".bss"].readonly
    assert maps[".data.custom"].initial == b"custom!\0"
    for name in (".data", ".rodata", ".bss", ".data.custom"):
        assert (maps[name].type, maps[name].key_size, maps[name].max_entries) == ("array", 4, 1)


def test_map_relocations_point_at_the_right_maps(objects):
    obj = load_object(objects["maps_btf"])
    prog = obj.programs["use_maps"]
    assert prog.maps is obj.maps
    map_refs = [obj.maps[i.imm].name for i in _lddws(prog, PseudoSrc.MAP_IDX)]
    assert map_refs == ["hash_map", "counters", "events", "jump_table"]
    values = {(obj.maps[i.imm].name, i.imm_hi) for i in _lddws(prog, PseudoSrc.MAP_IDX_VALUE)}
    assert values >= {(".rodata", 0), (".data", 0), (".bss", 0), (".data.custom", 0)}
    assert sorted(prog.meta["used_maps"]) == sorted({i.imm for i in prog.insns if i.kind is Kind.LDDW and i.src})


def test_legacy_libbpf_maps(objects):
    obj = load_object(objects["legacy_maps"])
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags) for m in obj.maps] == [
        ("packet_count", "array", 4, 8, 256, 0), ("flows", "lru_hash", 8, 4, 10000, 2)]
    prog = obj.programs["count_packets"]
    assert prog.prog_type == "socket_filter" and prog.section == "socket"
    assert [obj.maps[i.imm].name for i in _lddws(prog, PseudoSrc.MAP_IDX)] == ["packet_count", "flows"]


def test_iproute2_maps(objects):
    obj = load_object(objects["iproute2_maps"])
    maps = {m.name: m for m in obj.maps}
    assert maps["acc_map"].extra["layout"] == "iproute2" and maps["acc_map"].pinning == 2
    assert maps["map_outer"].inner is maps["map_inner"]
    assert obj.programs["tc_account"].prog_type == "sched_cls"
    assert obj.programs["tc_action"].prog_type == "sched_act"


def test_windows_objects(objects):
    obj = load_object(objects["windows_bind"])
    assert obj.platform == "windows"
    prog = obj.programs["BindMonitor"]
    assert (prog.prog_type, prog.platform) == ("bind", "windows")
    maps = {m.name: m for m in obj.maps}
    assert (maps["process_map"].type, maps["process_map"].key_size, maps["process_map"].value_size) == ("hash", 8, 68)
    assert obj.programs["DropPacket"].prog_type == "xdp"
    helpers = {i.imm for i in prog.insns if i.kind is Kind.CALL}
    assert helpers >= {1, 2}  # ebpf-for-windows numbers: lookup 1, update 2, trace_printk3 13
    assert 13 in helpers
    legacy = load_object(objects["windows_legacy_maps"])
    assert legacy.platform == "windows"
    lmaps = {m.name: m for m in legacy.maps}
    assert lmaps["port_map"].extra["layout"] == "windows" and lmaps["port_map"].key_size == 2
    assert lmaps["outer_map"].inner is lmaps["inner_template"] and lmaps["outer_map"].pinning == 1


def test_subprograms_linked_per_program(objects):
    obj = load_object(objects["subprogs"])
    assert set(obj.programs) == {"xdp_first", "xdp_second", "custom", "probe"}
    assert obj.section_programs["xdp"] == ["xdp_first", "xdp_second"]
    first = obj.programs["xdp_first"]
    assert sorted(first.functions.values()) == ["add", "deep", "twice", "xdp_first"]
    assert first.functions[0] == "xdp_first"
    second = obj.programs["xdp_second"]
    assert sorted(second.functions.values()) == ["add", "twice", "xdp_second"]
    for prog in obj.programs.values():
        starts = set(prog.functions)
        for insn in prog.insns:
            if insn.kind is Kind.CALL_LOCAL:
                assert insn.target in starts, f"{prog.name}: call at {insn.pc} lands at {insn.target}"
    assert obj.programs["custom"].prog_type == "unspec"
    assert obj.programs["probe"].prog_type == "kprobe"


def test_callback_address_is_a_code_pointer(objects):
    prog = load_object(objects["subprogs"]).programs["custom"]
    funcs = _lddws(prog, PseudoSrc.CODE_ADDR)
    assert len(funcs) == 1
    target = funcs[0].pc + funcs[0].imm + 1
    assert prog.functions[target] == "step"


def test_line_info_after_linking(objects):
    prog = load_object(objects["subprogs"]).programs["xdp_first"]
    assert prog.line_info, "compiled with -g, so line info is expected"
    texts = {line.text.strip() for line in prog.line_info.values()}
    assert "return deep(ctx->ingress_ifindex) & 3;" in texts
    assert "return a + b + greeting[0];" in texts  # from the appended subprogram `add`
    add_pc = next(pc for pc, name in prog.functions.items() if name == "add")
    lines_in_add = [line for pc, line in prog.line_info.items() if pc >= add_pc]
    assert all(line.file.endswith("subprogs.c") for line in lines_in_add)
    assert any("greeting" in line.text for line in lines_in_add)


def test_core_relocations_without_a_target_are_named(objects, monkeypatch):
    """No /sys/kernel/btf/vmlinux and no btf=: the program that needs CO-RE cannot load, the other can."""
    from ebpflite.loader import core

    monkeypatch.setattr(core, "VMLINUX_BTF", "/nonexistent/vmlinux")
    with pytest.raises(LoaderError, match=r"read_pid.*CO-RE relocation field_byte_offset of task_struct "
                                          r"\(access 0:1\)"):
        load_object(objects["core"])
    obj = load_object(objects["core"], partial=True)
    assert set(obj.programs) == {"plain"} and set(obj.failed) == {"read_pid"}


def test_prog_type_override(objects):
    obj = load_object(objects["legacy_maps"], prog_type="sched_cls")
    assert obj.programs["count_packets"].prog_type == "sched_cls"
    with pytest.raises(LoaderError, match="unknown program type 'nonsense'"):
        load_object(objects["legacy_maps"], prog_type="nonsense")


def test_load_from_bytes_matches_path(objects):
    a = load_object(objects["maps_btf"])
    b = load_object(objects["maps_btf"].read_bytes())
    assert {n: p.bytecode for n, p in a.programs.items()} == {n: p.bytecode for n, p in b.programs.items()}
