"""The disassembler: instructions to text in the llvm or the conformance syntax.

``format_insn`` prints one instruction, ``disassemble`` a whole program
(instructions, a :class:`~ebpflite.vm.program.Program` or raw bytes) as a
list of lines. Both use the templates of :mod:`ebpflite.vm.asm_syntax`, so
the assembler reads back everything printed here (except the ``verbose``
helper-call form, which is for people): ``assemble(disassemble(p)) == p``.

- llvm syntax prints jumps as relative offsets (``goto +3``), like
  llvm-objdump; conformance syntax prints labels (``L7:`` ... ``ja L7``), like
  the suite's files. ``labels=`` overrides either default.
- ``listing=True`` adds llvm-objdump's pc and instruction bytes columns.
- ``helper_name`` (a mapping or a function of the helper number) prints
  ``call bpf_map_lookup_elem`` instead of ``call 1``; :func:`helper_names`
  gives the platform's numbering (``vm/helper_ids.py``). ``verbose=True``
  prints the helper's prototype, as ebpf-for-windows' netsh does:
  ``r0 = bpf_map_update_elem:2(map_fd r1, map_key r2, map_value r3, uint64_t r4)``;
  the argument types come from the caller (``helper_args``, e.g.
  ``ebpflite.helpers.registry.helper_args(platform)``): the VM knows the
  numbering, not the prototypes.
- ``map_name`` (mapping or function of the lddw ``imm``) appends the map's
  name as a comment to map-referencing lddw instructions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from ebpflite.vm.asm_syntax import Template, templates_for
from ebpflite.vm.helper_ids import PLATFORMS, name_of
from ebpflite.vm.insn import Insn, decode, encode_one
from ebpflite.vm.isa import Kind, PseudoSrc
from ebpflite.vm.program import Program

Namer = Union[Mapping[int, str], Callable[[int], Union[str, None]], None]

#: helper argument types (kernel bpf_arg_type names) -> how the verbose form names them
ARG_LABELS = {
    "ANYTHING": "uint64_t", "CONST_MAP_PTR": "map_fd", "PTR_TO_MAP_KEY": "map_key",
    "PTR_TO_MAP_VALUE": "map_value", "PTR_TO_CTX": "ctx", "PTR_TO_MEM": "mem",
    "PTR_TO_UNINIT_MEM": "uninit_mem", "CONST_SIZE": "size", "CONST_SIZE_OR_ZERO": "size_or_zero",
    "PTR_TO_STACK": "stack", "PTR_TO_FUNC": "func", "CONST_ALLOC_SIZE_OR_ZERO": "size_or_zero",
}

#: lddw pseudo sources whose ``imm`` names a map
_MAP_PSEUDO = {PseudoSrc.MAP_FD, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE}

_PLACEHOLDER_RE = re.compile(r"\{([^}]*)\}")
_LABEL_NAME_RE = re.compile(r"[A-Za-z_.$][\w.$]*")
_REGISTER_NAME_RE = re.compile(r"[rw]\d+")


def _lookup(namer: Namer, key: int) -> str | None:
    if namer is None:
        return None
    if isinstance(namer, Mapping):
        return namer.get(key)
    return namer(key)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _with_sign(value: int, spaced: bool) -> str:
    sign = "-" if value < 0 else "+"
    return f"{sign} {abs(value)}" if spaced else f"{sign}{abs(value)}"


def _imm64_text(value: int) -> str:
    signed = _signed(value, 64)
    return str(signed) if -0xFFFF <= signed <= 0xFFFF else f"0x{value:x}"


def _choose(insn: Insn, syntax: str, use_label: bool) -> Template:
    for tpl in templates_for(insn.spec, syntax):
        if tpl.parse_only:
            continue
        if any(getattr(insn, name) != value for name, value in tpl.implied):
            continue
        if tpl.targets == ("offset" if use_label else "label"):
            continue
        return tpl
    raise AssertionError(f"no printable template for {insn}")  # pragma: no cover


#: helper number -> its argument types (kernel ``bpf_arg_type`` names), None if not known
HelperArgs = Union[Callable[[int], Union[Sequence[str], None]], None]


def format_insn(insn: Insn, syntax: str = "llvm", helper_name: Namer = None, map_name: Namer = None, *,
                labels: Mapping[int, str] | None = None, verbose: bool = False,
                platform: str = "linux", helper_args: HelperArgs = None) -> str:
    """One instruction as text. ``labels`` maps pcs to names for jump targets; with
    ``verbose`` and ``helper_args``, helper calls show their prototype."""
    target = insn.target
    label = labels.get(target) if labels and target is not None else None
    if insn.kind is Kind.CALL:
        if verbose and helper_args is not None:
            text = _verbose_call(insn.imm, platform, helper_args)
            if text is not None:
                return text
        name = _lookup(helper_name, insn.imm)
        if name and _LABEL_NAME_RE.fullmatch(name):
            return f"call {name}"
    tpl = _choose(insn, syntax, label is not None)

    def render(m: re.Match) -> str:
        fieldname, _, style = m.group(1).partition(":")
        if fieldname.startswith("="):
            return fieldname[1:]
        if fieldname in ("dst", "src"):
            number = getattr(insn, fieldname)
            return {"r": f"r{number}", "w": f"w{number}", "%": f"%r{number}"}[style]
        if fieldname == "imm64":
            return _imm64_text(insn.imm64)
        value = getattr(insn, fieldname)
        if fieldname == "imm_hi":
            return _with_sign(value & 0xFFFFFFFF, style == "sep")
        if style == "target":
            return label if label is not None else _with_sign(value, False)
        if style in ("sep", "tight"):
            return _with_sign(value, style == "sep")
        return str(value)

    text = _PLACEHOLDER_RE.sub(render, tpl.text)
    if insn.kind is Kind.LDDW and insn.spec.extra in _MAP_PSEUDO:
        name = _lookup(map_name, insn.imm)
        if name:
            text += f"  # {name}"
    return text


def _verbose_call(number: int, platform: str, helper_args: Callable[[int], Sequence[str] | None]) -> str | None:
    """``r0 = name:N(type r1, ...)``, or None if the helper has no name or prototype."""
    name = name_of(number, platform) if platform in PLATFORMS else None
    kinds = helper_args(number) if name is not None else None
    if kinds is None:
        return None
    args = [f"{ARG_LABELS.get(kind, kind.lower())} r{index}" for index, kind in enumerate(kinds[:5], start=1)]
    return f"r0 = {name}:{number}({', '.join(args)})"


# --- whole programs -------------------------------------------------------------------


def helper_names(platform: str = "linux") -> Callable[[int], str | None]:
    """A ``helper_name`` callback for ``platform``'s numbering (None where it has no helper)."""
    return lambda number: name_of(number, platform)


def _as_program(code: Sequence[Insn] | Program | bytes | bytearray | memoryview) -> Program:
    if isinstance(code, Program):
        return code
    if isinstance(code, (bytes, bytearray, memoryview)):
        return Program(decode(code, check_targets=False))
    return Program(list(code))


def _label_names(program: Program) -> dict[int, str]:
    """A label for every pc a jump or local call lands on, and for every function."""
    starts = {i.pc for i in program.insns}
    names: dict[int, str] = {}
    taken: set[str] = set()
    for pc, name in sorted(program.functions.items()):
        if pc in starts and _usable_label(name) and name not in taken:
            names[pc] = name
            taken.add(name)
    for insn in program.insns:
        target = insn.target
        if target is None or target not in starts or target in names:
            continue
        name = f"L{target}"
        while name in taken:
            name += "_"
        names[target] = name
        taken.add(name)
    return names


def _usable_label(name: str) -> bool:
    return bool(_LABEL_NAME_RE.fullmatch(name)) and not _REGISTER_NAME_RE.fullmatch(name)


def disassemble(code: Sequence[Insn] | Program | bytes, syntax: str = "llvm", *,
                labels: bool | Mapping[int, str] | None = None, listing: bool = False,
                helper_name: Namer = None, map_name: Namer = None, verbose: bool = False,
                platform: str | None = None, helper_args: HelperArgs = None) -> list[str]:
    """A program as lines of text: instructions, plus ``name:`` lines where labels go.

    ``labels``: None picks the syntax's habit (llvm: offsets, conformance:
    labels), True/False force it, a mapping pc -> name supplies the names.
    """
    program = _as_program(code)
    platform = platform or program.platform
    if labels is None:
        labels = syntax == "conformance"
    if labels is True:
        names = _label_names(program)
    elif labels is False:
        names = {}
    else:
        names = dict(labels)
    lines: list[str] = []
    for insn in program.insns:
        if insn.pc in names:
            lines.append(f"{names[insn.pc]}:")
        text = format_insn(insn, syntax, helper_name, map_name, labels=names, verbose=verbose,
                           platform=platform, helper_args=helper_args)
        if listing:
            raw = encode_one(insn).hex(" ")
            text = f"{insn.pc:>8}:\t{raw}\t{text}"
        lines.append(text)
    return lines


def to_json(code: Sequence[Insn] | Program | bytes, syntax: str = "llvm", **kwargs: Any) -> list[dict]:
    """One dict per instruction (pc, bytes, text, fields, source line), for ``--json`` output."""
    program = _as_program(code)
    out = []
    for insn in program.insns:
        entry: dict[str, Any] = {
            "pc": insn.pc, "bytes": encode_one(insn).hex(), "name": insn.spec.name,
            "text": format_insn(insn, syntax, labels=None, **kwargs),
            "opcode": insn.opcode, "dst": insn.dst, "src": insn.src, "off": insn.off, "imm": insn.imm,
        }
        if insn.kind is Kind.LDDW:
            entry["imm64"] = insn.imm64
        if insn.target is not None:
            entry["target"] = insn.target
        source = program.line_info.get(insn.pc)
        if source is not None:
            entry["source"] = {"file": source.file, "line": source.line, "text": source.text}
        out.append(entry)
    return out
