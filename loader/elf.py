"""Reading an eBPF ELF relocatable file into plain data.

Why a separate step: pyelftools is a general ELF reader that raises its own
exceptions (or ``struct.error``, ``IndexError``...) on damaged files. This
module is the only place that calls it; everything it finds is copied into
small dataclasses (:class:`RawObject`, :class:`Section`, :class:`Symbol`,
:class:`Reloc`) after checking bounds, and any failure becomes a
:class:`~ebpflite.errors.LoaderError` naming the file and section. The rest
of the loader never touches pyelftools.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ebpflite.vm.errors import LoaderError

EM_NONE, EM_BPF = 0, 247
ET_REL = 1
SHT_PROGBITS, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 4, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2
#: relocation types (LLVM's BPF.def): R_BPF_64_64 on lddw, R_BPF_64_32 on calls
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32, R_BPF_64_32 = 0, 1, 2, 3, 4, 10
MAX_NOBITS = 1 << 28  #: refuse absurd .bss sizes from damaged headers instead of allocating them


@dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    data: bytes
    size: int
    link: int
    info: int
    entsize: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR) and self.type == SHT_PROGBITS


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int  #: section index, or SHN_UNDEF/SHN_ABS/SHN_COMMON


@dataclass(frozen=True)
class Reloc:
    offset: int
    type: int
    symbol: int  #: index into RawObject.symbols
    addend: int = 0
    #: from an SHT_RELA section: ``addend`` is explicit (SHT_REL keeps it in the instruction's imm)
    rela: bool = False


@dataclass
class RawObject:
    file: str
    machine: int
    sections: list[Section] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)
    #: target section index -> relocations against it
    relocs: dict[int, list[Reloc]] = field(default_factory=dict)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


@contextmanager
def _guard(file: str, section: str | None = None) -> Iterator[None]:
    """Turn anything pyelftools raises into a LoaderError."""
    try:
        yield
    except LoaderError:
        raise
    except Exception as exc:  # pyelftools raises many types on damaged input
        detail = str(exc) or type(exc).__name__
        raise LoaderError(f"malformed ELF ({detail})", file, section) from None


def _check_ident(data: bytes, file: str) -> None:
    if len(data) < 64:
        if data[:4] != b"\x7fELF":
            raise LoaderError("not an ELF file (no \\x7fELF magic)", file)
        raise LoaderError(f"truncated ELF header ({len(data)} bytes, need 64)", file)
    if data[:4] != b"\x7fELF":
        raise LoaderError("not an ELF file (no \\x7fELF magic)", file)
    if data[4] != 2:
        raise LoaderError(f"ELF class {data[4]} is not supported: eBPF objects are 64-bit (ELFCLASS64)", file)
    if data[5] == 2:
        raise LoaderError("big-endian eBPF objects are not supported", file)
    if data[5] != 1:
        raise LoaderError(f"unknown ELF data encoding {data[5]}", file)


def read_elf(data: bytes, file: str) -> RawObject:
    """Parse the ELF container: sections, symbols and relocations, all bounds-checked."""
    _check_ident(data, file)
    from elftools.elf.elffile import ELFFile  # imported here: only this module uses pyelftools

    with _guard(file):
        elf = ELFFile(io.BytesIO(data))
        machine_name = elf.header["e_machine"]
        machine = {"EM_BPF": EM_BPF, "EM_NONE": EM_NONE}.get(machine_name, machine_name)
        if machine not in (EM_BPF, EM_NONE):
            raise LoaderError(f"machine {machine_name} is not eBPF (EM_BPF)", file)
        if elf.header["e_type"] not in ("ET_REL", ET_REL):
            raise LoaderError(f"ELF type {elf.header['e_type']} is not a relocatable object (ET_REL)", file)
        nsec = elf.num_sections()
        if nsec > 65535 or elf.header["e_shoff"] + nsec * 64 > len(data):
            raise LoaderError(f"section header table ({nsec} entries at offset {elf.header['e_shoff']}) "
                              f"lies outside the file ({len(data)} bytes)", file)
    raw = RawObject(file=file, machine=machine)
    headers = []
    with _guard(file, "(section headers)"):
        shstrndx = elf.header["e_shstrndx"]
        if nsec and not 0 <= shstrndx < nsec:
            raise LoaderError(f"section name table index {shstrndx} is out of range (0..{nsec - 1})", file)
        for i in range(nsec):
            headers.append(elf.get_section(i).header)
        names = headers[shstrndx] if nsec else None
    for i, hdr in enumerate(headers):
        name = _section_name(data, names, hdr["sh_name"], file, i) if names is not None else ""
        raw.sections.append(_read_section(data, i, name, hdr, file))
    for sec in raw.sections:
        if sec.type == SHT_SYMTAB:
            if raw.symbols:
                raise LoaderError("more than one symbol table", file, sec.name)
            raw.symbols = _read_symbols(raw, sec, file)
    for sec in raw.sections:
        if sec.type in (SHT_REL, SHT_RELA):
            raw.relocs.setdefault(sec.info, []).extend(_read_relocs(raw, sec, file))
    return raw


def _section_name(data: bytes, names_hdr, offset: int, file: str, index: int) -> str:
    start = names_hdr["sh_offset"] + offset
    end_limit = names_hdr["sh_offset"] + names_hdr["sh_size"]
    if offset >= names_hdr["sh_size"] or end_limit > len(data):
        raise LoaderError(f"name of section {index} (offset {offset}) is outside the section name table",
                          file, f"#{index}")
    end = data.find(b"\0", start, end_limit)
    if end < 0:
        raise LoaderError(f"name of section {index} is not NUL-terminated", file, f"#{index}")
    return data[start:end].decode("utf-8", errors="replace")


def _read_section(data: bytes, index: int, name: str, hdr, file: str) -> Section:
    stype = hdr["sh_type"]
    type_no = stype if isinstance(stype, int) else _SHT_NAMES.get(stype, -1)
    size, offset = hdr["sh_size"], hdr["sh_offset"]
    if type_no == SHT_NOBITS:
        if size > MAX_NOBITS:
            raise LoaderError(f"NOBITS section of {size} bytes is too large", file, name or f"#{index}")
        content = bytes(size)
    elif index == 0 or type_no == 0:
        content = b""
    else:
        if offset + size > len(data):
            raise LoaderError(f"section data [{offset}, {offset + size}) lies outside the file "
                              f"({len(data)} bytes)", file, name or f"#{index}")
        content = data[offset:offset + size]
    return Section(index, name, type_no, hdr["sh_flags"], content, size, hdr["sh_link"], hdr["sh_info"],
                   hdr["sh_entsize"])


_SHT_NAMES = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
              "SHT_HASH": 5, "SHT_DYNAMIC": 6, "SHT_NOTE": 7, "SHT_NOBITS": 8, "SHT_REL": 9,
              "SHT_SHLIB": 10, "SHT_DYNSYM": 11, "SHT_INIT_ARRAY": 14, "SHT_FINI_ARRAY": 15,
              "SHT_PREINIT_ARRAY": 16, "SHT_GROUP": 17, "SHT_SYMTAB_SHNDX": 18}


def _strtab(raw: RawObject, index: int, file: str, owner: str) -> bytes:
    if not 0 < index < len(raw.sections):
        raise LoaderError(f"linked string table index {index} is out of range", file, owner)
    return raw.sections[index].data


def _cstr(table: bytes, offset: int, file: str, owner: str, what: str) -> str:
    if offset >= len(table) and offset:
        raise LoaderError(f"{what}: name offset {offset} is outside its string table ({len(table)} bytes)",
                          file, owner)
    end = table.find(b"\0", offset)
    if end < 0:
        end = len(table)
    return table[offset:end].decode("utf-8", errors="replace")


def _read_symbols(raw: RawObject, sec: Section, file: str) -> list[Symbol]:
    import struct

    if sec.entsize not in (0, 24) or len(sec.data) % 24:
        raise LoaderError(f"symbol table size {len(sec.data)} / entry size {sec.entsize} is not a "
                          "whole number of 24-byte symbols", file, sec.name)
    names = _strtab(raw, sec.link, file, sec.name)
    out = []
    for i in range(len(sec.data) // 24):
        name_off, info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", sec.data, i * 24)
        stype, bind = info & 0xF, info >> 4
        name = _cstr(names, name_off, file, sec.name, f"symbol {i}")
        if stype == STT_SECTION and not name and 0 < shndx < len(raw.sections):
            name = raw.sections[shndx].name
        if 0 < shndx < SHN_LORESERVE and shndx >= len(raw.sections):
            raise LoaderError(f"symbol '{name}' refers to section {shndx}, but there are only "
                              f"{len(raw.sections)} sections", file, sec.name)
        out.append(Symbol(i, name, value, size, stype, bind, shndx))
    return out


def _read_relocs(raw: RawObject, sec: Section, file: str) -> list[Reloc]:
    import struct

    rela = sec.type == SHT_RELA
    entsize = 24 if rela else 16
    if len(sec.data) % entsize:
        raise LoaderError(f"relocation section size {len(sec.data)} is not a multiple of {entsize}",
                          file, sec.name)
    if not 0 < sec.info < len(raw.sections):
        raise LoaderError(f"relocations apply to section {sec.info}, which does not exist", file, sec.name)
    out = []
    for i in range(len(sec.data) // entsize):
        if rela:
            offset, info, addend = struct.unpack_from("<QQq", sec.data, i * entsize)
        else:
            (offset, info), addend = struct.unpack_from("<QQ", sec.data, i * entsize), 0
        sym, rtype = info >> 32, info & 0xFFFFFFFF
        if sym >= len(raw.symbols):
            raise LoaderError(f"relocation {i} refers to symbol {sym}, but the symbol table has "
                              f"{len(raw.symbols)} entries", file, sec.name)
        out.append(Reloc(offset, rtype, sym, addend, rela))
    return out
