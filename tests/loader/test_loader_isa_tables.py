"""The loader reads opcodes, classes and sizes from the ISA table (vm/isa.py), never its own copies.

Why a test: relocation (loader/relocs.py) and CO-RE patching (loader/core.py) work on raw 8-byte
slots before decoding, where it is tempting to write ``opcode == 0x18`` or a private size table;
such copies drift from vm/isa.py silently. This walks the loader's source and refuses them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LOADER = Path(__file__).resolve().parents[2] / "loader"
#: names of tables vm/isa.py and vm/insn.py own
ISA_TABLES = {"SIZE_BYTES", "BYTES_SIZE", "SLOT", "_SLOT"}
#: names the loader gives raw instruction slots ([opcode, regs, off, imm]): item 0 is the opcode
RAW_SLOTS = {"insn", "slot", "slots", "out"}


def _mentions_opcode(node: ast.AST) -> bool:
    """``opcode``, ``x.opcode``, ``insn[0]`` / ``slots[pc][0]`` (a raw slot's opcode byte)."""
    if isinstance(node, ast.Name):
        return "opcode" in node.id
    if isinstance(node, ast.Attribute):
        return "opcode" in node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == 0:
        root = node.value
        while isinstance(root, ast.Subscript):
            root = root.value
        return isinstance(root, ast.Name) and root.id in RAW_SLOTS
    return False


def copies(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.Compare)):
            operands = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.left, *node.comparators]
            if any(_mentions_opcode(o) for o in operands):
                found += [f"line {node.lineno}: opcode against the literal {o.value:#x}" for o in operands
                          if isinstance(o, ast.Constant) and isinstance(o.value, int) and o.value]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Struct" and any(
                isinstance(a, ast.Constant) and a.value == "<BBhi" for a in node.args):
            found.append(f"line {node.lineno}: a struct.Struct of its own (vm.insn.SLOT is the slot layout)")
        elif isinstance(node, ast.Assign) and node.col_offset == 0:
            found += [f"line {node.lineno}: defines {t.id}" for t in node.targets
                      if isinstance(t, ast.Name) and t.id in ISA_TABLES and not isinstance(node.value, (ast.Name,
                                                                                                       ast.Attribute))]
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in LOADER.glob("*.py")))
def test_no_private_copy_of_the_isa_tables(module):
    found = copies(ast.parse((LOADER / module).read_text()))
    assert not found, f"loader/{module} hard-codes what vm/isa.py owns:\n" + "\n".join(found)


def test_the_check_sees_a_copy():
    """The walk above is not vacuous: each form it refuses is found in a snippet."""
    text = ("import struct\nSIZE_BYTES = {0: 4}\n_SLOT = struct.Struct('<BBhi')\n"
            "def f(opcode, slots):\n    return opcode & 0x07, slots[1][0] == 0x18\n")
    assert len(copies(ast.parse(text))) == 5
