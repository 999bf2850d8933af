"""The assembler: text in either syntax (even mixed line by line) to instructions.

``assemble(text)`` returns a list of :class:`~ebpflite.vm.insn.Insn`,
``assemble_bytes(text)`` their encoding and ``assemble_program(text)`` a
:class:`~ebpflite.vm.program.Program` whose ``line_info`` points back at the
source lines. The syntaxes are described in :mod:`ebpflite.vm.asm_syntax`.

Besides instructions a line may hold labels (``name:``, several allowed,
optionally followed by an instruction) and a comment (``#``, ``;`` or
``//`` to the end of the line). Lines pasted from ``llvm-objdump -d`` work
too: the leading ``pc:`` and instruction bytes, the trailing ``<label>``
annotations and the ``0000000000000000 <name>:`` function headers are
understood.

Jump targets are a signed offset (``+3``, ``-2``) or a label. As in the
conformance suite, the target ``exit`` means the first ``exit`` instruction
unless a label of that name exists. ``call NAME`` calls a helper by name,
looked up in the ``helpers`` mapping given, or else in the platform's helper
numbering (``vm/helper_ids.py``).

Numbers are decimal or hex. Decimal numbers must fit the field's signed
range (32 bits for ``imm``, 16 for ``off``); a hex number may also spell the
field's bit pattern (``0xffffffff`` is -1 in ``imm``). lddw takes any
64-bit value. Every error is an :class:`~ebpflite.errors.AssemblerError`
naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ebpflite.vm.asm_syntax import (
    KEYWORDS,
    TEMPLATES_BY_MNEMONIC,
    TEMPLATES_BY_SIGNATURE,
    Slot,
    Template,
    Token,
    tokenize,
)
from ebpflite.vm.errors import AssemblerError
from ebpflite.vm.helper_ids import PLATFORMS, number_of
from ebpflite.vm.insn import Insn, encode
from ebpflite.vm.isa import Kind
from ebpflite.vm.program import Program, SourceLine

_COMMENT_RE = re.compile(r"#|;|//")
#: "   12:\t b7 01 00 00 ...\t" prefix of llvm-objdump lines
_OBJDUMP_PREFIX_RE = re.compile(r"^\s*\d+:\s+(?:[0-9a-fA-F]{2}\s){7,15}[0-9a-fA-F]{2}(?:\s+|$)")
#: "0000000000000000 <name>:" function header of llvm-objdump
_OBJDUMP_FUNC_RE = re.compile(r"^\s*[0-9a-fA-F]+\s+<([^<>\s]+)>:\s*$")
#: trailing "<LBB0_2>" / "<.text+0x28>" annotation of llvm-objdump jumps
_OBJDUMP_ANNOT_RE = re.compile(r"\s+<[^<>\s]+>\s*$")
_LABEL_RE = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:(?!=)")

#: width in bits of each numeric field (decimal: signed range; hex: may reach the unsigned maximum)
_FIELD_BITS = {"imm": 32, "off": 16, "imm_hi": 32, "imm64": 64}


@dataclass
class _Pending:
    """An instruction parsed in pass 1, waiting for its labels to be resolved."""

    template: Template
    values: dict[str, int]
    pc: int
    line_no: int
    line: str
    label: str | None = None  #: unresolved jump / call target
    label_field: str = ""


@dataclass
class _State:
    pending: list[_Pending] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    label_lines: dict[str, int] = field(default_factory=dict)
    pc: int = 0


def assemble(text: str, *, helpers: Mapping[str, int] | None = None, platform: str = "linux") -> list[Insn]:
    """Assemble ``text`` into instructions (``pc`` set, lddw one Insn of two slots)."""
    return _assemble(text, helpers, platform)[0]


def assemble_bytes(text: str, **kwargs) -> bytes:
    """Assemble ``text`` into raw little-endian bytecode."""
    return encode(assemble(text, **kwargs))


def assemble_program(text: str, *, name: str = "prog", file: str = "<asm>",
                     helpers: Mapping[str, int] | None = None, platform: str = "linux") -> Program:
    """Assemble into a :class:`Program` whose ``line_info`` maps each pc to its source line,
    and whose ``functions`` name pc 0 and every label a ``call local`` goes to."""
    insns, pending, labels = _assemble(text, helpers, platform)
    line_info = {p.pc: SourceLine(file, p.line_no, 0, p.line.strip()) for p in pending}
    functions = {0: name}
    by_pc = {pc: label for label, pc in labels.items()}
    for insn in insns:
        if insn.kind is Kind.CALL_LOCAL and insn.target in by_pc:
            functions.setdefault(insn.target, by_pc[insn.target])
    return Program(insns, name=name, platform=platform, line_info=line_info, functions=functions)


# --- pass 1: lines --------------------------------------------------------------------


def _assemble(text: str, helpers: Mapping[str, int] | None,
              platform: str) -> tuple[list[Insn], list[_Pending], dict[str, int]]:
    if not isinstance(text, str):
        raise AssemblerError(f"assembly must be text, not {type(text).__name__}")
    state = _State()
    for line_no, line in enumerate(text.splitlines(), start=1):
        _parse_line(state, line, line_no, helpers, platform)
    if not state.pending:
        raise AssemblerError("the program has no instructions")
    insns = [_resolve(state, p) for p in state.pending]
    return insns, state.pending, state.labels


def _strip(line: str) -> str:
    """Remove the comment and llvm-objdump decorations, leaving labels and instruction."""
    m = _OBJDUMP_PREFIX_RE.match(line)
    if m:
        line = line[m.end():]
    cut = _COMMENT_RE.search(line)
    if cut:
        line = line[:cut.start()]
    return _OBJDUMP_ANNOT_RE.sub("", line).strip()


def _parse_line(state: _State, line: str, line_no: int, helpers: Mapping[str, int] | None,
                platform: str) -> None:
    func = _OBJDUMP_FUNC_RE.match(line)
    body = _strip(line) if func is None else ""
    if func:
        _define_label(state, func.group(1), line_no, line)
    while True:
        m = _LABEL_RE.match(body)
        if not m:
            break
        _define_label(state, m.group(1), line_no, line)
        body = body[m.end():].strip()
    if not body:
        return
    if body.startswith(".") or body.startswith("--"):
        raise AssemblerError(f"unknown directive {body.split()[0]!r}", line_no, line)
    tokens = tokenize(body, line_no, line)
    template, label = _match(tokens, line_no, line)
    values, label_field = _read_operands(template, tokens, label, line_no, line, helpers, platform)
    if label is not None and not label_field:  # a helper name, already resolved
        label = None
    state.pending.append(_Pending(template, values, state.pc, line_no, line, label, label_field))
    state.pc += template.spec.slots


def _define_label(state: _State, name: str, line_no: int, line: str) -> None:
    if name in state.labels:
        raise AssemblerError(f"duplicate label {name!r} (first defined on line {state.label_lines[name]})",
                             line_no, line)
    state.labels[name] = state.pc
    state.label_lines[name] = line_no


def _match(tokens: list[Token], line_no: int, line: str) -> tuple[Template, str | None]:
    """Find the template of a tokenized line; a trailing identifier may be a label."""
    signature = tuple(t.key for t in tokens)
    template = TEMPLATES_BY_SIGNATURE.get(signature)
    if template is not None:
        return template, None
    last = tokens[-1]
    if last.key not in ("NUM", "R", "W") and re.fullmatch(r"[A-Za-z_.$][\w.$]*", last.text):
        template = TEMPLATES_BY_SIGNATURE.get(signature[:-1] + ("NUM",))
        if template is not None and template.slots and template.slots[-1].index == len(tokens) - 1:
            return template, last.text
    raise AssemblerError(_explain_mismatch(tokens), line_no, line)


def _explain_mismatch(tokens: list[Token]) -> str:
    """Say why no template matched, in the terms of the syntax the line seems to use."""
    first = tokens[0]
    words = []
    for tok in tokens:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", tok.key):
            break
        words.append(tok.key)
    if first.key not in KEYWORDS:
        return f"Invalid mnemonic {first.text!r}"
    mnemonic = " ".join(words)
    while mnemonic and mnemonic not in TEMPLATES_BY_MNEMONIC:
        mnemonic = mnemonic.rpartition(" ")[0]
    if words[:1] == ["lock"] and len(tokens) <= len(words) and not mnemonic:
        return "Invalid number of operands for lock (expected e.g. `lock add [%r1+0], %r2`)"
    if words[:1] == ["lock"] and not mnemonic and len(words) > 1:
        return f"Invalid mnemonic {' '.join(words)!r}"
    if mnemonic:
        forms = [t for t in TEMPLATES_BY_MNEMONIC[mnemonic] if t.mnemonic == mnemonic]
        rest = tokens[len(mnemonic.split()):]
        count = _operand_count(rest)
        counts = sorted({_operand_count(t.signature[len(mnemonic.split()):]) for t in forms})
        shown = [f"`{t.usage()}`" for t in forms if not t.parse_only]
        usage = " or ".join(shown[:4]) + (" or ..." if len(shown) > 4 else "")
        if count not in counts:
            expected = " or ".join(str(c) for c in counts)
            return (f"Invalid number of operands for {mnemonic}: expected {expected}, got {count} "
                    f"(usage: {usage})")
        hint = ""
        if any("[" in t.signature for t in forms) and not any(t.key == "[" for t in rest):
            hint = " (memory operands go in brackets)"
        return f"Invalid operands for {mnemonic}: expected {usage}{hint}"
    # llvm syntax: suggest the forms sharing the longest prefix with the line
    signature = tuple(t.key for t in tokens)
    best, best_len = [], 0
    for sig, tpl in TEMPLATES_BY_SIGNATURE.items():
        if tpl.parse_only:
            continue
        n = 0
        while n < min(len(sig), len(signature)) and sig[n] == signature[n]:
            n += 1
        if n > best_len:
            best, best_len = [tpl], n
        elif n == best_len and n:
            best.append(tpl)
    shown = ", ".join(f"`{t.usage()}`" for t in best[:4])
    return f"not a valid instruction{'; expected one of ' + shown if shown else ''}"


def _operand_count(keys) -> int:
    keys = [k.key if isinstance(k, Token) else k for k in keys]
    return 0 if not keys else keys.count(",") + 1


# --- operands -------------------------------------------------------------------------


def _read_operands(template: Template, tokens: list[Token], label: str | None, line_no: int, line: str,
                   helpers: Mapping[str, int] | None, platform: str) -> tuple[dict[str, int], str]:
    values: dict[str, int] = dict(template.implied)
    label_field = ""
    for slot in template.slots:
        tok = tokens[slot.index]
        if slot.style.startswith("="):
            if tok.value != 0:
                raise AssemblerError(f"{template.spec.name} works on {slot.style[1:]} only, not {tok.text}",
                                     line_no, line)
            continue
        if slot.field in ("dst", "src"):
            value = tok.value
        elif label is not None and slot.index == len(tokens) - 1:
            if slot.style == "target":
                label_field = slot.field
                value = 0
            elif template.spec.kind is Kind.CALL:
                number = _helper_number(label, helpers, platform)
                if number is None:  # pass 2 says whether it is a label or just unknown
                    label_field = f"helper:{platform}"
                value = number or 0
            else:
                raise AssemblerError(f"expected a number, not {label!r}", line_no, line)
        else:
            value = _number(tok, slot, template, line_no, line)
        if slot.field == "imm64":
            value &= (1 << 64) - 1
            _store(values, "imm", _s32(value), template, line_no, line)
            _store(values, "imm_hi", _s32(value >> 32), template, line_no, line)
        else:
            _store(values, slot.field, value, template, line_no, line)
    return values, label_field


def _store(values: dict[str, int], name: str, value: int, template: Template, line_no: int,
           line: str) -> None:
    """A field written twice (``r1 = -r1``) must get the same value both times."""
    if name in values and values[name] != value:
        raise AssemblerError(f"{template.spec.name} needs the same register twice "
                             f"(`{template.usage()}`), got r{values[name]} and r{value}", line_no, line)
    values[name] = value


def _number(tok: Token, slot: Slot, template: Template, line_no: int, line: str) -> int:
    bits = _FIELD_BITS[slot.field]
    value = tok.value
    if slot.style == "target" and not tok.signed:
        raise AssemblerError(f"jump offset {tok.text} needs a sign (+{tok.text} or -{tok.text}), "
                             "or use a label", line_no, line)
    low = -(1 << (bits - 1))
    high = (1 << (bits - 1)) - 1
    if tok.hex or slot.field in ("imm_hi", "imm64"):
        high = (1 << bits) - 1  # a bit pattern
    if not low <= value <= high:
        what = {"off": "offset", "imm": "immediate", "imm_hi": "offset", "imm64": "immediate"}[slot.field]
        hint = ""
        if template.spec.kind is Kind.ALU and template.spec.op == "mov" and template.spec.width == 64:
            hint = " (use lddw / `rD = VALUE ll` for a 64-bit constant)"
        raise AssemblerError(f"{what} {tok.text} is out of range for a {bits}-bit field "
                             f"({low}..{high}){hint}", line_no, line)
    if bits == 16:
        return _s16(value)
    return _s32(value) if bits == 32 and slot.field != "imm64" else value


def _helper_number(name: str, helpers: Mapping[str, int] | None, platform: str) -> int | None:
    """The number of helper ``name`` (from ``helpers``, else the platform's numbering), or None."""
    if helpers is not None and name in helpers:
        return helpers[name]
    return number_of(name, platform) if platform in PLATFORMS else None


# --- pass 2: labels -------------------------------------------------------------------


def _resolve(state: _State, p: _Pending) -> Insn:
    values = dict(p.values)
    if p.label_field.startswith("helper:"):
        hint = f"; `call local {p.label}` calls the function at that label" if p.label in state.labels else ""
        raise AssemblerError(f"unknown helper {p.label!r} for {p.label_field[7:]}{hint}", p.line_no, p.line)
    if p.label is not None:
        target = state.labels.get(p.label)
        if target is None and p.label == "exit":
            target = next((q.pc for q in state.pending if q.template.spec.kind is Kind.EXIT), None)
        if target is None:
            raise AssemblerError(f"Invalid label {p.label!r}: no such label", p.line_no, p.line)
        if target >= state.pc:
            raise AssemblerError(f"label {p.label!r} marks the end of the program, not an instruction",
                                 p.line_no, p.line)
        offset = target - p.pc - 1
        bits = 16 if p.label_field == "off" else 32
        if not -(1 << (bits - 1)) <= offset < (1 << (bits - 1)):
            raise AssemblerError(f"label {p.label!r} is {offset} instructions away, too far for a "
                                 f"{bits}-bit offset", p.line_no, p.line)
        values[p.label_field] = offset
    spec = p.template.spec
    values.update(dict(spec.fixed))
    return Insn(spec, values.get("dst", 0), values.get("src", 0), values.get("off", 0),
                values.get("imm", 0), values.get("imm_hi", 0), p.pc)


def _s16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v
