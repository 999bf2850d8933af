"""Every bad input ends in a typed ebpflite error naming file, section and problem."""

from __future__ import annotations

import struct

import pytest
from elftools.elf.elffile import ELFFile

from ebpflite.errors import BTFError, LoaderError
from ebpflite.loader import load_object
from ebpflite.loader.btf import parse_btf
from ebpflite.loader.btf_ext import parse_btf_ext

SH_FIELDS = {"name": (0, "<I"), "type": (4, "<I"), "flags": (8, "<Q"), "offset": (24, "<Q"), "size": (32, "<Q"),
             "link": (40, "<I"), "info": (44, "<I"), "entsize": (56, "<Q")}


def section_header_offset(data: bytes, name: str) -> int:
    import io

    elf = ELFFile(io.BytesIO(data))
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == name:
            return elf.header["e_shoff"] + i * elf.header["e_shentsize"]
    raise KeyError(name)


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def patch_section(data: bytes, name: str, field: str, value: int) -> bytes:
    off, fmt = SH_FIELDS[field]
    return patch(data, section_header_offset(data, name) + off, fmt, value)


def section_data_offset(data: bytes, name: str) -> int:
    return struct.unpack_from("<Q", data, section_header_offset(data, name) + 24)[0]


@pytest.fixture()
def legacy(objects) -> bytes:
    return objects["legacy_maps"].read_bytes()


@pytest.fixture()
def subprogs(objects) -> bytes:
    return objects["subprogs"].read_bytes()


# --- the ELF container -----------------------------------------------------------------


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"MZ" + d[2:], "not an ELF file"),
    (lambda d: d[:40], "truncated ELF header"),
    (lambda d: patch(d, 4, "<B", 1), "ELF class 1 is not supported"),
    (lambda d: patch(d, 5, "<B", 2), "big-endian eBPF objects are not supported"),
    (lambda d: patch(d, 5, "<B", 7), "unknown ELF data encoding 7"),
    (lambda d: patch(d, 18, "<H", 62), "machine EM_X86_64 is not eBPF"),
    (lambda d: patch(d, 16, "<H", 2), "is not a relocatable object"),
    (lambda d: patch(d, 0x28, "<Q", len(d) + 100), "section header table"),
    (lambda d: patch(d, 0x3E, "<H", 999), "section name table index 999 is out of range"),
])
def test_bad_elf_headers(legacy, objects, mutate, message):
    with pytest.raises(LoaderError, match=message) as info:
        load_object(mutate(legacy))
    assert info.value.file == "<bytes>"


def test_missing_file_is_a_loader_error(tmp_path):
    with pytest.raises(LoaderError, match="cannot read"):
        load_object(tmp_path / "absent.o")


def test_section_data_outside_the_file(legacy):
    bad = patch_section(legacy, "socket", "offset", len(legacy) + 8)
    with pytest.raises(LoaderError, match=r"section socket: section data .* lies outside the file"):
        load_object(bad)


def test_odd_sized_code_section(legacy):
    bad = patch_section(legacy, "socket", "size", 8 * 5 + 3)
    with pytest.raises(LoaderError, match=r"section socket: code section size 43 is not a multiple of 8"):
        load_object(bad)


def test_relocation_outside_the_section(legacy):
    rel = section_data_offset(legacy, ".relsocket")
    bad = patch(legacy, rel, "<Q", 8 * 1000)
    with pytest.raises(LoaderError, match=r"section socket: relocation at byte 8000 is outside"):
        load_object(bad)


def test_relocation_to_unknown_symbol(legacy):
    rel = section_data_offset(legacy, ".relsocket")
    bad = patch(legacy, rel + 12, "<I", 5000)
    with pytest.raises(LoaderError, match=r"relocation 0 refers to symbol 5000"):
        load_object(bad)


def test_relocation_on_a_plain_instruction(legacy):
    rel = section_data_offset(legacy, ".relsocket")
    bad = patch(legacy, rel, "<Q", 0)  # the first instruction is not an lddw
    with pytest.raises(LoaderError, match=r"section socket: relocation .* neither lddw nor call"):
        load_object(bad)


def test_call_to_missing_function(subprogs):
    """Make the symbol of a call relocation undefined: the program calls a function no one defines."""
    import io

    elf = ELFFile(io.BytesIO(subprogs))
    symtab = elf.get_section_by_name(".symtab")
    relsec = elf.get_section_by_name(".relxdp")
    call_rel = next(r for r in relsec.iter_relocations() if r["r_info_type"] == 10)
    sym_off = symtab["sh_offset"] + call_rel["r_info_sym"] * 24
    bad = patch(subprogs, sym_off + 6, "<H", 0)  # st_shndx = SHN_UNDEF
    with pytest.raises(LoaderError, match=r"section xdp: call to extern function '[^']+'.*instruction \d+ of function 'xdp_first'"):
        load_object(bad)


def test_bad_platform_argument(legacy):
    with pytest.raises(LoaderError, match="unknown platform 'beos'"):
        load_object(legacy, platform="beos")


# --- maps ------------------------------------------------------------------------------------


def test_legacy_map_section_of_unknown_layout(legacy):
    bad = patch_section(legacy, "maps", "size", 2 * 22)
    with pytest.raises(LoaderError, match=r"section maps: map definitions of 22 bytes are not a known layout"):
        load_object(bad)


# --- BTF ---------------------------------------------------------------------------------------


def btf_blob(types: list[bytes], strings: bytes = b"\0a\0") -> bytes:
    body = b"".join(types)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


def btf_type(kind: int, ref: int, name: int = 0, vlen: int = 0, extra: bytes = b"") -> bytes:
    return struct.pack("<III", name, kind << 24 | vlen, ref) + extra


def test_btf_type_loop_is_detected():
    btf = parse_btf(btf_blob([btf_type(8, 2, 1), btf_type(8, 1, 1)]))  # typedef a -> 2 -> 1
    with pytest.raises(BTFError, match="reference loop"):
        btf.resolve(1)
    with pytest.raises(BTFError, match="reference loop"):
        btf.size_of(1)


@pytest.mark.parametrize("blob,message", [
    (b"\x9f\xeb", "BTF header truncated"),
    (struct.pack("<HBBIIIII", 0x9FEB, 1, 0, 24, 0, 0, 0, 0), "big-endian BTF"),
    (struct.pack("<HBBIIIII", 0x1234, 1, 0, 24, 0, 0, 0, 0), "bad BTF magic 0x1234"),
    (struct.pack("<HBBIIIII", 0xEB9F, 2, 0, 24, 0, 0, 0, 0), "unsupported BTF version 2"),
    (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 400, 0, 0), r"type section \[0, 400\) exceeds"),
    (btf_blob([btf_type(25, 0)]), r"type \[1\] has unknown kind 25"),
    (btf_blob([btf_type(2, 7)]), r"type \[1\] \(PTR ''\) refers to type 7"),
    (btf_blob([btf_type(4, 4, vlen=3)]), r"type \[1\] \(STRUCT\) truncated"),
    (btf_blob([btf_type(8, 0, name=99)]), r"type \[1\]: string offset 99 is outside"),
    (btf_blob([], strings=b"x\0"), "does not start with an empty string"),
])
def test_bad_btf(blob, message):
    with pytest.raises(BTFError, match=message) as info:
        parse_btf(blob, "f.o")
    assert info.value.file == "f.o" and info.value.section == ".BTF"


def test_bad_btf_ext():
    btf = parse_btf(btf_blob([btf_type(8, 0, 1)], strings=b"\0xdp\0"))
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 4 + 8 + 8, 0, 0)
    bad_rec_size = hdr + struct.pack("<I", 4) + struct.pack("<II", 1, 1) + struct.pack("<II", 0, 1)
    with pytest.raises(BTFError, match="func_info record size 4 is invalid"):
        parse_btf_ext(bad_rec_size, btf, "f.o")
    bad_count = hdr + struct.pack("<I", 8) + struct.pack("<II", 1, 5) + struct.pack("<II", 0, 1)
    with pytest.raises(BTFError, match="func_info for section xdp: 5 records of 8 bytes do not fit"):
        parse_btf_ext(bad_count, btf, "f.o")
    not_func = hdr + struct.pack("<I", 8) + struct.pack("<II", 1, 1) + struct.pack("<II", 0, 1)
    with pytest.raises(BTFError, match="type 1 is not a named function") as info:
        parse_btf_ext(not_func, btf, "f.o")
    assert info.value.section == ".BTF.ext"
    with pytest.raises(BTFError, match="BTF.ext header truncated"):
        parse_btf_ext(b"\x9f\xeb\x01", btf, "f.o")


def test_corrupt_btf_in_an_object(subprogs):
    off = section_data_offset(subprogs, ".BTF")
    bad = patch(subprogs, off, "<H", 0xBEEF)
    with pytest.raises(BTFError, match=r"section \.BTF: bad BTF magic 0xbeef") as info:
        load_object(bad)
    assert "<bytes>" in str(info.value)


def test_em_none_objects_load_like_em_bpf(legacy):
    """Older tools wrote EM_NONE; such objects are accepted."""
    a = load_object(legacy)
    b = load_object(patch(legacy, 18, "<H", 0))
    assert {n: p.bytecode for n, p in a.programs.items()} == {n: p.bytecode for n, p in b.programs.items()}
