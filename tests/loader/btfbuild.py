"""Encode small BTF blobs type by type, for CO-RE cases no compiler is asked to produce.

Why: a relocation against an anonymous struct, a bitfield wider than 64 bits, an array of void or
two conflicting target flavours are malformed or unusual inputs; building them here keeps each
test's types in front of the reader.

    b = BtfBuilder()
    u32 = b.int("u32", 4)
    s = b.struct("hdr", 8, [("a", u32, 0), ("b", u32, 32)])
    btf = b.parse()           # ebpflite.loader.btf.Btf
"""

from __future__ import annotations

import struct

from ebpflite.loader.btf import Btf, parse_btf, parse_target_btf

KIND = {"int": 1, "ptr": 2, "array": 3, "struct": 4, "union": 5, "enum": 6, "fwd": 7, "typedef": 8,
        "const": 10, "enum64": 19}


class BtfBuilder:
    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types = bytearray()
        self.count = 0

    def _name(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def _add(self, kind: str, name: str, vlen: int, size_or_type: int, extra: bytes = b"",
             kind_flag: bool = False) -> int:
        info = (KIND[kind] << 24) | vlen | (1 << 31 if kind_flag else 0)
        self.types += struct.pack("<III", self._name(name), info, size_or_type) + extra
        self.count += 1
        return self.count

    def int(self, name: str, size: int, signed: bool = False, bits: int | None = None, offset: int = 0) -> int:
        enc = (1 if signed else 0) << 24 | offset << 16 | (bits if bits is not None else size * 8)
        return self._add("int", name, 0, size, struct.pack("<I", enc))

    def ptr(self, to: int) -> int:
        return self._add("ptr", "", 0, to)

    def typedef(self, name: str, to: int) -> int:
        return self._add("typedef", name, 0, to)

    def array(self, elem: int, nelems: int, index: int = 1) -> int:
        return self._add("array", "", 0, 0, struct.pack("<III", elem, index, nelems))

    def struct(self, name: str, size: int, members: list[tuple], union: bool = False) -> int:
        """members: (name, type id, bit offset[, bitfield size]) - a bitfield size sets kind_flag."""
        flag = any(len(m) > 3 for m in members)
        body = b""
        for m in members:
            offset = m[2] | (m[3] << 24 if len(m) > 3 else 0)
            body += struct.pack("<III", self._name(m[0]), m[1], offset)
        return self._add("union" if union else "struct", name, len(members), size, body, kind_flag=flag)

    def enum(self, name: str, values: list[tuple[str, int]], size: int = 4, signed: bool = False) -> int:
        body = b"".join(struct.pack("<Ii", self._name(n), v) for n, v in values)
        return self._add("enum", name, len(values), size, body, kind_flag=signed)

    def enum64(self, name: str, values: list[tuple[str, int]], signed: bool = False) -> int:
        body = b"".join(struct.pack("<III", self._name(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF) for n, v in values)
        return self._add("enum64", name, len(values), 8, body, kind_flag=signed)

    def fwd(self, name: str, union: bool = False) -> int:
        return self._add("fwd", name, 0, 0, kind_flag=union)

    def data(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings))
        return hdr + bytes(self.types) + bytes(self.strings)

    def parse(self) -> Btf:
        return parse_btf(self.data())

    def parse_lazy(self) -> Btf:
        return parse_target_btf(self.data())
