"""``load_object``: from ELF bytes to :class:`ObjectFile` with runnable :class:`Program` s.

Why: this is the one entry point the rest of ebpflite uses for ``.o``
files. It reads the ELF container (``loader.elf``), BTF and BTF.ext
(``loader.btf``, ``loader.btf_ext``), map definitions (``loader.maps``),
then links every program (``loader.relocs``) and attaches line info,
function names and the program type (``loader.progtypes``).

Which functions are programs: every function of an executable section other
than ``.text`` is a program (several per section are allowed); functions in
``.text`` are subprograms, unless the object has no other code section, in
which case they are programs too (objects built without ``SEC()``).

``Program.maps`` is the object's whole map list (``ObjectFile.maps``), so
lddw ``imm`` indexes it and programs of one object share map specs by
identity; ``Program.meta["used_maps"]`` lists the indexes a program uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebpflite.loader import core
from ebpflite.loader import elf as elfmod
from ebpflite.loader.btf import Btf, parse_btf
from ebpflite.loader.btf_ext import BtfExt, CoreRelo, parse_btf_ext
from ebpflite.loader.builtins import BUILTINS, builtin_code
from ebpflite.loader.maps import (
    MapSpec,
    MapSymbol,
    apply_map_initialisers,
    data_section_map,
    is_data_section,
    is_legacy_map_section,
    link_legacy_inner,
    parse_btf_maps,
    parse_legacy_maps,
)
from ebpflite.loader.progtypes import PROG_TYPES, looks_like_windows, prog_type_for_section
from ebpflite.loader.relocs import OP_CALL, Function, find_functions, link_program, resolve_fixups
from ebpflite.vm.errors import BTFError, DecodeError, LoaderError
from ebpflite.vm.insn import decode
from ebpflite.vm.isa import Kind, PseudoSrc
from ebpflite.vm.program import Program, SourceLine

BTF_MAP_SECTION = ".maps"


@dataclass
class ObjectFile:
    """A loaded object: programs by name, map specs, BTF, and the raw sections by name."""

    path: str
    platform: str
    programs: dict[str, Program] = field(default_factory=dict)
    maps: list[MapSpec] = field(default_factory=list)
    btf: Btf | None = None
    btf_ext: BtfExt | None = None
    sections: dict[str, bytes] = field(default_factory=dict)
    #: programs that could not be loaded (only filled with ``partial=True``)
    failed: dict[str, LoaderError] = field(default_factory=dict)
    #: code section name -> names of its programs, in order
    section_programs: dict[str, list[str]] = field(default_factory=dict)

    def map(self, name: str) -> MapSpec:
        for m in self.maps:
            if m.name == name:
                return m
        raise KeyError(name)


def load_object(path_or_bytes: str | os.PathLike | bytes | bytearray, platform: str | None = None,
                prog_type: str | None = None, *, partial: bool = False,
                btf: str | os.PathLike | bytes | Btf | None = None) -> ObjectFile:
    """Load an eBPF ELF object.

    ``platform`` is ``"linux"`` or ``"windows"`` (guessed from section names and
    map layouts when None); ``prog_type`` overrides the type every program gets
    from its section. ``btf`` is the target BTF that CO-RE relocations are applied
    against (a file: raw BTF such as ``/sys/kernel/btf/vmlinux`` or an ELF with a
    ``.BTF`` section; bytes; a parsed :class:`Btf`); None means the running kernel's
    ``/sys/kernel/btf/vmlinux`` when it exists. A program that cannot be loaded (an
    extern, a missing function, a CO-RE relocation without a target...) raises
    :class:`LoaderError`, unless ``partial`` is set, in which case it is left out of
    ``programs`` and its error kept in ``failed``.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_bytes), "<bytes>"
    else:
        name = str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise LoaderError(f"cannot read: {exc.strerror or exc}", name) from None
    if platform not in (None, "linux", "windows"):
        raise LoaderError(f"unknown platform {platform!r} (expected 'linux' or 'windows')", name)
    if prog_type is not None and prog_type not in PROG_TYPES:
        raise LoaderError(f"unknown program type {prog_type!r}", name)
    try:
        return _Loader(data, name, platform, prog_type, partial, btf).load()
    except RecursionError:
        raise LoaderError("functions call each other too deeply to link", name) from None


class _Loader:
    def __init__(self, data: bytes, file: str, platform: str | None, prog_type: str | None, partial: bool,
                 btf=None):
        self.file = file
        self.raw = elfmod.read_elf(data, file)
        self.platform = platform
        self.prog_type = prog_type
        self.partial = partial
        self.btf_arg = btf
        self._resolver: core.Resolver | None = None

    def load(self) -> ObjectFile:
        raw = self.raw
        code_secs = [s for s in raw.sections if s.executable and s.data]
        if self.platform is None:
            self.platform = self._guess_platform(code_secs)
        obj = ObjectFile(self.file, self.platform)
        obj.sections = {s.name: s.data for s in raw.sections if s.name}
        obj.btf, obj.btf_ext = self.btf, self.ext = self._read_btf()
        self.lines = self._index_line_info(self.ext)
        map_at, data_maps = self._read_maps(obj)
        for sec in code_secs:
            if len(sec.data) % 8:
                raise LoaderError(f"code section size {len(sec.data)} is not a multiple of 8 bytes",
                                  self.file, sec.name)
        functions = {s.index: find_functions(raw, s) for s in code_secs}
        externs = self._link_builtins(code_secs, functions)
        fixups = {s.index: resolve_fixups(raw, s, map_at, data_maps, externs) for s in code_secs}
        has_programs_outside_text = any(s.name != ".text" for s in code_secs)
        for sec in code_secs:
            if sec.name == ".text" and has_programs_outside_text:
                continue
            for func in functions[sec.index]:
                try:
                    prog = self._build_program(obj, sec, func, functions, fixups)
                except LoaderError as exc:
                    if not self.partial:
                        raise
                    obj.failed[func.name] = exc
                    obj.section_programs.setdefault(sec.name, []).append(func.name)
                    continue
                if func.name in obj.programs:
                    raise LoaderError(f"two programs are named '{func.name}'", self.file, sec.name)
                obj.programs[func.name] = prog
                obj.section_programs.setdefault(sec.name, []).append(func.name)
        return obj

    # --- pieces --------------------------------------------------------------------

    def _link_builtins(self, code_secs, functions: dict[int, list[Function]]) -> dict[str, int]:
        """Add a code section for every builtin (memset...) the object calls without defining it.

        The sections are appended to the raw object (not to ``ObjectFile.sections``, which shows
        the file as it is) so that linking places them like any subprogram; see loader/builtins.py."""
        called: set[str] = set()
        for sec in code_secs:
            for rel in self.raw.relocs.get(sec.index, ()):
                sym = self.raw.symbols[rel.symbol]
                if sym.shndx == elfmod.SHN_UNDEF and sym.name in BUILTINS and rel.offset + 1 <= len(sec.data) \
                        and sec.data[rel.offset] == OP_CALL:
                    called.add(sym.name)
        externs: dict[str, int] = {}
        for name in sorted(called):
            code = builtin_code(name)
            index = len(self.raw.sections)
            self.raw.sections.append(elfmod.Section(index, f"<builtin {name}>", elfmod.SHT_PROGBITS,
                                                    elfmod.SHF_ALLOC | elfmod.SHF_EXECINSTR, code, len(code),
                                                    0, 0, 0))
            functions[index] = [Function(name, index, 0, len(code) // 8, True)]
            externs[name] = index
        return externs

    def _guess_platform(self, code_secs) -> str:
        if any(looks_like_windows(s.name) for s in code_secs):
            return "windows"
        for maps in self.raw.sections:
            if is_legacy_map_section(maps.name) and maps.data:
                nsyms = len(self._map_symbols(maps))
                if nsyms and len(maps.data) == 32 * nsyms:
                    return "windows"
        return "linux"

    def _read_btf(self) -> tuple[Btf | None, BtfExt | None]:
        sec = self.raw.section(".BTF")
        if sec is None:
            return None, None
        btf = parse_btf(sec.data, self.file)
        ext_sec = self.raw.section(".BTF.ext")
        ext = parse_btf_ext(ext_sec.data, btf, self.file) if ext_sec is not None else None
        return btf, ext

    def _map_symbols(self, sec) -> list[MapSymbol]:
        return [MapSymbol(s.name, s.value, s.size) for s in self.raw.symbols
                if s.shndx == sec.index and s.type != elfmod.STT_SECTION and s.name
                and s.type in (elfmod.STT_OBJECT, elfmod.STT_NOTYPE)]

    def _read_maps(self, obj: ObjectFile) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
        map_at: dict[tuple[int, int], int] = {}
        data_maps: dict[int, int] = {}
        legacy: list[MapSpec] = []
        for sec in self.raw.sections:
            if is_legacy_map_section(sec.name) and sec.data:
                specs = parse_legacy_maps(sec.data, self._map_symbols(sec), self.platform, self.file, sec.name)
                legacy.extend(specs)
            elif sec.name == BTF_MAP_SECTION:
                specs = parse_btf_maps(sec.size, self._map_symbols(sec), obj.btf, self.platform, self.file,
                                       sec.name)
                relocs = [(r.offset, self.raw.symbols[r.symbol].name)
                          for r in self.raw.relocs.get(sec.index, ())]
                apply_map_initialisers(specs, relocs, self.file, sec.name)
            else:
                continue
            for spec in specs:
                map_at[(sec.index, spec.offset)] = len(obj.maps)
                obj.maps.append(spec)
        link_legacy_inner(legacy)
        for sec in self.raw.sections:
            if is_data_section(sec.name) and sec.type in (elfmod.SHT_PROGBITS, elfmod.SHT_NOBITS) \
                    and not sec.executable and sec.size:
                data_maps[sec.index] = len(obj.maps)
                obj.maps.append(data_section_map(sec.name, sec.data, self.platform, obj.btf))
        return map_at, data_maps

    def _build_program(self, obj: ObjectFile, sec, func: Function, functions, fixups) -> Program:
        linked = link_program(self.raw, func, functions, fixups)
        code, core_meta = self._relocate_core(linked, func, sec.name)
        try:
            insns = decode(code)
        except DecodeError as exc:
            where = exc.pc if exc.pc is not None else 0
            src_sec, src_slot = linked.origin[where] if where < len(linked.origin) else (sec.index, 0)
            raise LoaderError(f"program '{func.name}': {exc} (instruction {src_slot} of "
                              f"{self.raw.sections[src_sec].name})", self.file, sec.name) from None
        used = sorted({i.imm for i in insns if i.kind is Kind.LDDW and i.src in (
            PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE)})
        ptype = self.prog_type or prog_type_for_section(sec.name, self.platform)
        meta: dict[str, Any] = {"used_maps": used, "object": self.file,
                                "linked_functions": [f.name for f in linked.placed]}
        if ptype == "unspec":  # verifying or running it needs a type (progtypes.require_type)
            meta["untyped_section"] = True
        if obj.btf is not None:
            meta["btf"] = obj.btf
        if core_meta:
            meta["core"] = core_meta
        return Program(insns, name=func.name, section=sec.name, prog_type=ptype, platform=self.platform,
                       maps=obj.maps, line_info=self._line_info(linked), functions=linked.functions,
                       meta=meta)

    def _line_info(self, linked) -> dict[int, SourceLine]:
        out: dict[int, SourceLine] = {}
        for pc, key in enumerate(linked.origin):
            line = self.lines.get(key)
            if line is not None:
                out[pc] = line
        return out

    def _index_line_info(self, btf_ext: BtfExt | None) -> dict[tuple[int, int], SourceLine]:
        """(section index, slot) -> SourceLine, from .BTF.ext line info."""
        index: dict[tuple[int, int], SourceLine] = {}
        if btf_ext is None:
            return index
        sec_by_name = {s.name: s.index for s in self.raw.sections}
        for sec_name, lines in btf_ext.line_info.items():
            if sec_name not in sec_by_name:
                raise BTFError(f"line info refers to section '{sec_name}', which does not exist",
                               self.file, ".BTF.ext")
            si = sec_by_name[sec_name]
            for li in lines:
                index[(si, li.insn_off)] = SourceLine(li.file, li.line, li.column, li.text)
        return index

    def _core_relos(self, linked) -> list[tuple[int, CoreRelo, str]]:
        """The CO-RE relocations of a linked program: (pc, relocation, where it is in the object)."""
        if self.ext is None or not self.ext.core_relos:
            return []
        pc_of = {origin: pc for pc, origin in enumerate(linked.origin)}
        by_name = {s.name: s.index for s in self.raw.sections}
        names = dict(sorted(linked.functions.items()))
        out = []
        for sec_name, relos in self.ext.core_relos.items():
            si = by_name.get(sec_name)
            for r in relos:
                pc = pc_of.get((si, r.insn_off))
                if pc is not None:
                    func = next((n for start, n in reversed(names.items()) if start <= pc), "?")
                    out.append((pc, r, f"pc {pc} (instruction {r.insn_off} of {sec_name}, function '{func}')"))
        return sorted(out, key=lambda t: t[0])

    def _relocate_core(self, linked, func: Function, section: str) -> tuple[bytes, dict[str, Any]]:
        """Apply the program's CO-RE relocations against the target BTF (see loader/core.py)."""
        relos = self._core_relos(linked)
        if not relos:
            return linked.code, {}
        first = core.describe(relos[0][1], None, relos[0][2])
        target = core.target_btf(self.btf_arg)
        if target is None:
            raise LoaderError(f"program '{func.name}' needs {len(relos)} CO-RE relocation(s) (the first: {first}), "
                              f"and there is no target BTF: {core.VMLINUX_BTF} does not exist here; give one "
                              "with --btf FILE (CLI) or btf= (API)", self.file, section)
        if self._resolver is None or self._resolver.target is not target:
            self._resolver = core.Resolver(self.btf, target)
            self._resolver.resolve_all(self.ext.core_relos)  # once per object, in libbpf's order
        name = target.file or "the target BTF"
        try:
            code, poisoned = core.apply(linked.code, relos, self._resolver, name)
        except core.CoreError as exc:
            raise LoaderError(f"program '{func.name}': {exc}", self.file, section) from None
        return code, {"target": name, "relocations": len(relos), "poisoned": poisoned}
