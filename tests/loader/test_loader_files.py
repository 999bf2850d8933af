"""loader.load_program: one program from a file of any format, and one rule telling formats apart."""

from __future__ import annotations

import pytest
from elfbuild import ElfBuilder

from ebpflite.errors import AssemblerError, DecodeError, LoaderError
from ebpflite.loader import load_object, load_program
from ebpflite.loader.files import file_format
from ebpflite.vm.asm import assemble_bytes, assemble_program
from ebpflite.vm.insn import decode

SOURCE = "r0 = 2\nif r1 > 3 goto +1\nr0 = 1\nexit\n"
CODE = assemble_bytes(SOURCE)
HEX = "".join(CODE[i:i + 8].hex(" ") + "\n" for i in range(0, len(CODE), 8))


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("prog.o", b"\x7fELF\x02\x01\x01" + bytes(9), "elf"),
    ("prog.s", SOURCE.encode(), "asm"),
    ("prog.asm", b"\xff\xfe not text", "asm"),          # the suffix decides; reading it then fails
    ("prog.txt", SOURCE.encode(), "asm"),               # other text that is not hex bytes
    ("prog.txt", HEX.encode(), "hex"),
    ("prog", b"# the suite's raw form\n0x95, 0x00 00 00 00 00 00 00  # exit\n", "hex"),
    ("prog.txt", b"b7 00 00", "hex"),
    ("prog.txt", b"b7 0", "asm"),                       # an odd number of hex digits is not bytes
    ("prog.bin", b"b7 00 00 00 00 00 00 00\n", "hex"),
    ("prog.bin", SOURCE.encode(), "raw"),               # .bin is never assembly
    ("prog.txt", CODE, "raw"),                          # not text
    ("prog.txt", b"", "raw"),
])
def test_file_format(name, data, kind):
    assert file_format(name, data) == kind


@pytest.mark.parametrize(("name", "data"), [("prog.s", SOURCE.encode()), ("prog.txt", SOURCE.encode()),
                                            ("prog.hex", HEX.encode()), ("prog.bin", CODE)])
def test_every_format_gives_the_same_program(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    program = load_program(path)
    assert program.insns == decode(CODE) and program.name == "prog"


def test_assembly_keeps_its_line_info(tmp_path):
    path = tmp_path / "lines.s"
    path.write_text(SOURCE)
    program = load_program(path)
    assert program.line_info == assemble_program(SOURCE, name="lines", file=str(path)).line_info
    assert program.line_info[1].line == 2 and program.line_info[1].file == str(path)


def test_objects_give_the_program_named_by_name_or_section(objects):
    obj = load_object(objects["subprogs"])
    assert load_program(objects["subprogs"]).name == next(iter(obj.programs))
    assert load_program(objects["subprogs"], section="xdp_second").insns == obj.programs["xdp_second"].insns
    assert load_program(objects["subprogs"], section="my_custom_section").name == "custom"


def test_jumps_out_of_the_program_decode_only_when_asked(tmp_path):
    path = tmp_path / "stray.bin"
    path.write_bytes(assemble_bytes("goto +5\nexit"))
    with pytest.raises(DecodeError, match="jump"):
        load_program(path)
    assert len(load_program(path, check_targets=False).insns) == 2


def test_an_object_without_that_section_names_what_it_has(objects):
    with pytest.raises(LoaderError, match=r"subprogs.o: no program or section 'nope' \(it has xdp_first, "
                                          r"xdp_second, custom, probe\)"):
        load_program(objects["subprogs"], section="nope")


def test_an_object_without_programs(tmp_path):
    obj = ElfBuilder()
    obj.section("license", b"GPL\0")
    path = tmp_path / "empty.o"
    path.write_bytes(obj.build())
    with pytest.raises(LoaderError, match=r"empty.o: the object holds no programs$"):
        load_program(path)


def test_a_section_of_a_file_that_is_not_an_object(tmp_path):
    path = tmp_path / "prog.s"
    path.write_text(SOURCE)
    with pytest.raises(LoaderError, match=r"prog.s: not an ELF object, so it has no section 'xdp'"):
        load_program(path, section="xdp")


def test_assembly_that_is_not_text(tmp_path):
    path = tmp_path / "binary.s"
    path.write_bytes(b"r0 = 1\n\xff\xfe\nexit\n")
    with pytest.raises(AssemblerError, match=r"binary.s is not a text file \(invalid start byte at byte 7\), "
                                             "so it cannot be assembly"):
        load_program(path)


def test_bad_assembly_and_bad_bytecode_keep_their_own_errors(tmp_path):
    (tmp_path / "bad.s").write_text("r0 = 1\nr11 = 2\nexit\n")
    with pytest.raises(AssemblerError, match="line 2"):
        load_program(tmp_path / "bad.s")
    (tmp_path / "short.bin").write_bytes(b"\x95\x00\x00")
    with pytest.raises(DecodeError, match="not a multiple of 8 bytes"):
        load_program(tmp_path / "short.bin")
