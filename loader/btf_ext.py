"""The ``.BTF.ext`` section: function info, line info and CO-RE relocations.

Why: line info is what lets ``ebpflite disasm -l``, the verifier and the
engines' errors name the source line of an instruction; func info names
subprograms; CO-RE relocation records must at least be listed so that a
program needing them fails clearly instead of running with wrong offsets.

Layout (libbpf ``btf_ext_header``)::

    magic u16, version u8, flags u8, hdr_len u32,
    func_info_off u32, func_info_len u32, line_info_off u32, line_info_len u32,
    [core_relo_off u32, core_relo_len u32]       (when hdr_len >= 32)

Each info block is ``rec_size u32`` followed by per-section groups
``sec_name_off u32, num_info u32, num_info * rec_size bytes``. Names are
offsets into the ``.BTF`` string table. In object files ``insn_off`` is a
byte offset into the section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ebpflite.loader.btf import Btf, Kind
from ebpflite.vm.errors import BTFError

_HDR = struct.Struct("<HBBIIIII")
_CORE = struct.Struct("<II")
MIN_REC = {"func_info": 8, "line_info": 16, "core_relo": 16}

#: bpf_core_relo_kind names (libbpf)
CORE_RELO_KINDS = {
    0: "field_byte_offset", 1: "field_byte_size", 2: "field_exists", 3: "field_signed",
    4: "field_lshift_u64", 5: "field_rshift_u64", 6: "type_id_local", 7: "type_id_target",
    8: "type_exists", 9: "type_size", 10: "enumval_exists", 11: "enumval_value",
    12: "type_matches",
}


@dataclass(frozen=True)
class FuncInfo:
    insn_off: int  #: instruction index within the section
    type_id: int
    name: str


@dataclass(frozen=True)
class LineInfo:
    insn_off: int  #: instruction index within the section
    file: str
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class CoreRelo:
    insn_off: int  #: instruction index within the section
    type_id: int
    access: str  #: access string, e.g. "0:1:2"
    kind: str
    type_name: str = ""

    def __str__(self) -> str:
        return f"{self.kind} of {self.type_name or f'type {self.type_id}'} ({self.access}) at insn {self.insn_off}"


@dataclass
class BtfExt:
    """Records grouped by the ELF section they describe."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)


def parse_btf_ext(data: bytes, btf: Btf, file: str | None = None) -> BtfExt:
    """Parse ``.BTF.ext`` against the strings and types of ``btf``."""
    try:
        return _Parser(bytes(data), btf, file).parse()
    except BTFError as exc:
        if exc.section in (None, ".BTF"):  # a string lookup through .BTF: still about .BTF.ext data
            raise BTFError(exc.reason, file, ".BTF.ext") from None
        raise
    except (struct.error, ValueError, IndexError) as exc:
        raise BTFError(f"malformed BTF.ext ({exc})", file, ".BTF.ext") from None


class _Parser:
    def __init__(self, data: bytes, btf: Btf, file: str | None):
        self.data, self.btf, self.file = data, btf, file

    def error(self, message: str) -> BTFError:
        return BTFError(message, self.file, ".BTF.ext")

    def parse(self) -> BtfExt:
        data = self.data
        if len(data) < _HDR.size:
            raise self.error(f"BTF.ext header truncated ({len(data)} bytes, need {_HDR.size})")
        magic, version, _flags, hdr_len, fi_off, fi_len, li_off, li_len = _HDR.unpack_from(data)
        if magic != 0xEB9F:
            raise self.error(f"bad BTF.ext magic 0x{magic:04x} (expected 0xeb9f)")
        if version != 1:
            raise self.error(f"unsupported BTF.ext version {version}")
        if hdr_len < _HDR.size or hdr_len > len(data):
            raise self.error(f"bad BTF.ext header length {hdr_len}")
        blocks = {"func_info": (fi_off, fi_len), "line_info": (li_off, li_len)}
        if hdr_len >= _HDR.size + _CORE.size:
            blocks["core_relo"] = _CORE.unpack_from(data, _HDR.size)
        ext = BtfExt()
        for what, (off, length) in blocks.items():
            if not length:
                continue
            start = hdr_len + off
            if start + length > len(data):
                raise self.error(f"{what} block [{start}, {start + length}) exceeds the section "
                                 f"({len(data)} bytes)")
            for sec, recs in self._groups(what, data[start:start + length]):
                target = {"func_info": ext.func_info, "line_info": ext.line_info,
                          "core_relo": ext.core_relos}[what]
                target.setdefault(sec, []).extend(recs)
        return ext

    def _groups(self, what: str, block: bytes):
        if len(block) < 4:
            raise self.error(f"{what} block too short for its record size")
        (rec_size,) = struct.unpack_from("<I", block)
        if rec_size < MIN_REC[what] or rec_size % 4:
            raise self.error(f"{what} record size {rec_size} is invalid (minimum {MIN_REC[what]}, "
                             f"multiple of 4)")
        pos = 4
        while pos < len(block):
            if pos + 8 > len(block):
                raise self.error(f"{what} group header truncated at offset {pos}")
            name_off, count = struct.unpack_from("<II", block, pos)
            pos += 8
            sec = self.btf.string(name_off)
            if not sec:
                raise self.error(f"{what} group at offset {pos - 8} has an empty section name")
            if count == 0 or pos + count * rec_size > len(block):
                raise self.error(f"{what} for section {sec}: {count} records of {rec_size} bytes "
                                 f"do not fit in the block")
            recs = [self._record(what, sec, block, pos + i * rec_size) for i in range(count)]
            pos += count * rec_size
            yield sec, recs

    def _record(self, what: str, sec: str, block: bytes, pos: int):
        insn_off, a = struct.unpack_from("<II", block, pos)
        if insn_off % 8:
            raise self.error(f"{what} for section {sec}: instruction offset {insn_off} is not a multiple of 8")
        idx = insn_off // 8
        if what == "func_info":
            func = self.btf[a] if 0 < a <= len(self.btf) else None
            name = func.name if func is not None and func.kind is Kind.FUNC else ""
            if not name:
                raise self.error(f"func_info for section {sec}: type {a} is not a named function")
            return FuncInfo(idx, a, name)
        if what == "line_info":
            line_off, line_col = struct.unpack_from("<II", block, pos + 8)
            return LineInfo(idx, self.btf.string(a), self.btf.string(line_off), line_col >> 10,
                            line_col & 0x3FF)
        access_off, kind = struct.unpack_from("<II", block, pos + 8)
        type_name = self.btf[a].name if 0 < a <= len(self.btf) else ""
        return CoreRelo(idx, a, self.btf.string(access_off), CORE_RELO_KINDS.get(kind, f"kind {kind}"),
                        type_name)
