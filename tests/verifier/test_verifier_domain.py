"""The numeric domain is sound: every concrete result lies in the abstract one.

Random abstract values are built from a few concrete members plus widening
(so they contain those members); each operation is then applied to members
concretely with the interpreter's own arithmetic (``vm.alu``) and the result
must be contained in the abstract result. Comparisons must keep every pair
of members for which the condition holds.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ebpflite.verifier.domain import M64, TOP, Scalar, Tnum, alu_op, endian_op, refine_width
from ebpflite.vm import alu

INTERESTING = [0, 1, 2, 7, 8, 14, 255, 256, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32,
               (1 << 63) - 1, 1 << 63, M64 - 1, M64]
values = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 0xFF), st.integers(0, M64))


@st.composite
def abstract(draw):
    """(Scalar, members): an abstract value and concrete values it must contain."""
    members = draw(st.lists(values, min_size=1, max_size=3))
    s = Scalar.const(members[0])
    for m in members[1:]:
        s = s.join(Scalar.const(m))
    if draw(st.booleans()):
        s = draw(st.sampled_from([s, s.trunc(32), TOP, Scalar.urange(0, 0xFFFF)]))
        members = [m for m in members if s.contains(m)] or [s.umin]
    return s, members


ALU_OPS = [op for op in alu.ALU if op != "movsx"]


@given(abstract(), abstract(), st.sampled_from(ALU_OPS), st.sampled_from([32, 64]))
def test_alu_ops_contain_concrete_results(a, b, op, width):
    sa, ma = a
    sb, mb = b
    result = alu_op(op, sa, sb, width)
    for x in ma:
        for y in mb:
            concrete = alu.evaluate("alu", op, width, x, y)
            assert result.contains(concrete), (op, width, x, y, concrete, str(sa), str(sb), str(result))


@given(abstract(), st.sampled_from([8, 16, 32]), st.sampled_from([32, 64]))
def test_movsx_contains_concrete(a, bits, width):
    sa, ma = a
    if width == 32 and bits == 32:
        return
    result = alu_op("movsx", Scalar.const(0), sa, width, bits)
    for x in ma:
        assert result.contains(alu.evaluate("alu", "movsx", width, 0, x, bits))


@given(abstract(), st.sampled_from(["le", "be", "bswap"]), st.sampled_from([16, 32, 64]))
def test_endian_contains_concrete(a, op, bits):
    sa, ma = a
    result = endian_op(op, sa, bits)
    for x in ma:
        assert result.contains(alu.evaluate("endian", op, 64, x, 0, bits))


JUMPS = list(alu.JUMP)


@given(abstract(), abstract(), st.sampled_from(JUMPS), st.sampled_from([32, 64]))
def test_refine_keeps_every_pair_where_the_condition_holds(a, b, op, width):
    sa, ma = a
    sb, mb = b
    refined = refine_width(op, sa, sb, width)
    for x in ma:
        for y in mb:
            if alu.evaluate("jump", op, width, x, y):
                assert refined is not None, (op, width, x, y, str(sa), str(sb))
                assert refined[0].contains(x) and refined[1].contains(y), (op, width, x, y, str(refined[0]))


@given(abstract(), abstract())
def test_join_contains_both_and_meet_is_within_both(a, b):
    sa, ma = a
    sb, mb = b
    j = sa.join(sb)
    assert all(j.contains(x) for x in ma + mb)
    assert sa.le(j) and sb.le(j)
    m = sa.meet(sb)
    if m is not None:
        assert m.le(sa) or m.umin >= sa.umin


def test_constants_fold_exactly():
    assert alu_op("add", Scalar.const(5), Scalar.const(7)) == Scalar.const(12)
    assert alu_op("sub", Scalar.const(0), Scalar.const(1), 32) == Scalar.const(0xFFFFFFFF)
    assert alu_op("sdiv", Scalar.const(-7 & M64), Scalar.const(2)).smin == -3


def test_masking_bounds_a_value():
    byte = alu_op("and", TOP, Scalar.const(0xFF))
    assert (byte.umin, byte.umax) == (0, 0xFF)
    shifted = alu_op("lsh", byte, Scalar.const(2))
    assert shifted.umax == 0x3FC and shifted.tnum.value & 3 == 0


def test_comparisons_narrow_both_sides():
    x = Scalar.urange(0, 100)
    taken = refine_width("jlt", x, Scalar.const(10), 64)
    assert taken is not None and taken[0].umax == 9
    assert refine_width("jgt", Scalar.const(3), Scalar.const(5), 64) is None
    # a 32-bit test says nothing about the upper half of a full 64-bit value
    wide = refine_width("jlt", TOP, Scalar.const(10), 32)
    assert wide is not None and wide[0] == TOP


def test_tnum_range_and_printing():
    t = Tnum.range(16, 31)
    assert t == Tnum(16, 15)
    assert str(Scalar.const(5)) == "5"
    assert "[0, 255]" in str(Scalar.urange(0, 255))


# --- shifts and products by a range of amounts -------------------------------------------------------

small = st.integers(0, 70)


@given(abstract(), small, small, st.sampled_from(["lsh", "rsh", "arsh", "mul"]), st.sampled_from([32, 64]))
def test_ops_by_a_small_range_contain_concrete_results(a, lo, hi, op, width):
    """Shift amounts (and factors) known only to lie in a small range, as ``r5 <<= r4`` with r4 in [2, 3]."""
    sa, ma = a
    lo, hi = min(lo, hi), max(lo, hi)
    sb = Scalar.urange(lo, hi)
    result = alu_op(op, sa, sb, width)
    for x in ma:
        for y in {lo, hi, (lo + hi) // 2}:
            concrete = alu.evaluate("alu", op, width, x, y)
            assert result.contains(concrete), (op, width, x, y, concrete, str(sa), str(sb), str(result))


def test_shifts_by_a_range_keep_bounds():
    byte = Scalar.urange(0, 255)
    assert (lambda r: (r.umin, r.umax))(alu_op("lsh", byte, Scalar.urange(2, 3))) == (0, 255 << 3)
    assert (lambda r: (r.umin, r.umax))(alu_op("rsh", Scalar.urange(64, 1024), Scalar.urange(2, 4))) == (4, 256)
    r = alu_op("arsh", Scalar.srange(-64, 32), Scalar.urange(1, 3))
    assert (r.smin, r.smax) == (-32, 16)
    # known bits survive: a multiple of 4 shifted left by 1..2 is a multiple of 8
    r = alu_op("lsh", Scalar.urange(0, 60).meet(Scalar(0, M64, -(1 << 63), (1 << 63) - 1, Tnum(0, 0x3C))),
               Scalar.urange(1, 2))
    assert r.tnum.value == 0 and r.tnum.mask & 0x7 == 0 and r.umax == 240
    # a 32-bit shift masks the amount: [30, 33] & 31 is 30, 31, 0 or 1
    r = alu_op("lsh", Scalar.const(1), Scalar.urange(30, 33), 32)
    assert all(r.contains(1 << k) for k in (0, 1, 30, 31)) and r.umax <= 0xFFFFFFFF


def test_products_of_signed_ranges():
    r = alu_op("mul", Scalar.srange(-3, 2), Scalar.urange(4, 5))
    assert (r.smin, r.smax) == (-15, 10)
    r = alu_op("mul", Scalar.urange(0, 255), Scalar.urange(2, 3))
    assert (r.umin, r.umax) == (0, 765)
