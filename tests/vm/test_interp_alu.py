"""ALU operations against an independent oracle (numpy fixed-width arithmetic).

The interpreter's handlers are generated from the ``vm.alu`` table; this
checks them, with random operands, against numpy's wrapping uint32/uint64
arithmetic and a floor-to-truncation formula for signed division.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebpflite.vm import alu
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.program import Program

U64 = st.integers(0, (1 << 64) - 1)
EDGE = st.sampled_from([0, 1, 2, 31, 32, 63, 64, (1 << 31), (1 << 32) - 1, (1 << 63), (1 << 64) - 1])
OPERAND = st.one_of(U64, EDGE)


def _trunc_div(a: int, b: int) -> tuple[int, int]:
    """C division from Python's floor division: round the quotient towards zero."""
    q = a // b
    if q < 0 and q * b != a:
        q += 1
    return q, a - q * b


def oracle(op: str, width: int, a: int, b: int) -> int:
    utype, stype = (np.uint64, np.int64) if width == 64 else (np.uint32, np.int32)
    ua, ub = utype(a & ((1 << width) - 1)), utype(b & ((1 << width) - 1))
    sa, sb = int(ua.astype(stype)), int(ub.astype(stype))
    shift = utype(int(ub) % width)
    with np.errstate(over="ignore"):
        results = {
            "add": lambda: ua + ub, "sub": lambda: ua - ub, "mul": lambda: ua * ub,
            "or": lambda: ua | ub, "and": lambda: ua & ub, "xor": lambda: ua ^ ub,
            "lsh": lambda: ua << shift, "rsh": lambda: ua >> shift,
            "arsh": lambda: stype(sa) >> stype(shift),
            "div": lambda: ua // ub if ub else 0, "mod": lambda: ua % ub if ub else ua,
            "sdiv": lambda: _trunc_div(sa, sb)[0] if sb else 0,
            "smod": lambda: _trunc_div(sa, sb)[1] if sb else sa,
        }
        return int(results[op]()) & ((1 << width) - 1)


def _register_form(name: str, dst: int, src: int) -> Insn:
    return make(name, dst=dst, src=src)


OPS = ["add", "sub", "mul", "or", "and", "xor", "lsh", "rsh", "arsh", "div", "mod", "sdiv", "smod"]


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", OPS)
@given(a=OPERAND, b=OPERAND)
def test_alu_register_forms_match_the_oracle(op: str, width: int, a: int, b: int):
    name = op + ("32" if width == 32 else "")
    prog = Program([_register_form(name, 1, 2).with_fields(pc=0), _register_form("mov", 0, 1).with_fields(pc=1),
                    make("exit", pc=2)])
    result = Interpreter(prog).run(r1=a, r2=b).r0
    assert result == oracle(op, width, a, b)
    assert result == alu.evaluate("alu", op, width, a, b)


@given(a=OPERAND, imm=st.integers(-(1 << 31), (1 << 31) - 1))
def test_immediates_are_sign_extended_for_64bit_ops(a: int, imm: int):
    prog = Program.of(make("add", dst=1, imm=imm), make("mov", dst=0, src=1), make("exit"))
    assert Interpreter(prog).run(r1=a).r0 == (a + imm) & ((1 << 64) - 1)


def test_the_table_covers_every_alu_op_of_the_isa():
    from ebpflite.vm.isa import SPECS, Kind

    ops = {s.op for s in SPECS if s.kind is Kind.ALU}
    assert ops == set(alu.ALU)
    assert {s.op for s in SPECS if s.kind is Kind.JUMP} == set(alu.JUMP)
    assert {s.op for s in SPECS if s.kind is Kind.ENDIAN} == set(alu.ENDIAN)
    atomic = {s.op.removeprefix("fetch_") for s in SPECS if s.kind is Kind.ATOMIC} - {"cmpxchg"}
    assert atomic == set(alu.ATOMIC)


@pytest.mark.parametrize("table, op, width, bits", [
    (table, op, width, bits)
    for table, ops, widths, sizes in [("alu", alu.ALU, (32, 64), (0,)), ("endian", alu.ENDIAN, (64,), (16, 32, 64))]
    for op in sorted(set(ops) & alu.IN_RANGE) for width in widths for bits in sizes])
@given(a=OPERAND, b=OPERAND)
def test_in_range_operations_need_no_final_mask(table: str, op: str, width: int, bits: int, a: int, b: int):
    """The generators drop ``& M`` for alu.IN_RANGE: the raw expression must already fit."""
    mask = (1 << width) - 1
    source = alu.render(table, op, width, "a", "b", bits)
    raw = eval(source, alu.namespace(width, bits), {"a": a & mask, "b": b & mask})  # noqa: S307 - our table
    assert 0 <= raw <= mask


def test_in_range_names_only_operations_of_the_tables():
    assert alu.IN_RANGE <= set(alu.ALU) | set(alu.ENDIAN)
