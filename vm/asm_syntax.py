"""The two assembly syntaxes, as templates derived from the ISA table.

Both the assembler (``vm.asm``) and the disassembler (``vm.disasm``) read
the templates built here, so what one prints the other parses. Every
:class:`~ebpflite.vm.isa.InsnSpec` gets templates in two syntaxes:

- ``"llvm"``: the kernel / llvm-objdump syntax (``r0 = 0``, ``w1 += w2``,
  ``*(u32 *)(r10 - 4) = r1``, ``if r1 > r2 goto +3``, ``lock *(u64 *)(r1 + 0) += r2``,
  ``r0 = cmpxchg_64(r1 + 0, r0, r2)``, ``r1 = 0x1122334455667788 ll``...);
- ``"conformance"``: the eBPF conformance suite's (``mov32 %r0, 0``,
  ``ldxb %r0, [%r1+0x2]``, ``lock fetch add [%r1], %r2``, ``jne %r2, 5, label``...).

A template is a string with placeholders in braces:

``{dst:r}`` ``{dst:w}`` ``{dst:%}``
    a register field, printed ``r1``, ``w1`` or ``%r1`` (parsing accepts ``%``
    or not; the ``r``/``w`` view must match).
``{=r0}`` ``{=w0}``
    a literal r0 (for ``r0 = cmpxchg_64(...)`` and ``r0 = *(u32 *)skb[4]``).
``{imm}`` ``{off}`` ``{imm_hi}``
    a number filling that field; ``:sep`` prints it with a spaced sign
    (``+ 4``), ``:tight`` with a sign (``+4``), ``:target`` as a jump offset
    (``+3``, or a label).
``{imm64}``
    the 64-bit constant of lddw (fills ``imm`` and ``imm_hi``).

Lines are compared by *signature*: the token sequence with every register
replaced by ``R``/``W`` and every number (a sign directly before a number
belongs to it) by ``NUM``. Each template's signature is computed the same
way, so parsing a line is one dictionary look-up followed by reading the
operand values at the placeholder positions.

The pseudo lddw forms are spelled ``r1 = map_fd(3)``, ``r1 = map_value(3) + 16``,
``var_addr(N)``, ``code_addr(N)``, ``map_idx(N)``, ``map_idx_value(N) + OFF``
(the names of :class:`~ebpflite.vm.isa.PseudoSrc`); ``+ OFF`` sets the
second slot's ``imm`` and is left out when it is zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ebpflite.vm.errors import AssemblerError
from ebpflite.vm.isa import SPECS, InsnSpec, Kind, PseudoSrc

SYNTAXES = ("llvm", "conformance")

# --- small tables of operator symbols (the opcodes themselves come from isa) ---------

#: ALU operation -> llvm compound assignment
LLVM_ALU_OPS = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "sdiv": "s/=", "or": "|=",
                "and": "&=", "lsh": "<<=", "rsh": ">>=", "mod": "%=", "smod": "s%=", "xor": "^=",
                "mov": "=", "arsh": "s>>="}
#: conditional jump -> llvm comparison
LLVM_JMP_OPS = {"jeq": "==", "jgt": ">", "jge": ">=", "jset": "&", "jne": "!=", "jsgt": "s>",
                "jsge": "s>=", "jlt": "<", "jle": "<=", "jslt": "s<", "jsle": "s<="}
#: atomic read-modify-write -> llvm compound assignment (``lock *(u64 *)(r1 + 0) += r2``)
LLVM_ATOMIC_OPS = {"add": "+=", "or": "|=", "and": "&=", "xor": "^="}

MAX_REGISTER = 10

# --- tokens ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<reg>%?[rw]\d+)(?![\w.$])
  | (?P<op>s>>=|s/=|s%=|s<=|s>=|s<|s>|<<=|>>=|\+=|-=|\*=|/=|%=|\|=|&=|\^=|==|!=|<=|>=|[-+*/()\[\],=<>&:|^])
  | (?P<num>0[xX][0-9a-fA-F]+|\d+)(?![\w.$])
  | (?P<ident>[A-Za-z_.$][\w.$]*)
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    """One token of a line: ``key`` is what signatures compare."""

    key: str  #: "R", "W", "NUM", or the literal text of an identifier / operator
    text: str
    value: int = 0  #: register number or numeric value
    signed: bool = False  #: a number written with an explicit sign
    hex: bool = False  #: a number written in hex


def tokenize(text: str, line_no: int | None = None, line: str | None = None) -> list[Token]:
    """Split a line (comments already removed) into tokens, joining signs to numbers."""
    raw: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise AssemblerError(f"unexpected character {text[pos]!r}", line_no, line)
        pos = m.end()
        kind = m.lastgroup
        tok = m.group()
        if kind == "ws":
            continue
        if kind == "reg":
            number = int(tok.lstrip("%")[1:])
            if number > MAX_REGISTER:
                raise AssemblerError(f"Invalid register {tok!r} (registers are r0..r10)", line_no, line)
            raw.append(Token("W" if tok.lstrip("%")[0] == "w" else "R", tok, number))
        elif kind == "num":
            raw.append(Token("NUM", tok, int(tok, 0), hex=tok[:2].lower() == "0x"))
        else:
            raw.append(Token(tok, tok))
    tokens: list[Token] = []
    for tok in raw:
        if tok.key == "NUM" and tokens and tokens[-1].key in ("+", "-"):
            sign = tokens.pop()
            value = -tok.value if sign.key == "-" else tok.value
            tokens.append(Token("NUM", sign.text + tok.text, value, signed=True, hex=tok.hex))
        else:
            tokens.append(tok)
    return tokens


# --- templates ------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True)
class Slot:
    """A placeholder: which token of the signature fills which field, and how."""

    index: int  #: position in the signature
    field: str  #: "dst", "src", "off", "imm", "imm_hi", "imm64", or "" for a literal r0
    style: str  #: "r", "w", "%", "=r0", "=w0", "", "sep", "tight", "target"


@dataclass(frozen=True)
class Template:
    """One way to write one instruction form in one syntax."""

    spec: InsnSpec
    syntax: str
    text: str
    #: operand fields this form leaves out, with the value they take (``[%r1]`` -> off=0)
    implied: tuple[tuple[str, int], ...] = ()
    #: accepted when parsing, never printed
    parse_only: bool = False
    #: "any", or "offset"/"label" when the form only suits one way of writing a jump target
    targets: str = "any"
    signature: tuple[str, ...] = field(default=(), compare=False)
    slots: tuple[Slot, ...] = field(default=(), compare=False)

    @property
    def mnemonic(self) -> str:
        """The leading words (``lock fetch add``), for error messages."""
        words = []
        for part in self.text.split():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", part):
                break
            words.append(part)
        return " ".join(words)

    @property
    def target_slot(self) -> Slot | None:
        for slot in self.slots:
            if slot.style == "target":
                return slot
        return None

    def usage(self) -> str:
        """The template with placeholders spelled as their meaning: ``ldxb %rD, [%rS+off]``."""
        def name(m: re.Match) -> str:
            fieldname, _, style = m.group(1).partition(":")
            if fieldname.startswith("="):
                return fieldname[1:]
            if fieldname in ("dst", "src"):
                letter = "D" if fieldname == "dst" else "S"
                return {"r": "r", "w": "w", "%": "%r"}[style] + letter
            label = {"imm64": "imm64", "imm_hi": "off32"}.get(fieldname, fieldname)
            if style == "target":
                return "+off|label"
            if style == "sep":
                return f"+ {label}"
            if style == "tight":
                return f"+{label}"
            return label
        return _PLACEHOLDER_RE.sub(name, self.text)


def _compile(template: Template) -> Template:
    """Compute the signature and slots of a template."""
    signature: list[str] = []
    slots: list[Slot] = []
    pos = 0
    for m in _PLACEHOLDER_RE.finditer(template.text):
        signature.extend(t.key for t in tokenize(template.text[pos:m.start()]))
        fieldname, _, style = m.group(1).partition(":")
        if fieldname.startswith("="):
            style, fieldname = fieldname, ""
        if fieldname in ("dst", "src") or style.startswith("="):
            key = "W" if style in ("w", "=w0") else "R"
        else:
            key = "NUM"
        slots.append(Slot(len(signature), fieldname, style))
        signature.append(key)
        pos = m.end()
    signature.extend(t.key for t in tokenize(template.text[pos:]))
    return Template(template.spec, template.syntax, template.text, template.implied,
                    template.parse_only, template.targets, tuple(signature), tuple(slots))


def _reg_view(width_bits: int) -> str:
    return "w" if width_bits == 32 else "r"


def _llvm_templates(spec: InsnSpec) -> list[tuple]:
    """(text, implied, parse_only, targets) tuples for one spec in llvm syntax."""
    kind, op = spec.kind, spec.op
    if kind is Kind.ALU:
        r = _reg_view(spec.width)
        if op == "neg":
            return [(f"{{dst:{r}}} = -{{dst:{r}}}",)]
        if op == "movsx":
            return [(f"{{dst:{r}}} = (s{spec.extra}){{src:{r}}}",)]
        rhs = f"{{src:{r}}}" if spec.source == "X" else "{imm}"
        return [(f"{{dst:{r}}} {LLVM_ALU_OPS[op]} {rhs}",)]
    if kind is Kind.ENDIAN:
        return [(f"{{dst:r}} = {op}{spec.extra} {{dst:r}}",)]
    if kind is Kind.JUMP:
        r = _reg_view(spec.width)
        rhs = f"{{src:{r}}}" if spec.source == "X" else "{imm}"
        head = f"if {{dst:{r}}} {LLVM_JMP_OPS[op]} {rhs} goto"
        return [(f"{head} {{off:target}}",), (f"{head} pc{{off:target}}", (), True)]
    if kind is Kind.JA:
        if op == "ja":
            return [("goto {off:target}",), ("goto pc{off:target}", (), True)]
        return [("gotol {imm:target}",), ("gotol pc{imm:target}", (), True)]
    if kind is Kind.CALL:
        return [("call {imm}",)]
    if kind is Kind.CALL_LOCAL:
        return [("call pc{imm:target}", (), False, "offset"), ("call local {imm:target}", (), False, "label")]
    if kind is Kind.CALL_KFUNC:
        return [("call kfunc {imm}", (("off", 0),)), ("call kfunc {imm}, {off}",)]
    if kind is Kind.CALLX:
        return [("callx {dst:r}",)]
    if kind is Kind.EXIT:
        return [("exit",)]
    if kind is Kind.LDDW:
        if spec.extra == PseudoSrc.IMM64:
            return [("{dst:r} = {imm64} ll",)]
        name = PseudoSrc(spec.extra).name.lower()
        return [(f"{{dst:r}} = {name}({{imm}})", (("imm_hi", 0),)),
                (f"{{dst:r}} = {name}({{imm}}) {{imm_hi:sep}}",)]
    ctype = f"u{spec.size * 8}"
    addr = "({dst:r} {off:sep})"
    if kind is Kind.LDX:
        sign = "s" if spec.signed else "u"
        load = f"*({sign}{spec.size * 8} *)({{src:r}} {{off:sep}})"
        forms = [(f"{{dst:r}} = {load}",)]
        if spec.size < 8:  # llvm's alu32 mode writes the 32-bit view
            forms.append((f"{{dst:w}} = {load}", (), True))
        return forms
    if kind is Kind.ST:
        return [(f"*({ctype} *){addr} = {{imm}}",)]
    if kind is Kind.STX:
        forms = [(f"*({ctype} *){addr} = {{src:r}}",)]
        if spec.size < 8:
            forms.append((f"*({ctype} *){addr} = {{src:w}}", (), True))
        return forms
    if kind is Kind.ATOMIC:
        r = _reg_view(spec.size * 8)
        other = "r" if r == "w" else "w"
        if op in LLVM_ATOMIC_OPS:
            text = f"lock *({ctype} *){addr} {LLVM_ATOMIC_OPS[op]} {{src:{r}}}"
            forms = [(text,)]
            if spec.size == 4:  # llvm without alu32 prints the 64-bit view
                forms.append((text.replace("{src:w}", "{src:r}"), (), True))
            return forms
        sfx = "_64" if spec.size == 8 else "32_32"
        if op.startswith("fetch_"):
            return [(f"{{src:{r}}} = atomic_{op}(({ctype} *){addr}, {{src:{r}}})",),
                    (f"{{src:{other}}} = atomic_{op}(({ctype} *){addr}, {{src:{other}}})", (), True)]
        if op == "xchg":
            return [(f"{{src:{r}}} = xchg{sfx}({{dst:r}} {{off:sep}}, {{src:{r}}})",)]
        if op == "cmpxchg":
            return [(f"{{={r}0}} = cmpxchg{sfx}({{dst:r}} {{off:sep}}, {{={r}0}}, {{src:{r}}})",)]
    if kind is Kind.LD_ABS:
        return [(f"{{=r0}} = *({ctype} *)skb[{{imm}}]",)]
    if kind is Kind.LD_IND:
        return [(f"{{=r0}} = *({ctype} *)skb[{{src:r}}]", (("imm", 0),)),
                (f"{{=r0}} = *({ctype} *)skb[{{src:r}} {{imm:sep}}]",)]
    raise AssertionError(f"no llvm syntax for {spec}")  # pragma: no cover - every kind is covered


def _conformance_templates(spec: InsnSpec) -> list[tuple]:
    """(text, implied, parse_only, targets) tuples for one spec in the suite's syntax."""
    kind, name = spec.kind, spec.name
    aliases = []
    if kind is Kind.ALU:
        if spec.op == "neg":
            forms = [(f"{name} {{dst:%}}",)]
        else:
            rhs = "{src:%}" if spec.source == "X" else "{imm}"
            forms = [(f"{name} {{dst:%}}, {rhs}",)]
        if spec.width == 64 and not name[-1].isdigit():
            aliases.append(f"{name}64")  # the suite's assembler accepts mov64, add64, ...
    elif kind is Kind.ENDIAN:
        forms = [(f"{name} {{dst:%}}",)]
        if spec.op == "bswap":
            aliases.append(f"swap{spec.extra}")
    elif kind is Kind.JUMP:
        rhs = "{src:%}" if spec.source == "X" else "{imm}"
        forms = [(f"{name} {{dst:%}}, {rhs}, {{off:target}}",)]
    elif kind is Kind.JA:
        forms = [(f"{name} {{off:target}}" if spec.op == "ja" else f"{name} {{imm:target}}",)]
    elif kind is Kind.CALL:
        forms = [("call {imm}",)]
    elif kind is Kind.CALL_LOCAL:
        forms = [("call local {imm:target}",)]
    elif kind is Kind.CALL_KFUNC:
        forms = [("call runtime {imm}", (("off", 0),)), ("call runtime {imm}, {off}",)]
    elif kind is Kind.CALLX:
        forms = [("call {dst:%}",), ("callx {dst:%}", (), True)]
    elif kind is Kind.EXIT:
        forms = [("exit",)]
    elif kind is Kind.LDDW:
        if spec.extra == PseudoSrc.IMM64:
            forms = [("lddw {dst:%}, {imm64}",)]
        else:
            pname = PseudoSrc(spec.extra).name.lower()
            forms = [(f"lddw {{dst:%}}, {pname}({{imm}})", (("imm_hi", 0),)),
                     (f"lddw {{dst:%}}, {pname}({{imm}}) {{imm_hi:sep}}",)]
    elif kind is Kind.LDX:
        forms = [(f"{name} {{dst:%}}, [{{src:%}}{{off:tight}}]",),
                 (f"{name} {{dst:%}}, [{{src:%}}]", (("off", 0),), True)]
    elif kind in (Kind.ST, Kind.STX, Kind.ATOMIC):
        rhs = "{imm}" if kind is Kind.ST else "{src:%}"
        forms = [(f"{name} [{{dst:%}}{{off:tight}}], {rhs}",),
                 (f"{name} [{{dst:%}}], {rhs}", (("off", 0),), True)]
    elif kind is Kind.LD_ABS:
        forms = [(f"{name} {{imm}}",)]
    elif kind is Kind.LD_IND:
        forms = [(f"{name} {{src:%}}, {{imm}}",)]
    else:  # pragma: no cover - every kind is covered
        raise AssertionError(f"no conformance syntax for {spec}")
    for alias in aliases:
        forms += [(f[0].replace(name, alias, 1), *(f[1:2] or ((),)), True) for f in list(forms)]
    return forms


def _build() -> tuple[dict[tuple[str, str], list[Template]], dict[tuple[str, ...], Template]]:
    by_spec: dict[tuple[str, str], list[Template]] = {}
    by_signature: dict[tuple[str, ...], Template] = {}
    for spec in SPECS:
        for syntax, maker in (("llvm", _llvm_templates), ("conformance", _conformance_templates)):
            compiled = []
            for form in maker(spec):
                text, implied, parse_only, targets = tuple(form) + ((), False, "any")[len(form) - 1:]
                tpl = _compile(Template(spec, syntax, text, tuple(implied), parse_only, targets))
                compiled.append(tpl)
                other = by_signature.get(tpl.signature)
                if other is None:
                    by_signature[tpl.signature] = tpl
                elif other.spec is not spec or [s.field for s in other.slots] != [s.field for s in tpl.slots]:
                    raise AssertionError(f"ambiguous syntax: {tpl.text!r} ({spec.name}) vs "
                                         f"{other.text!r} ({other.spec.name})")
            by_spec[(_spec_key(spec), syntax)] = compiled
    return by_spec, by_signature


def _spec_key(spec: InsnSpec) -> str:
    """Specs are unique by name plus (for lddw) the pseudo source, and by opcode+fixed fields."""
    return f"{spec.opcode:02x}:{spec.fixed}"


TEMPLATES_BY_SPEC, TEMPLATES_BY_SIGNATURE = _build()


def templates_for(spec: InsnSpec, syntax: str) -> list[Template]:
    """All templates of a spec in a syntax, printable ones first."""
    if syntax not in SYNTAXES:
        raise ValueError(f"unknown syntax {syntax!r} (choose from {', '.join(SYNTAXES)})")
    return TEMPLATES_BY_SPEC[(_spec_key(spec), syntax)]


#: mnemonic (leading words) -> templates, for the assembler's error messages
TEMPLATES_BY_MNEMONIC: dict[str, list[Template]] = {}
for _tpls in TEMPLATES_BY_SPEC.values():
    for _tpl in _tpls:
        if _tpl.syntax == "conformance" and _tpl.mnemonic:
            TEMPLATES_BY_MNEMONIC.setdefault(_tpl.mnemonic, []).append(_tpl)

#: first words that start an instruction in either syntax (anything else is a bad mnemonic)
KEYWORDS = frozenset(t.signature[0] for t in TEMPLATES_BY_SIGNATURE.values())
