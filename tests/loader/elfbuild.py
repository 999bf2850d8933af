"""Build small eBPF ELF relocatable objects byte by byte, for layouts today's compilers no longer emit.

Why: some real objects were written by early LLVM (``EM_NONE`` machine, ``.rela<section>``
relocations of type 0), by loaders' own conventions (one ``maps/<name>`` section per map) or call
functions no object defines (``memset``). Patching a compiled object cannot change section sizes,
so the tests describe such objects here and get exact bytes back.

    obj = ElfBuilder(machine=EM_NONE)
    code = obj.section("tail-1", code_bytes, executable=True)
    maps = obj.section("maps", map_defs)
    obj.symbol("flows", maps, value=0, size=20, kind=STT_OBJECT)
    obj.relocs(code, [(offset, "flows", 0, 0)], rela=True)    # (offset, symbol, type, addend)
    data = obj.build()
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EM_NONE, EM_BPF = 0, 247
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_REL = 1, 2, 3, 4, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL = 0, 1
R_BPF_64_64, R_BPF_64_32 = 1, 10


@dataclass
class _Sec:
    name: str
    type: int
    flags: int
    data: bytes
    link: int = 0
    info: int = 0
    entsize: int = 0
    align: int = 8


@dataclass
class _Sym:
    name: str
    section: int  #: section index, 0 = undefined
    value: int
    size: int
    kind: int
    bind: int


@dataclass
class ElfBuilder:
    machine: int = EM_BPF
    sections: list[_Sec] = field(default_factory=list)
    symbols: list[_Sym] = field(default_factory=list)
    _relocs: list[tuple[int, list[tuple[int, str, int, int]], bool]] = field(default_factory=list)

    def section(self, name: str, data: bytes, *, executable: bool = False, writable: bool = False) -> int:
        """Add a PROGBITS section; returns its index (index 0 is the null section)."""
        flags = SHF_ALLOC | (SHF_EXECINSTR if executable else 0) | (SHF_WRITE if writable else 0)
        self.sections.append(_Sec(name, SHT_PROGBITS, flags, bytes(data)))
        return len(self.sections)

    def symbol(self, name: str, section: int = 0, *, value: int = 0, size: int = 0, kind: int = STT_NOTYPE,
               bind: int = STB_GLOBAL) -> None:
        self.symbols.append(_Sym(name, section, value, size, kind, bind))

    def relocs(self, target: int, entries: list[tuple[int, str, int, int]], *, rela: bool = False) -> None:
        """Relocations for section ``target``: (byte offset, symbol name, type, addend)."""
        self._relocs.append((target, entries, rela))

    def build(self) -> bytes:
        secs = list(self.sections)
        strtab = bytearray(b"\0")

        def name_of(s: str) -> int:
            if not s:
                return 0
            off = len(strtab)
            strtab.extend(s.encode() + b"\0")
            return off

        # symbol table: null, then locals, then globals (ELF's ordering rule)
        ordered = sorted(self.symbols, key=lambda s: s.bind != STB_LOCAL)
        index = {s.name: i + 1 for i, s in enumerate(ordered)}
        symtab = bytearray(24)
        for s in ordered:
            symtab += struct.pack("<IBBHQQ", name_of(s.name), (s.bind << 4) | s.kind, 0, s.section, s.value,
                                  s.size)
        nlocal = 1 + sum(s.bind == STB_LOCAL for s in ordered)
        symtab_index = len(secs) + 1 + len(self._relocs)  # after the relocation sections
        for target, entries, rela in self._relocs:
            body = bytearray()
            for off, sym, rtype, addend in entries:
                info = (index[sym] << 32) | rtype
                body += struct.pack("<QQq", off, info, addend) if rela else struct.pack("<QQ", off, info)
            prefix = ".rela" if rela else ".rel"
            secs.append(_Sec(prefix + secs[target - 1].name, SHT_RELA if rela else SHT_REL, 0, bytes(body),
                             link=symtab_index, info=target, entsize=24 if rela else 16))
        secs.append(_Sec(".symtab", SHT_SYMTAB, 0, bytes(symtab), link=symtab_index + 1, info=nlocal,
                         entsize=24))
        names = [name_of(s.name) for s in secs]
        strtab_name = name_of(".strtab")
        secs.append(_Sec(".strtab", SHT_STRTAB, 0, b"", align=1))
        names.append(strtab_name)
        secs[-1].data = bytes(strtab)

        out = bytearray(64)
        offsets = []
        for s in secs:
            while len(out) % 8:
                out.append(0)
            offsets.append(len(out))
            out += s.data
        while len(out) % 8:
            out.append(0)
        shoff = len(out)
        out += bytes(64)  # null section header
        for s, name, off in zip(secs, names, offsets, strict=True):
            out += struct.pack("<IIQQQQIIQQ", name, s.type, s.flags, 0, off, len(s.data), s.link, s.info,
                               s.align, s.entsize)
        shstrndx = len(secs)  # .strtab doubles as the section name table
        ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
        struct.pack_into("<16sHHIQQQIHHHHHH", out, 0, ident, 1, self.machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                         len(secs) + 1, shstrndx)
        return bytes(out)
