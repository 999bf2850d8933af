"""What the verifier tells its user: findings, notes, invariants, and how they are printed.

Every rejection is a :class:`Finding` carrying the pc, the source line (from
BTF line info), the failed condition in words and as a formula, the
abstract values of the registers involved and, where there is a common
fix, a hint. :meth:`Report.text` lays these out for the CLI and
:meth:`Report.to_dict` for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ebpflite.vm.program import Program, SourceLine


@dataclass
class Finding:
    """One reason a program is unsafe (or, for notes, worth knowing)."""

    pc: int
    message: str
    formula: str = ""
    registers: dict[str, str] = field(default_factory=dict)
    hint: str = ""
    source: SourceLine | None = None
    check: str = ""  #: short name of the check that failed (``packet_bounds``, ``uninit_reg``...)

    def text(self) -> str:
        head = f"{self.pc}: {self.message}"
        if self.formula:
            head += f" ({self.formula})"
        lines = [head]
        if self.source is not None:
            src = f"    at {self.source.file}:{self.source.line}"
            if self.source.text:
                src += f": {self.source.text.strip()}"
            lines.append(src)
        for reg, value in self.registers.items():
            lines.append(f"    {reg} = {value}")
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"pc": self.pc, "check": self.check, "message": self.message,
                             "formula": self.formula, "registers": dict(self.registers), "hint": self.hint}
        if self.source is not None:
            d["source"] = {"file": self.source.file, "line": self.source.line, "text": self.source.text}
        return d


@dataclass
class Report:
    """The outcome of verifying one program."""

    program: Program
    errors: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    #: the program engines run: a copy with ``verified=True`` (None when rejected)
    xlated: Program | None = None
    stats: dict[str, int] = field(default_factory=dict)
    #: most instructions any run can execute (None when unproven)
    max_insns: int | None = None
    #: loop head pc -> most iterations of that loop seen in one pass through it
    loop_bounds: dict[int, int] = field(default_factory=dict)
    #: instructions the analysis processed (the complexity measure)
    processed: int = 0
    #: pc -> (pre, post) invariant texts, filled when asked for (-v)
    invariants: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def termination(self) -> str:
        if self.max_insns is None:
            return "termination not proven"
        return f"Program terminates within {self.max_insns} instructions"

    def summary(self) -> str:
        return "Verification succeeded" if self.ok else "Verification failed"

    def text(self, verbose: bool = False) -> str:
        lines: list[str] = []
        if verbose and self.invariants:
            for insn in self.program.insns:
                inv = self.invariants.get(insn.pc)
                if inv is None:
                    continue
                pre, post = inv
                lines.append("")
                lines.append(f"Pre-invariant : [{', '.join(pre)}]")
                src = self.program.line_info.get(insn.pc)
                if src is not None and src.text:
                    lines.append(f"  ; {src.file}:{src.line}: {src.text.strip()}")
                lines.append(f"{insn.pc}: {format_insn(insn)}")
                lines.append(f"Post-invariant: [{', '.join(post)}]")
            lines.append("")
        lines.append(self.summary())
        for e in self.errors:
            lines.append(e.text())
        for n in self.notes:
            lines.append("note: " + n.text())
        if self.ok:
            lines.append(self.termination)
            for head, n in sorted(self.loop_bounds.items()):
                lines.append(f"Loop at pc {head} runs at most {n} iterations")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program.name, "section": self.program.section,
            "prog_type": self.program.prog_type, "platform": self.program.platform,
            "ok": self.ok, "errors": [e.to_dict() for e in self.errors],
            "notes": [n.to_dict() for n in self.notes], "max_insns": self.max_insns,
            "loop_bounds": {str(k): v for k, v in self.loop_bounds.items()},
            "processed": self.processed, "stats": dict(self.stats),
        }


def format_insn(insn) -> str:
    """A compact readable form of one instruction (for -v output and messages)."""
    try:
        from ebpflite.vm import disasm  # the disassembler, when present

        return disasm.format_insn(insn)
    except Exception:  # noqa: BLE001 - fall back to our own spelling
        pass
    s = insn.spec
    k = s.kind.value
    if k in ("alu",):
        src = f"r{insn.src}" if s.source == "X" else str(insn.imm)
        w = "w" if s.width == 32 else "r"
        if s.op == "neg":
            return f"{w}{insn.dst} = -{w}{insn.dst}"
        sym = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "mod": "%=", "or": "|=", "and": "&=",
               "lsh": "<<=", "rsh": ">>=", "xor": "^=", "mov": "=", "arsh": "s>>=", "sdiv": "s/=",
               "smod": "s%=", "movsx": f"= (s{s.extra})"}.get(s.op, s.op)
        if s.source == "X":
            src = f"{w}{insn.src}"
        return f"{w}{insn.dst} {sym} {src}"
    if k == "ldx":
        return f"r{insn.dst} = *(u{s.width * 8} *)(r{insn.src} {insn.off:+d})"
    if k == "stx":
        return f"*(u{s.width * 8} *)(r{insn.dst} {insn.off:+d}) = r{insn.src}"
    if k == "st":
        return f"*(u{s.width * 8} *)(r{insn.dst} {insn.off:+d}) = {insn.imm}"
    if k == "jump":
        src = f"r{insn.src}" if s.source == "X" else str(insn.imm)
        w = "w" if s.width == 32 else "r"
        return f"if {w}{insn.dst} {s.op[1:]} {src} goto {insn.target}"
    if k == "ja":
        return f"goto {insn.target}"
    if k == "lddw":
        return f"r{insn.dst} = 0x{insn.imm64:x} ll" + (f" (pseudo {insn.src})" if insn.src else "")
    if k == "call":
        return f"call {insn.imm}"
    if k == "call_local":
        return f"call pc {insn.target}"
    if k == "exit":
        return "exit"
    return s.name
