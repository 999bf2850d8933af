"""The program object that flows from the loader to the verifier and engines.

A :class:`Program` is a decoded instruction list plus what the engines and
the verifier need to know about it: its name and section, its program type
and platform, the maps its lddw instructions refer to (by index into
``maps``), and the source line of each instruction when the object carried
BTF line info.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ebpflite.vm.insn import Insn, decode, encode
from ebpflite.vm.isa import Kind


@dataclass(frozen=True)
class SourceLine:
    """Where an instruction came from (BTF line info)."""

    file: str
    line: int
    column: int = 0
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Program:
    """A decoded eBPF program.

    ``maps`` holds, by index, what lddw pseudo instructions refer to: the
    loader puts map specifications there, and the run environment replaces
    them with live maps. lddw ``src=1/5`` (map fd/idx) uses ``imm`` as the
    index; ``src=2/6`` (map value) uses ``imm`` as the index and ``imm_hi``
    as the offset into the value.
    """

    insns: list[Insn]
    name: str = "prog"
    section: str = ""
    prog_type: str = "unspec"
    platform: str = "linux"
    maps: list[Any] = field(default_factory=list)
    line_info: dict[int, SourceLine] = field(default_factory=dict)
    #: pc -> function name, for every function (entry at pc 0 and subprograms)
    functions: dict[int, str] = field(default_factory=dict)
    #: True once the verifier has accepted the program (engines may drop runtime checks)
    verified: bool = False
    #: anything else a subsystem wants to attach (BTF, CO-RE relocations, ...)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_bytes(cls, code: bytes, **kwargs: Any) -> Program:
        return cls(decode(code), **kwargs)

    @classmethod
    def of(cls, *insns: Insn, **kwargs: Any) -> Program:
        """A program of ``insns`` placed at consecutive pcs (lddw takes two slots)."""
        placed, pc = [], 0
        for insn in insns:
            placed.append(insn.with_fields(pc=pc))
            pc += insn.slots
        return cls(placed, **kwargs)

    @property
    def bytecode(self) -> bytes:
        return encode(self.insns)

    @property
    def nslots(self) -> int:
        return sum(i.slots for i in self.insns)

    def __len__(self) -> int:
        return len(self.insns)

    def by_pc(self) -> dict[int, Insn]:
        return {i.pc: i for i in self.insns}

    def slot_table(self) -> list[Insn | None]:
        """One entry per 8-byte slot; the second slot of an lddw is ``None``."""
        table: list[Insn | None] = [None] * self.nslots
        for insn in self.insns:
            table[insn.pc] = insn
        return table

    def local_call_targets(self) -> Sequence[int]:
        return sorted({i.target for i in self.insns if i.kind is Kind.CALL_LOCAL})
