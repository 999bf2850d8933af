"""Text and JSON views of an object file, for ``ebpflite disasm/sections/maps``.

A view of the CLI, built from what the loader gives (which programs a
section holds, map names for lddw, line info), in the spirit of
``netsh ebpf show disassembly|sections`` and ``llvm-objdump -d -l``: each
instruction as ``pc: bytes  text``, helper calls by name with their
prototype (``r0 = bpf_map_update_elem:2(map_fd r1, ...)``), map lddw
annotated with the map's name, and with ``-l`` the source interleaved as
``; file:line`` then ``;   source text`` whenever the line changes.
"""

from __future__ import annotations

import json
from typing import Any

from ebpflite.errors import LoaderError
from ebpflite.loader import ObjectFile, load_object
from ebpflite.vm.insn import encode_one
from ebpflite.vm.isa import Kind, PseudoSrc
from ebpflite.vm.program import Program

_MAP_SRCS = {PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE}


def _select(obj: ObjectFile, section: str | None) -> list[str]:
    """Program names to list: all, or those of one section (or the program of that name)."""
    if section is None:
        return [n for names in obj.section_programs.values() for n in names]
    if section in obj.section_programs:
        return list(obj.section_programs[section])
    if section in obj.programs or section in obj.failed:
        return [section]
    known = ", ".join(obj.section_programs) or "none"
    raise LoaderError(f"no program section or program named '{section}' (code sections: {known})", obj.path)


def _map_namer(program: Program):
    def name(index: int) -> str | None:
        maps = program.maps
        return getattr(maps[index], "name", None) if 0 <= index < len(maps) else None
    return name


def _insn_text(program: Program, insn) -> str:
    from ebpflite.helpers import registry  # prototypes: only the disassembly needs them
    from ebpflite.vm.disasm import format_insn, helper_names

    text = format_insn(insn, "llvm", helper_names(program.platform), _map_namer(program), verbose=True,
                       platform=program.platform, helper_args=registry.helper_args(program.platform))
    if insn.kind is Kind.LDDW and insn.src in (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
        text = text.split("  #")[0] + f"  # &{_map_namer(program)(insn.imm)}+{insn.imm_hi & 0xFFFFFFFF}"
    return text


def program_listing(program: Program, show_source: bool = False) -> list[str]:
    lines = [f"Disassembly of section {program.section} ({program.prog_type}):", ""]
    last_line = None
    for insn in program.insns:
        if insn.pc in program.functions:
            if insn.pc:
                lines.append("")
            lines.append(f"{program.functions[insn.pc]}:")
        src = program.line_info.get(insn.pc)
        if show_source and src is not None and (src.file, src.line) != last_line:
            lines.append(f"; {src.file}:{src.line}")
            if src.text:
                lines.append(f";   {src.text.strip()}")
            last_line = (src.file, src.line)
        raw = encode_one(insn).hex(" ")
        lines.append(f"{insn.pc:>8}:\t{raw:<47}\t{_insn_text(program, insn)}")
    return lines


def program_json(program: Program) -> dict[str, Any]:
    insns = []
    for insn in program.insns:
        entry: dict[str, Any] = {"pc": insn.pc, "bytes": encode_one(insn).hex(),
                                 "text": _insn_text(program, insn)}
        src = program.line_info.get(insn.pc)
        if src is not None:
            entry["source"] = {"file": src.file, "line": src.line, "column": src.column, "text": src.text}
        if insn.pc in program.functions:
            entry["function"] = program.functions[insn.pc]
        insns.append(entry)
    return {"name": program.name, "section": program.section, "prog_type": program.prog_type,
            "platform": program.platform, "maps": [program.maps[i].name for i in program.meta.get("used_maps", [])],
            "insns": insns}


def object_listing(path: str, section: str | None = None, show_source: bool = False,
                   as_json: bool = False, btf=None) -> str:
    """The disassembly of every program (or those of ``section``) of the object at ``path``
    (CO-RE relocations applied against ``btf``, see ``load_object``)."""
    obj = load_object(path, partial=True, btf=btf)
    names = _select(obj, section)
    if as_json:
        doc = {"file": path, "programs": [program_json(obj.programs[n]) for n in names if n in obj.programs],
               "failed": {n: str(obj.failed[n]) for n in names if n in obj.failed}}
        return json.dumps(doc, indent=2) + "\n"
    out: list[str] = []
    for n in names:
        if n in obj.failed:
            out += [f"; program {n}: {obj.failed[n]}", ""]
            continue
        out += program_listing(obj.programs[n], show_source) + [""]
    return "\n".join(out)


# --- sections and maps tables -------------------------------------------------------------


def sections_rows(obj: ObjectFile) -> list[dict[str, Any]]:
    """One row per program of a non-empty code section (``netsh ebpf show sections``)."""
    rows = []
    for sec, names in obj.section_programs.items():
        for n in names:
            prog = obj.programs.get(n)
            if prog is None:
                rows.append({"section": sec, "program": n, "type": "-", "maps": 0, "size": 0,
                             "error": str(obj.failed[n])})
                continue
            rows.append({"section": sec, "program": n, "type": prog.prog_type,
                         "maps": len(prog.meta.get("used_maps", ())), "size": prog.nslots})
    return rows


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["=" * w for w in widths])] + [line(r) for r in rows]) + "\n"


def sections_text(obj: ObjectFile) -> str:
    rows = sections_rows(obj)
    text = _table(["Section", "Program", "Type", "# Maps", "Size (insns)"],
                  [[r["section"], r["program"], r["type"], str(r["maps"]), str(r["size"])] for r in rows])
    for r in rows:
        if "error" in r:
            text += f"\n{r['program']}: {r['error']}"
    return text


def maps_text(obj: ObjectFile) -> str:
    rows = [[m.name, m.type, str(m.key_size), str(m.value_size), str(m.max_entries), f"0x{m.flags:x}",
             str(m.pinning), m.inner.name if m.inner else "-", _initial_text(m.initial)] for m in obj.maps]
    return _table(["Name", "Type", "Key", "Value", "Max entries", "Flags", "Pin", "Inner", "Initial"], rows)


def _initial_text(initial) -> str:
    if initial is None:
        return "-"
    if isinstance(initial, dict):
        return ", ".join(f"[{k}]={v}" for k, v in sorted(initial.items()))
    shown = initial[:16].hex(" ")
    return shown + (" ..." if len(initial) > 16 else "")
