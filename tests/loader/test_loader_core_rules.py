"""libbpf's CO-RE rules one by one, on BTF built type by type (btfbuild), and every refusal's message.

test_loader_core.py checks whole compiled programs; here each rule has its own small local and
target BTF, and the expected values are worked out from the layouts in the test.
"""

from __future__ import annotations

import re

import pytest
from btfbuild import BtfBuilder

from ebpflite.errors import BTFError
from ebpflite.loader import core
from ebpflite.loader.btf_ext import CoreRelo


def relo(btf, type_name: str, access: str, kind: str = "field_byte_offset") -> CoreRelo:
    tid = next(t.id for t in btf.types[1:] if t is not None and t.name == type_name)
    return CoreRelo(0, tid, access, kind, type_name)


def resolve(local, target, type_name: str, access: str, kind: str = "field_byte_offset") -> core.Resolution:
    return core.Resolver(local, target).resolve(relo(local, type_name, access, kind))


def pair() -> tuple[BtfBuilder, BtfBuilder]:
    return BtfBuilder(), BtfBuilder()


# --- matching ----------------------------------------------------------------------------------


def test_flavoured_local_type_matches_the_plain_target_name():
    lb, tb = pair()
    u32 = lb.int("u32", 4)
    lb.struct("hdr___v1", 8, [("a", u32, 0), ("b", u32, 32)])
    t32 = tb.int("u32", 4)
    tb.struct("hdr", 12, [("pad", t32, 0), ("b", t32, 32), ("a", t32, 64)])
    res = resolve(lb.parse(), tb.parse_lazy(), "hdr___v1", "0:0")
    assert (res.orig.value, res.new.value) == (0, 8)


def test_members_are_found_through_anonymous_unions_and_structs():
    lb, tb = pair()
    lb.struct("s", 8, [("x", lb.int("int", 4, signed=True), 32)])
    i = tb.int("int", 4, signed=True)
    inner = tb.struct("", 8, [("w", i, 0), ("x", i, 32)])
    union = tb.struct("", 8, [("v", i, 0), ("", inner, 0)], union=True)
    tb.struct("s", 12, [("first", i, 0), ("", union, 32)])
    res = resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")
    assert res.new.value == 8  # 4 (the union) + 4 (x inside the anonymous struct)
    assert res.target.raw == [0, 1, 1, 1]


def test_struct_and_union_of_the_same_name_do_not_match():
    lb, tb = pair()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    tb.struct("s", 4, [("x", tb.int("int", 4), 0)], union=True)
    res = resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")
    assert res.new.poison and res.target is None


def test_incompatible_field_types_do_not_match():
    """A struct member where the local program has an int: not the same field."""
    lb, tb = pair()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    inner = tb.struct("inner", 4, [("y", tb.int("int", 4), 0)])
    tb.struct("s", 4, [("x", inner, 0)])
    assert resolve(lb.parse(), tb.parse_lazy(), "s", "0:0").new.poison


def test_array_elements_are_relocated_and_bounded():
    lb, tb = pair()
    c = lb.int("char", 1)
    lb.struct("s", 16, [("comm", lb.array(c, 16), 0)])
    tc = tb.int("char", 1)
    tb.struct("s", 24, [("pid", tb.int("int", 4), 0), ("comm", tb.array(tc, 16), 64)])
    local, target = lb.parse(), tb.parse_lazy()
    assert resolve(local, target, "s", "0:0:3").new.value == 8 + 3
    assert resolve(local, target, "s", "0:0:3", "field_byte_size").new.value == 1
    with pytest.raises(core.CoreError, match=r"access string '0:0:16': index 16 is past the array's 16 elements"):
        resolve(local, target, "s", "0:0:16")
    with pytest.raises(core.CoreError, match=r"field_signed cannot be applied to an array element"):
        resolve(local, target, "s", "0:0:3", "field_signed")


def test_a_flexible_array_member_takes_any_index():
    lb, tb = pair()
    lb.struct("s", 4, [("n", lb.int("int", 4), 0), ("data", lb.array(lb.int("char", 1), 0), 32)])
    tb.struct("s", 8, [("n", tb.int("long", 8), 0), ("data", tb.array(tb.int("char", 1), 0), 64)])
    assert resolve(lb.parse(), tb.parse_lazy(), "s", "0:1:100").new.value == 8 + 100


def test_ambiguous_targets_are_refused_but_agreeing_ones_are_not():
    lb = BtfBuilder()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    tb = BtfBuilder()
    i = tb.int("int", 4)
    tb.struct("s", 8, [("x", i, 32)])
    tb.struct("s___copy", 8, [("x", i, 32)])  # same offset: fine
    assert resolve(lb.parse(), tb.parse_lazy(), "s", "0:0").new.value == 4
    tb.struct("s___other", 8, [("y", i, 0), ("x", i, 0)])
    with pytest.raises(core.CoreError, match="several types 's' that place the field at different offsets"):
        resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")


# --- bitfields ----------------------------------------------------------------------------------


def bitfield_case(signed: bool) -> core.Resolver:
    lb, tb = pair()
    u = lb.int("unsigned int", 4, signed=signed)
    lb.struct("flags", 4, [("a", u, 0, 3), ("b", u, 3, 5)])
    tu = tb.int("unsigned int", 4, signed=signed)
    tb.struct("flags", 8, [("pad", tu, 0), ("a", tu, 32 + 9, 3), ("b", tu, 32 + 12, 7)])
    return core.Resolver(lb.parse(), tb.parse_lazy())


@pytest.mark.parametrize("kind,want", [
    ("field_byte_offset", 4), ("field_byte_size", 4), ("field_signed", 0), ("field_exists", 1),
    # b: bits 44..50 of the 8-byte struct, read as the u32 at byte 4 -> bits 12..18 of that word
    ("field_lshift_u64", 64 - (44 + 7 - 4 * 8)), ("field_rshift_u64", 64 - 7),
])
def test_bitfield_relocations(kind, want):
    r = bitfield_case(signed=False)
    res = r.resolve(relo(r.local, "flags", "0:1", kind))
    assert res.new.value == want


def test_signed_bitfield():
    r = bitfield_case(signed=True)
    assert r.resolve(relo(r.local, "flags", "0:1", "field_signed")).new.value == 1


def test_bitfield_that_no_64_bit_load_covers():
    lb, tb = pair()
    u = lb.int("u64", 8)
    lb.struct("w", 16, [("x", u, 0, 8)])
    tu = tb.int("u64", 8)
    tb.struct("w", 16, [("x", tu, 60, 8)])
    with pytest.raises(core.CoreError, match="the bitfield cannot be read with one 64-bit load"):
        resolve(lb.parse(), tb.parse_lazy(), "w", "0:0")


# --- types and enums -----------------------------------------------------------------------------


def test_type_relocations():
    lb, tb = pair()
    lb.struct("pair", 8, [("x", lb.int("int", 4), 0), ("y", lb.int("int", 4), 32)])
    lb.struct("gone", 4, [("z", lb.int("int", 4), 0)])
    ti = tb.int("int", 4)
    tid = tb.struct("pair", 12, [("x", ti, 0), ("y", ti, 32), ("z", ti, 64)])
    local, target = lb.parse(), tb.parse_lazy()
    assert resolve(local, target, "pair", "0", "type_size").new.value == 12
    assert resolve(local, target, "pair", "0", "type_exists").new.value == 1
    assert resolve(local, target, "pair", "0", "type_id_target").new.value == tid
    assert resolve(local, target, "pair", "0", "type_id_local").new.value == relo(local, "pair", "0").type_id
    assert resolve(local, target, "pair", "0", "type_matches").new.value == 1
    assert resolve(local, target, "gone", "0", "type_exists").new.value == 0
    assert resolve(local, target, "gone", "0", "type_size").new.value == 0  # not poisoned: 0, as libbpf


def test_type_matches_is_stricter_than_compatibility():
    """A local member the target lacks, or an integer of another size, is no match."""
    lb, tb = pair()
    lb.struct("s", 8, [("x", lb.int("int", 4, signed=True), 0), ("w", lb.int("int", 4, signed=True), 32)])
    lb.struct("t", 8, [("x", lb.int("long", 8, signed=True), 0)])
    ti = tb.int("int", 4, signed=True)
    tb.struct("s", 4, [("x", ti, 0)])
    tb.struct("t", 4, [("x", ti, 0)])
    local, target = lb.parse(), tb.parse_lazy()
    assert resolve(local, target, "s", "0", "type_matches").new.value == 0
    assert resolve(local, target, "s", "0", "type_exists").new.value == 1
    assert resolve(local, target, "t", "0", "type_matches").new.value == 0


def test_enum_relocations():
    lb, tb = pair()
    lb.enum("color", [("RED", 1), ("GREEN", 2), ("BLUE", 3)])
    tb.enum("color", [("GREEN___x", 20), ("RED", 10)])
    local, target = lb.parse(), tb.parse_lazy()
    assert resolve(local, target, "color", "1", "enumval_value").new.value == 20
    assert resolve(local, target, "color", "1", "enumval_exists").new.value == 1
    assert resolve(local, target, "color", "2", "enumval_exists").new.value == 0
    assert resolve(local, target, "color", "2", "enumval_value").new.poison


def test_32_bit_enumerators_are_signed_whatever_the_flag_says():
    """libbpf reads btf_enum.val as an __s32: -5 in an enum without the signed flag (clang < 15)
    is -5 sign-extended, in the local value checked against the instruction and in the new one."""
    lb, tb = pair()
    lb.enum("neg", [("NEG_A", -5), ("NEG_B", 3)], signed=False)
    tb.enum("neg", [("NEG_A", -7)], signed=False)
    res = resolve(lb.parse(), tb.parse_lazy(), "neg", "0", "enumval_value")
    assert (res.orig.value, res.new.value) == (2**64 - 5, 2**64 - 7)
    ldimm = [[0x18, 0x01, 0, -5], [0, 0, 0, -1]]  # r1 = -5 ll, as clang 14 writes it
    assert core.patch(ldimm, 0, res) is None
    assert (ldimm[0][3], ldimm[1][3]) == (-7, -1)
    mov = [[0xB7, 0x01, 0, -5]]  # r1 = -5: libbpf sign-extends the immediate before comparing
    assert core.patch(mov, 0, res) is None
    assert mov[0][3] == -7
    with pytest.raises(core.CoreError, match=r"the instruction holds 4294967291, not the local value "
                                             r"18446744073709551611 \(libbpf reads 32-bit enumerator values as "
                                             r"signed __s32"):
        core.patch([[0x18, 0x01, 0, -5], [0, 0, 0, 0]], 0, res)  # zero-extended: libbpf refuses it


def test_type_ids_are_not_checked_against_the_instruction():
    """libbpf sets validate=false for type_id_local and type_id_target: linking may renumber types,
    so an lddw holding another id is patched, not refused."""
    lb, tb = pair()
    lb.int("pad", 4)
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    tid = tb.struct("s", 4, [("x", tb.int("int", 4), 0)])
    local, target = lb.parse(), tb.parse_lazy()
    for kind, want in (("type_id_target", tid), ("type_id_local", relo(local, "s", "0").type_id)):
        slots = [[0x18, 0x01, 0, 99], [0, 0, 0, 0]]
        assert core.patch(slots, 0, resolve(local, target, "s", "0", kind)) is None
        assert (slots[0][3], slots[1][3]) == (want, 0)


def test_type_id_local_of_a_forward_declaration():
    """libbpf answers type_id_local before computing anything from the type: a forward declaration
    (no size) is fine, and so is a target without the type."""
    lb, tb = pair()
    fid = lb.fwd("opaque")
    tb.int("int", 4)
    res = resolve(lb.parse(), tb.parse_lazy(), "opaque", "0", "type_id_local")
    assert (res.orig.value, res.new.value) == (fid, fid)
    with pytest.raises(core.CoreError, match=r"type \[1\] \(FWD\) has no size"):  # type_size still needs one
        resolve(lb.parse(), tb.parse_lazy(), "opaque", "0", "type_size")


def flavours() -> core.Resolver:
    """Local s {x, y}; the target has two flavours: s___one {x, y at 4} and s___two {y at 0, z}."""
    lb, tb = pair()
    li = lb.int("int", 4)
    lb.struct("s", 8, [("x", li, 0), ("y", li, 32)])
    ti = tb.int("int", 4)
    tb.struct("s___one", 8, [("x", ti, 0), ("y", ti, 32)])
    tb.struct("s___two", 8, [("y", ti, 0), ("z", ti, 32)])
    return core.Resolver(lb.parse(), tb.parse_lazy())


def test_candidates_are_pruned_per_local_type_in_relocation_order():
    """As libbpf: once s.x matched only s___one, s.y is resolved against s___one alone (4); asked
    first, s.y sees both flavours disagree (4 and 0) and is refused as ambiguous."""
    r = flavours()
    x, y = relo(r.local, "s", "0:0"), relo(r.local, "s", "0:1")
    assert r.resolve(x).new.value == 0
    assert r.resolve(y).new.value == 4


def test_an_object_is_resolved_in_btf_ext_order():
    """resolve_all follows .BTF.ext's order (libbpf's), whatever order the programs are patched in."""
    r = flavours()
    x, y = relo(r.local, "s", "0:0"), relo(r.local, "s", "0:1")
    r.resolve_all({"xdp": [x, y]})
    assert r.result(y)[1].new.value == 4
    r = flavours()
    x, y = relo(r.local, "s", "0:0"), relo(r.local, "s", "0:1")
    r.resolve_all({"xdp": [y, x]})
    with pytest.raises(core.CoreError, match=r"several types 's' that place the field at different offsets \(4 and 0\)"):
        r.result(y)
    assert r.result(x)[1].new.value == 0


# --- patching --------------------------------------------------------------------------------------


def narrowing(signed: bool):
    lb, tb = pair()
    lb.struct("s", 8, [("v", lb.int("u32", 4, signed=signed), 32)])
    tb.struct("s", 4, [("v", tb.int("u16", 2, signed=signed), 16)])
    return resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")


def test_an_unsigned_field_that_shrank_is_read_at_its_new_size():
    slots = [[0x61, 0x21, 4, 0]]  # r1 = *(u32 *)(r2 + 4)
    assert core.patch(slots, 0, narrowing(signed=False)) is None
    assert slots[0] == [0x69, 0x21, 2, 0]  # r1 = *(u16 *)(r2 + 2)


def test_a_signed_field_that_shrank_is_poisoned():
    slots = [[0x61, 0x21, 4, 0]]
    why = core.patch(slots, 0, narrowing(signed=True))
    assert "only pointers and unsigned integers can be read at another size" in why
    assert slots[0] == [0x85, 0, 0, core.POISON_HELPER]


@pytest.mark.parametrize("slots,message", [
    ([[0x61, 0x21, 3, 0]], "the instruction's offset is 3, not the local value 4"),
    ([[0x71, 0x21, 4, 0]], "the instruction accesses 1 bytes, not the field's 4"),
    ([[0x18, 0x11, 0, 4], [0, 0, 0, 0]], "the 64-bit load has an unexpected form"),
    ([[0x18, 0x01, 0, 5], [0, 0, 0, 0]], "the instruction holds 5, not the local value 4"),
    ([[0x18, 0x01, 0, 4]], "the 64-bit load has an unexpected form"),
])
def test_instructions_that_do_not_hold_the_local_value(slots, message):
    with pytest.raises(core.CoreError, match=re.escape(message)):
        core.patch(slots, 0, narrowing(signed=False))


def test_64_bit_immediates_are_relocated():
    res = narrowing(signed=False)
    slots = [[0x18, 0x01, 0, 4], [0, 0, 0, 0]]
    assert core.patch(slots, 0, res) is None
    assert (slots[0][3], slots[1][3]) == (2, 0)


def test_an_offset_past_what_a_load_can_hold():
    lb, tb = pair()
    lb.struct("big", 8, [("far", lb.int("int", 4), 0)])
    tb.struct("big", 40000, [("far", tb.int("int", 4), 39990 * 8)])
    res = resolve(lb.parse(), tb.parse_lazy(), "big", "0:0")
    with pytest.raises(core.CoreError, match=r"the offset 39990 does not fit a load/store \(at most 32767\)"):
        core.patch([[0x61, 0x21, 0, 0]], 0, res)
    slots = [[0x07, 0x01, 0, 0]]  # r1 += offset: an immediate holds it
    core.patch(slots, 0, res)
    assert slots[0][3] == 39990


# --- malformed local BTF ---------------------------------------------------------------------------


def test_relocations_of_anonymous_types_are_refused():
    lb, tb = pair()
    lb.struct("", 4, [("x", lb.int("int", 4), 0)])
    local = lb.parse()
    with pytest.raises(core.CoreError, match="relocations of anonymous types are not supported"):
        core.Resolver(local, tb.parse_lazy()).resolve(CoreRelo(0, 2, "0:0", "field_byte_offset"))


def test_type_ids_outside_the_local_btf():
    lb = BtfBuilder()
    lb.int("int", 4)
    with pytest.raises(core.CoreError, match="relocation names type id 9, which the object's BTF does not have"):
        core.local_spec(lb.parse(), CoreRelo(0, 9, "0", "type_size"))


def test_reference_loops_in_the_target_do_not_hang():
    lb, tb = pair()
    lb.struct("s", 8, [("p", lb.ptr(lb.int("int", 4)), 0)])
    # target: s.p is a typedef chain that loops (a -> b -> a)
    tb.int("int", 4)
    tb.typedef("a", 3)
    tb.typedef("b", 2)
    tb.struct("s", 8, [("p", 2, 0)])
    with pytest.raises((core.CoreError, BTFError), match="loop"):
        resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")


# --- the lazy target reader on damaged data -------------------------------------------------------


def _lazy(data: bytes):
    from ebpflite.loader.btf import parse_target_btf

    return parse_target_btf(data, "target.btf")


def test_lazy_btf_refuses_damaged_headers_and_types():
    good = BtfBuilder()
    good.struct("s", 4, [("x", good.int("int", 4), 0)])
    data = bytearray(good.data())
    with pytest.raises(BTFError, match="BTF header truncated"):
        _lazy(bytes(data[:10]))
    bad_kind = bytearray(data)
    bad_kind[24 + 7] = 25 << 0  # type [1]'s kind byte: 25 is no kind
    with pytest.raises(BTFError, match=r"type \[1\] has unknown kind 25"):
        _lazy(bytes(bad_kind))
    short = bytearray(data)
    short[24 + 16 + 4:24 + 16 + 6] = (9).to_bytes(2, "little")  # struct [2] claims 9 members: past the end
    with pytest.raises(BTFError, match="extends past the type section|truncated"):
        _lazy(bytes(short))
    dangling = BtfBuilder()
    dangling.struct("s", 4, [("x", 7, 0)])  # member of type 7: there is no such type
    lazy = _lazy(dangling.data())
    with pytest.raises(BTFError, match=r"type \[1\] \(STRUCT 's'\) refers to type 7, but there are only 1 types"):
        lazy[1]


# --- every refusal, with its message --------------------------------------------------------------


def test_relocation_of_void():
    """A field relocation whose type is a typedef of void has nothing to index into."""
    lb, tb = pair()
    lb.typedef("nothing", 0)
    tb.typedef("nothing", 0)
    with pytest.raises(core.CoreError, match="^relocation of void$"):
        resolve(lb.parse(), tb.parse_lazy(), "nothing", "0:0")


def test_bitfield_of_void():
    lb, tb = pair()
    lb.struct("s", 4, [("bits", 0, 0, 3)])  # a 3-bit member of type void
    tb.struct("s", 4, [("bits", tb.int("int", 4), 0, 3)])
    with pytest.raises(core.CoreError, match="^bitfield of void$"):
        resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")


@pytest.mark.parametrize("access,message", [
    ("-1", "access string '-1' is malformed: index -1 is negative"),
    ("0:-2", "access string '0:-2' is malformed: index -2 is negative"),
    (":".join(["0"] * 65), "is malformed: 65 parts, at most 64 (libbpf's BPF_CORE_SPEC_MAX_LEN)"),
])
def test_malformed_access_strings(access, message):
    lb = BtfBuilder()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    with pytest.raises(core.CoreError, match=re.escape(message)):
        core.local_spec(lb.parse(), relo(lb.parse(), "s", access))


def test_a_target_field_of_no_load_size():
    """A u64 here, an unsigned __int128 in the target: unsigned, so resizable, but no load reads 16 bytes."""
    lb, tb = pair()
    lb.struct("s", 8, [("v", lb.int("unsigned long", 8), 0)])
    tb.struct("s", 16, [("v", tb.int("unsigned __int128", 16), 0)])
    res = resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")
    with pytest.raises(core.CoreError, match=r"the target field's size 16 is not a load/store size"):
        core.patch([[0x79, 0x21, 0, 0]], 0, res)  # r1 = *(u64 *)(r2 + 0)


def test_candidates_that_give_different_values():
    """Two flavours place x at the same offset but disagree on its size: libbpf's "relocation decision
    ambiguity", and the same for an enumerator with two values."""
    lb, tb = pair()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    lb.enum("e", [("A", 1)])
    tb.struct("s___a", 4, [("x", tb.int("int", 4), 0)])
    tb.struct("s___b", 8, [("x", tb.int("long", 8), 0)])
    tb.enum("e___a", [("A", 5)])
    tb.enum("e___b", [("A", 6)])
    local, target = lb.parse(), tb.parse_lazy()
    with pytest.raises(core.CoreError, match=r"several types 's' that give different values \(4 and 8\)"):
        resolve(local, target, "s", "0:0", "field_byte_size")
    with pytest.raises(core.CoreError, match=r"several types 'e' that give different values \(5 and 6\)"):
        resolve(local, target, "e", "0", "enumval_value")


@pytest.mark.parametrize("value", [1 << 40, -(1 << 40)])
def test_a_value_that_does_not_fit_an_immediate(value):
    """A 64-bit enumerator relocated into `r1 = imm`: libbpf truncates it silently; we refuse."""
    lb, tb = pair()
    lb.enum64("big", [("V", 1)], signed=value < 0)
    tb.enum64("big", [("V", value)], signed=value < 0)
    res = resolve(lb.parse(), tb.parse_lazy(), "big", "0", "enumval_value")
    with pytest.raises(core.CoreError, match=rf"the value {value} does not fit a 32-bit immediate"):
        core.patch([[0xB7, 0x01, 0, 1]], 0, res)
    slots = [[0x18, 0x01, 0, 1], [0, 0, 0, 0]]  # an lddw holds it
    core.patch(slots, 0, res)
    assert (slots[0][3] & 0xFFFFFFFF | (slots[1][3] & 0xFFFFFFFF) << 32) == value & (1 << 64) - 1


def _nested(b: BtfBuilder, depth: int, wrap) -> int:
    tid = b.int("int", 4)
    for _ in range(depth):
        tid = wrap(b, tid)
    return tid


@pytest.mark.parametrize("case", ["arrays in a field", "pointers in type_exists", "pointers in type_matches"])
def test_type_nesting_too_deep(case):
    """32 levels of arrays (which still have a size) or 33 of pointers: past the 32 steps libbpf's
    compatibility checks take, a refusal, not a hang."""
    lb, tb = pair()
    if case == "arrays in a field":
        lb.struct("s", 4, [("x", _nested(lb, 32, lambda b, t: b.array(t, 1)), 0)])
        tb.struct("s", 4, [("x", _nested(tb, 32, lambda b, t: b.array(t, 1)), 0)])
        access, kind = "0:0", "field_byte_offset"
    else:
        lb.typedef("deep", _nested(lb, 33, lambda b, t: b.ptr(t)))
        tb.typedef("deep", _nested(tb, 33, lambda b, t: b.ptr(t)))
        access, kind = "0", "type_exists" if case == "pointers in type_exists" else "type_matches"
    with pytest.raises(core.CoreError, match="^type nesting too deep"):
        resolve(lb.parse(), tb.parse_lazy(), "s" if kind.startswith("field") else "deep", access, kind)


def test_struct_nesting_too_deep():
    """The member is found 33 anonymous structs down in the target: past the limit, refused."""
    lb, tb = pair()
    lb.struct("s", 4, [("x", lb.int("int", 4), 0)])
    tid = tb.struct("", 4, [("x", tb.int("int", 4), 0)])
    for _ in range(33):
        tid = tb.struct("", 4, [("", tid, 0)])
    tb.struct("s", 4, [("", tid, 0)])
    with pytest.raises(core.CoreError, match="^struct nesting too deep"):
        resolve(lb.parse(), tb.parse_lazy(), "s", "0:0")


def _damaged_header(what: str) -> bytes:
    good = BtfBuilder()
    good.struct("s", 4, [("x", good.int("int", 4), 0)])
    data = bytearray(good.data())
    if what == "big-endian":
        data[0:2] = (0x9FEB).to_bytes(2, "little")
    elif what == "unaligned type section":
        data[8:12] = (2).to_bytes(4, "little")  # type_off 2
        data[12:16] = (int.from_bytes(data[12:16], "little") - 2).to_bytes(4, "little")
    elif what == "string section without a leading empty string":
        str_off = int.from_bytes(data[16:20], "little")
        data[24 + str_off] = ord("x")
    elif what == "version":
        data[2] = 2
    return bytes(data)


@pytest.mark.parametrize("what,message", [
    ("big-endian", "big-endian BTF is not supported"),
    ("unaligned type section", "BTF type section offset 2 is not 4-byte aligned"),
    ("string section without a leading empty string", "BTF string section does not start with an empty string"),
    ("version", "unsupported BTF version 2"),
])
def test_eager_and_lazy_readers_refuse_a_damaged_header_alike(what, message):
    """One header check for both readers (an object's .BTF and a kernel-sized --btf target)."""
    from ebpflite.loader.btf import parse_btf

    data = _damaged_header(what)
    with pytest.raises(BTFError, match=re.escape(message)):
        parse_btf(data)
    with pytest.raises(BTFError, match=re.escape(message)):
        _lazy(data)
