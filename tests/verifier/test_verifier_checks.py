"""Every check of the verifier, fed a program that breaks it, with its message.

Programs are built from mnemonics (``verifier_testlib``); each test asserts
the verdict, the check that fired, the pc and the words a user would look
for. Safe variants next to them show the check does not fire spuriously.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from verifier_testlib import CALL, EXIT, LD, MAP, K, X, prog

from ebpflite import verifier
from ebpflite.errors import VerifierError
from ebpflite.helpers import registry
from ebpflite.vm.insn import make

HASH = SimpleNamespace(name="h", type="hash", key_size=4, value_size=8, max_entries=8, flags=0)
WHASH = SimpleNamespace(name="h8", type="hash", key_size=8, value_size=8, max_entries=8, flags=0)
RDONLY = SimpleNamespace(name="ro", type="array", key_size=4, value_size=16, max_entries=1, flags=1 << 7)
RDONLY_LOCK = SimpleNamespace(name="locked", type="array", key_size=4, value_size=16, max_entries=1, flags=0)
RINGBUF = SimpleNamespace(name="rb", type="ringbuf", key_size=0, value_size=0, max_entries=4096, flags=0)


def first_error(p, **kw):
    report = verifier.verify(p, **kw)
    assert not report.ok, report.text()
    return report.errors[0]


def ok(p, **kw):
    report = verifier.verify(p, **kw)
    assert report.ok, report.text()
    return report


def ret(value=0):
    return [K("mov", 0, value), EXIT()]


#: xdp prologue: r2 = data, r3 = data_end
PKT = [LD("ldxw", 2, 1, 0), LD("ldxw", 3, 1, 4)]
#: the same for ebpf-for-windows (64-bit pointers in xdp_md)
WPKT = [LD("ldxdw", 2, 1, 0), LD("ldxdw", 3, 1, 8)]


def bounded(n, body, fail_value=1):
    """PKT; if data + n > data_end goto out; body; out: return fail_value."""
    return PKT + [X("mov", 4, 2), K("add", 4, n), X("jgt", 4, 3, len(body))] + body + ret(fail_value)


def lookup(map_index=0):
    """*(u32 *)(fp - 4) = 0; r0 = bpf_map_lookup_elem(map, fp - 4)."""
    return [make("stw", dst=10, off=-4, imm=0), X("mov", 2, 10), K("add", 2, -4), MAP(1, map_index), CALL(1)]


# --- registers -----------------------------------------------------------------------------


def test_reading_an_uninitialised_register():
    e = first_error(prog([X("mov", 0, 7), EXIT()]))
    assert (e.check, e.pc) == ("uninit_reg", 0)
    assert "r7 is read" in e.message and "before it is written" in e.message


def test_helper_calls_clobber_r1_to_r5():
    e = first_error(prog([CALL(5), X("mov", 0, 1), EXIT()]))  # ktime_get_ns, then read r1
    assert e.check == "uninit_reg" and "r1" in e.message and "clobbered by helper calls" in e.hint


def test_exit_needs_r0():
    e = first_error(prog([EXIT()]))
    assert e.check == "uninit_reg" and "return value" in e.message


def test_paths_with_different_types_are_kept_apart():
    # r3 is a number when r2 == 0 and a stack pointer otherwise; it is dereferenced only when r2 != 0
    body = [LD("ldxw", 2, 1, 16), K("mov", 3, 1), K("jeq", 2, 0, 2), X("mov", 3, 10), K("add", 3, -8),
            make("stdw", dst=10, off=-8, imm=7), K("jeq", 2, 0, 1), LD("ldxdw", 4, 3, 0)]
    ok(prog(body + ret()), prog_type="xdp")
    # returning r3 is still caught, on the path where it is a pointer
    e = first_error(prog(body + [X("mov", 0, 3), EXIT()]), prog_type="xdp")
    assert e.check == "pointer_leak" and "stack pointer" in e.message


def test_a_register_with_different_types_past_the_state_bound(monkeypatch):
    from ebpflite.verifier import fixpoint

    monkeypatch.setattr(fixpoint, "MAX_STATES", 8)
    # four diamonds, each giving one register a context or a stack pointer: 16 shapes > MAX_STATES
    body = [LD("ldxw", 6, 1, 16)]
    for r in (2, 3, 4, 5):
        body += [X("mov", r, 1), K("jset", 6, 1 << r, 1), X("mov", r, 10)]
    body += [X("mov", 0, r) for r in (2, 3, 4, 5)]
    e = first_error(prog(body + ret()), prog_type="xdp")
    assert e.check == "mixed_type" and "different types" in e.message


# --- pointer leaks -----------------------------------------------------------------------------


def test_returning_a_pointer_leaks_it():
    e = first_error(prog([X("mov", 0, 10), EXIT()]))
    assert e.check == "pointer_leak" and "returns a stack pointer" in e.message
    assert e.registers["r0"].startswith("stack pointer")


def test_storing_a_pointer_into_a_map_value():
    p = prog(lookup() + [K("jeq", 0, 0, 1), X("stxdw", 0, 10, 0)] + ret(), maps=[HASH])
    e = first_error(p)
    assert e.check == "pointer_leak" and "into map value memory" in e.message


def test_spilling_a_pointer_to_the_stack_keeps_its_type():
    p = prog(bounded(1, [X("stxdw", 10, 2, -8), LD("ldxdw", 5, 10, -8), LD("ldxb", 0, 5, 0), EXIT()]),
             prog_type="xdp")
    ok(p)


def test_a_pointer_passed_as_a_number_argument():
    send_signal = registry.by_name("send_signal", "linux").number  # (ANYTHING)
    e = first_error(prog([X("mov", 1, 10), CALL(send_signal)] + ret()))
    assert e.check == "pointer_leak" and "argument 1 of bpf_send_signal must be a number" in e.message
    ok(prog([K("mov", 1, 9), CALL(send_signal)] + ret()))


def test_32_bit_copy_of_a_pointer():
    e = first_error(prog([X("mov32", 0, 10), EXIT()]))
    assert e.check == "pointer_leak" and "truncates the pointer" in e.message


# --- dereferences --------------------------------------------------------------------------------


def test_dereferencing_a_number():
    e = first_error(prog([K("mov", 1, 100), LD("ldxw", 0, 1, 0), EXIT()]))
    assert e.check == "deref_number" and "r1 is a number, not a pointer" in e.message


def test_dereferencing_packet_end_and_maps():
    e = first_error(prog(PKT + [LD("ldxb", 0, 3, 0), EXIT()], prog_type="xdp"))
    assert e.check == "bad_deref" and "packet end" in e.message
    e = first_error(prog([MAP(1, 0), LD("ldxw", 0, 1, 0), EXIT()], maps=[HASH]))
    assert e.check == "bad_deref" and "map" in e.message


def test_map_lookup_result_needs_a_null_check():
    e = first_error(prog(lookup() + [LD("ldxdw", 0, 0, 0), EXIT()], maps=[HASH]))
    assert e.check == "null_deref" and "may be NULL" in e.message and "NULL" in e.hint
    ok(prog(lookup() + [K("jeq", 0, 0, 2), LD("ldxdw", 0, 0, 0), EXIT()] + ret(), maps=[HASH]))


def test_null_check_applies_to_copies():
    body = lookup() + [X("mov", 6, 0), K("jne", 0, 0, 2)] + ret() + [LD("ldxdw", 0, 6, 0), EXIT()]
    ok(prog(body, maps=[HASH]))


def test_atomics_only_on_stack_and_map_values():
    e = first_error(prog(bounded(8, [K("mov", 5, 1), X("lock add", 2, 5, 0)] + ret()), prog_type="xdp"))
    assert e.check == "atomic_region" and "packet" in e.message
    body = lookup() + [K("jeq", 0, 0, 2), K("mov", 5, 1), X("lock add", 0, 5, 0)] + ret()
    ok(prog(body, maps=[HASH]))


# --- stack --------------------------------------------------------------------------------------------


def test_stack_bounds():
    e = first_error(prog([make("stdw", dst=10, off=-520, imm=0)] + ret()))
    assert e.check == "stack_bounds" and "outside the frame [-512, 0)" in e.message
    e = first_error(prog([make("stdw", dst=10, off=-4, imm=0)] + ret()))
    assert e.check == "stack_bounds"


def test_uninitialised_stack_read():
    """PREVAIL (ebpf-for-windows) refuses it; the kernel lets root read it (an unknown value): a note."""
    body = [make("stw", dst=10, off=-8, imm=1), LD("ldxdw", 0, 10, -8), EXIT()]
    e = first_error(prog(body, platform="windows", prog_type="sample"))
    assert e.check == "uninit_stack" and "fp-4..fp-1" in e.message
    report = ok(prog(body, platform="linux", prog_type="xdp"))
    [note] = report.notes
    assert note.check == "uninit_stack" and note.pc == 1 and "reads uninitialised stack bytes fp-4..fp-1" in note.text()
    assert "allow" in note.message
    # the value read is unknown: using it as an offset needs a bound like any other number
    e = first_error(prog(body[:2] + [X("mov", 1, 10), K("add", 1, -16), X("add", 1, 0), make("stb", dst=1, imm=0)]
                         + ret(), platform="linux", prog_type="xdp"))
    assert e.check == "unbounded_offset"


def test_uninitialised_stack_passed_to_a_helper():
    """A half-written map key: the kernel (root) accepts, PREVAIL refuses."""
    body = [make("stw", dst=10, off=-8, imm=1), X("mov", 2, 10), K("add", 2, -8), MAP(1, 0), CALL(1)] + ret()
    e = first_error(prog(body, platform="windows", prog_type="sample", maps=[WHASH]))
    assert e.check == "uninit_stack" and "fp-4 is uninitialised" in e.message
    report = ok(prog(body, platform="linux", prog_type="xdp", maps=[WHASH]))
    assert [n.pc for n in report.notes] == [5] and "the helper reads 8 bytes at fp-8" in report.notes[0].message


def test_partially_written_slots_are_tracked_per_byte():
    p = prog([make("stw", dst=10, off=-8, imm=0), make("stw", dst=10, off=-4, imm=0), LD("ldxdw", 0, 10, -8),
              EXIT()])
    report = ok(p)
    assert report.max_insns == 4


def test_variable_stack_index_must_be_bounded():
    p = prog([LD("ldxw", 2, 1, 16), X("mov", 3, 10), X("add", 3, 2), LD("ldxb", 0, 3, -64), EXIT()])
    e = first_error(p, prog_type="xdp")
    assert e.check == "unbounded_offset" and "not bounded" in e.message and e.hint


# --- context ------------------------------------------------------------------------------------------


def test_context_fields():
    e = first_error(prog([LD("ldxw", 0, 1, 24), EXIT()], prog_type="xdp"))
    assert e.check == "ctx_access" and "not a field of xdp_md" in e.message
    assert e.formula == "valid_access(r1.offset+24, width=4)"
    e = first_error(prog([make("stw", dst=1, off=12, imm=1)] + ret(), prog_type="xdp"))
    assert e.check == "ctx_access" and "ingress_ifindex of xdp_md is read-only for xdp programs" in e.message
    e = first_error(prog([LD("ldxh", 0, 1, 0), EXIT()], prog_type="xdp"))
    assert "field data of xdp_md may only be read whole (4 bytes), not 2 bytes at offset 0" in e.message
    ok(prog([make("stw", dst=1, off=8, imm=1)] + ret(), prog_type="sched_cls"))  # skb->mark


def test_context_with_a_variable_offset():
    p = prog([LD("ldxw", 2, 1, 16), K("and", 2, 4), X("add", 1, 2), LD("ldxw", 0, 1, 0), EXIT()])
    e = first_error(p, prog_type="xdp")
    assert e.check == "ctx_access" and "variable" in e.message


def test_windows_contexts():
    # ebpf-for-windows xdp_md: 64-bit data/data_end at 0 and 8
    p = prog([LD("ldxdw", 2, 1, 0), LD("ldxdw", 3, 1, 8), X("mov", 4, 2), K("add", 4, 1), X("jgt", 4, 3, 2),
              LD("ldxb", 0, 2, 0), EXIT()] + ret(1))
    ok(p, prog_type="xdp", platform="windows")
    e = first_error(p, prog_type="xdp", platform="linux")
    assert e.check == "ctx_access"
    # bind_md: the app id is the "packet", operation a u32 at 44
    ok(prog([LD("ldxw", 0, 1, 44), EXIT()]), prog_type="bind", platform="windows")


# --- packet ---------------------------------------------------------------------------------------------


def test_packet_bounds_message():
    e = first_error(prog(bounded(14, [LD("ldxb", 0, 2, 14), EXIT()]), prog_type="xdp"))
    assert e.check == "packet_bounds"
    assert e.message.startswith("Upper bound must be at most 14")
    assert e.formula == "valid_access(r2.offset+14, width=1) <= 14"
    assert e.registers["r2"] == "packet pointer off=0 range=14"
    assert "data_end" in e.hint
    ok(prog(bounded(14, [LD("ldxb", 0, 2, 13), EXIT()]), prog_type="xdp"))


@pytest.mark.parametrize("op,swap,proven", [("jgt", False, 8), ("jge", False, 9), ("jlt", True, 8),
                                            ("jle", True, 9)])
def test_packet_bounds_learned_from_either_operand_order(op, swap, proven):
    """``if (data + 8 OP end) goto fail``: the fall-through proves 8 bytes (<=) or 9 (<)."""
    cmp = X(op, 3, 4, 2) if swap else X(op, 4, 3, 2)

    def reading(offset):
        return prog(PKT + [X("mov", 4, 2), K("add", 4, 8), cmp, LD("ldxb", 0, 2, offset), EXIT()] + ret(1),
                    prog_type="xdp")

    ok(reading(proven - 1))
    e = first_error(reading(proven))
    assert e.message.startswith(f"Upper bound must be at most {proven}")


def test_packet_bounds_through_32_bit_jumps():
    """The kernel learns packet ranges from 64-bit comparisons only; PREVAIL from 32-bit ones too."""
    def program(pkt, platform):
        return prog(pkt + [X("mov", 4, 2), K("add", 4, 4), X("jgt32", 4, 3, 2), LD("ldxw", 0, 2, 0), EXIT()]
                    + ret(1), prog_type="xdp", platform=platform)

    ok(program(WPKT, "windows"))
    e = first_error(program(PKT, "linux"))
    assert e.check == "packet_bounds" and "no bytes are proven" in e.message


@pytest.mark.parametrize("op,proves", [("jslt", False), ("jlt", True)])
def test_signed_packet_comparisons_prove_nothing_on_linux(op, proves):
    """``if (data + 8 OP end) goto ok``: the kernel learns from unsigned orderings only."""
    p = prog(PKT + [X("mov", 4, 2), K("add", 4, 8), X(op, 4, 3, 2)] + ret(1) + [LD("ldxb", 0, 2, 0), EXIT()],
             prog_type="xdp")
    if proves:
        ok(p)
    else:
        assert first_error(p).check == "packet_bounds"


def test_a_strict_test_of_data_itself_proves_nothing_on_linux():
    """``if (data < data_end)`` proves a byte for PREVAIL, nothing for the kernel (off 0, right-open)."""
    def program(pkt, platform):
        return prog(pkt + [X("jlt", 2, 3, 2)] + ret(1) + [LD("ldxb", 0, 2, 0), EXIT()], prog_type="xdp",
                    platform=platform)

    ok(program(WPKT, "windows"))
    assert first_error(program(PKT, "linux")).check == "packet_bounds"


def test_variable_packet_offset_needs_its_own_check():
    # r5 = ihl*4 in [0, 60]; r2 += r5; read r2[0] without a new check
    def program(tail):
        head = PKT + [X("mov", 4, 2), K("add", 4, 1), X("jgt", 4, 3, 4 + len(tail)), LD("ldxb", 5, 2, 0),
                      K("and", 5, 15), K("lsh", 5, 2), X("add", 2, 5)]
        return prog(head + tail + ret(1), prog_type="xdp")

    e = first_error(program([LD("ldxb", 0, 2, 0), EXIT()]))
    assert e.check == "packet_bounds" and "no bytes are proven" in e.message
    ok(program([X("mov", 4, 2), K("add", 4, 2), X("jgt", 4, 3, 2), LD("ldxh", 0, 2, 0), EXIT()]))


def test_negative_packet_offsets():
    e = first_error(prog(bounded(8, [LD("ldxb", 0, 2, -1), EXIT()]), prog_type="xdp"))
    assert e.check == "packet_bounds" and "at least 0" in e.message


def test_read_only_packets():
    e = first_error(prog(PKT[:0] + [LD("ldxw", 2, 1, 76), LD("ldxw", 3, 1, 80), X("mov", 4, 2), K("add", 4, 1),
                                    X("jgt", 4, 3, 1), make("stb", dst=2, imm=0)] + ret(1)),
                    prog_type="cgroup_skb")
    assert e.check == "readonly" and "may not write to the packet" in e.message


def test_helpers_that_change_the_packet_invalidate_pointers():
    body = bounded(1, [X("mov", 6, 2), K("mov", 2, 0), CALL(44), LD("ldxb", 0, 6, 0), EXIT()])
    e = first_error(prog(body, prog_type="xdp"))
    assert e.check == "deref_number" and "reload them" in e.hint


@pytest.mark.parametrize("least,proven", [(8, 8), (7, 7)])
def test_a_test_on_the_distance_to_the_end_proves_a_range(least, proven):
    """``len = data_end - data; if (len < least) goto out``: PREVAIL proves ``least`` bytes at data."""
    def reading(width, pkt=WPKT, platform="windows"):
        return prog(pkt + [X("mov", 4, 3), X("sub", 4, 2), K("jlt", 4, least, 2), LD(width, 0, 2, 0), EXIT()]
                    + ret(1), prog_type="xdp", platform=platform)

    if proven >= 8:
        ok(reading("ldxdw"))
    else:
        e = first_error(reading("ldxdw"))
        assert e.check == "packet_bounds" and e.message.startswith(f"Upper bound must be at most {proven}")
        assert "= end - packet(id=0, off=0)" in verifier.verify(reading("ldxdw"), verbose=True).text(verbose=True)
    # the kernel keeps no such link: the length is a plain number and nothing is proven
    e = first_error(reading("ldxb", PKT, "linux"))
    assert e.check == "packet_bounds" and "no bytes are proven" in e.message


def test_data_not_equal_to_data_end_proves_one_byte():
    """PREVAIL only: the kernel learns nothing from == or != with data_end."""
    def program(width, pkt=WPKT, platform="windows"):
        return prog(pkt + [X("jeq", 3, 2, 2), LD(width, 0, 2, 0), EXIT()] + ret(1), prog_type="xdp",
                    platform=platform)

    ok(program("ldxb"))
    e = first_error(program("ldxh"))
    assert e.message.startswith("Upper bound must be at most 1")
    assert first_error(program("ldxb", PKT, "linux")).check == "packet_bounds"


def test_a_distance_to_the_end_is_forgotten_when_the_packet_changes():
    # len = end - data; bpf_xdp_adjust_head; reload data/end; if (len < 8) out; *(u64 *)data: unproven
    body = WPKT + [X("mov", 6, 1), X("mov", 7, 3), X("sub", 7, 2), X("mov", 1, 6), K("mov", 2, 0), CALL(0x10000),
                   LD("ldxdw", 2, 6, 0), LD("ldxdw", 3, 6, 8), K("jlt", 7, 8, 2), LD("ldxdw", 0, 2, 0), EXIT()]
    e = first_error(prog(body + ret(1), prog_type="xdp", platform="windows"))
    assert e.check == "packet_bounds" and "no bytes are proven" in e.message


def test_legacy_packet_loads():
    e = first_error(prog([X("mov", 6, 1), make("ldabsb", imm=0), EXIT()]), prog_type="xdp")
    assert e.check == "ld_abs" and "not allowed in xdp" in e.message
    ok(prog([X("mov", 6, 1), make("ldabsb", imm=0), EXIT()]), prog_type="socket_filter")
    e = first_error(prog([make("ldabsb", imm=0), EXIT()]), prog_type="socket_filter")
    assert "r6" in e.message


# --- map values ---------------------------------------------------------------------------------------------


def test_map_value_bounds():
    e = first_error(prog(lookup() + [K("jeq", 0, 0, 2), LD("ldxdw", 0, 0, 4), EXIT()] + ret(), maps=[HASH]))
    assert e.check == "map_bounds" and "at most 8" in e.message and "the map value has 8 bytes" in e.message


def test_map_value_with_a_bounded_index():
    body = lookup() + [K("jeq", 0, 0, 5), LD("ldxw", 6, 0, 0), K("and", 6, 4), X("add", 0, 6),
                       LD("ldxw", 0, 0, 0), EXIT()] + ret()
    ok(prog(body, maps=[HASH]))
    body[7] = K("and", 6, 7)  # up to offset 7 + 4 bytes > 8
    e = first_error(prog(body, maps=[HASH]))
    assert e.check == "map_bounds" and e.hint


def test_read_only_maps():
    p = prog([make("lddw", dst=1, imm=0, imm_hi=0, pseudo=6), make("stw", dst=1, off=0, imm=1)] + ret(),
             maps=[RDONLY])
    e = first_error(p)
    assert e.check == "readonly" and "read-only" in e.message
    ok(prog([make("lddw", dst=1, imm=0, pseudo=6), LD("ldxw", 0, 1, 12), EXIT()], maps=[RDONLY]))


def test_lddw_map_errors():
    e = first_error(prog([MAP(1, 3)] + ret(), maps=[HASH]))
    assert e.check == "bad_map" and "has 1 maps" in e.message
    e = first_error(prog([make("lddw", dst=1, imm=0, imm_hi=16, pseudo=6)] + ret(), maps=[RDONLY]))
    assert e.check == "map_bounds"
    e = first_error(prog([make("lddw", dst=1, imm=0, pseudo=3)] + ret()))
    assert e.check == "unsupported" and "VAR_ADDR" in e.message


# --- pointer arithmetic --------------------------------------------------------------------------------------


def test_pointer_arithmetic_rules():
    e = first_error(prog([X("mov", 1, 10), K("mul", 1, 2)] + ret()))
    assert e.check == "pointer_arith" and "only add and sub" in e.message
    e = first_error(prog([X("mov", 1, 10), K("add32", 1, 2)] + ret()))
    assert e.check == "pointer_arith" and "32-bit" in e.message
    e = first_error(prog(PKT + [K("add", 3, 1)] + ret(), prog_type="xdp"))
    assert e.check == "pointer_arith" and "packet end" in e.message
    e = first_error(prog(lookup() + [K("add", 0, 1)] + ret(), maps=[HASH]))
    assert e.check == "pointer_arith" and "NULL" in e.hint
    e = first_error(prog(PKT + [X("mov", 5, 10), X("sub", 5, 2)] + ret(), prog_type="xdp"))
    assert "different regions" in e.message
    e = first_error(prog([X("mov", 1, 10), K("neg", 1, 0)] + ret()))
    assert e.check == "pointer_arith"


def test_packet_length_from_pointer_subtraction_is_a_number():
    ok(prog(PKT + [X("mov", 0, 3), X("sub", 0, 2), K("and", 0, 1), EXIT()], prog_type="xdp"))


# --- helpers ---------------------------------------------------------------------------------------------------


def test_helper_errors(monkeypatch):
    e = first_error(prog([CALL(99999)] + ret()))
    assert e.check == "helper" and "unknown helper #99999" in e.message
    assert all(s.known for s in registry.profile("linux").values()), "every Linux helper has a prototype"
    # a helper table entry without a prototype (a custom profile) is refused, not guessed at
    real = registry.profile
    monkeypatch.setattr(registry, "profile", lambda platform: {
        **real(platform), 7777: registry.HelperSpec(7777, "bpf_custom", (), registry.Ret.INTEGER, known=False)})
    e = first_error(prog([CALL(7777)] + ret()))
    assert e.check == "helper" and "bpf_custom#7777 has no prototype" in e.message
    monkeypatch.undo()
    e = first_error(prog([K("mov", 1, 0), X("mov", 2, 10), CALL(1)] + ret()))
    assert e.check == "helper_arg" and "must be a map" in e.message


def test_helper_memory_arguments():
    # bpf_trace_printk(fp-8, size): size must be bounded, non-zero, memory initialised
    def printk(size_insns):
        return prog([make("stdw", dst=10, off=-8, imm=0), X("mov", 1, 10), K("add", 1, -8)] + size_insns
                    + [CALL(6)] + ret())
    ok(printk([K("mov", 2, 8)]))
    e = first_error(printk([K("mov", 2, 0)]))
    assert e.check == "helper_arg" and "may be zero" in e.message
    e = first_error(printk([K("mov", 2, 16)]))
    assert e.check == "stack_bounds"
    e = first_error(printk([LD("ldxdw", 2, 10, -8), K("add", 2, -1)]))
    assert e.check == "helper_arg" and "not bounded" in e.message or "negative" in e.message


@pytest.mark.parametrize("extra,leak", [([], False), ([K("mov", 3, 7)], False),
                                         ([K("mov", 3, 7), K("mov", 4, 8), K("mov", 5, 9)], False),
                                         ([X("mov", 3, 10)], True), ([K("mov", 3, 1), X("mov", 5, 10)], True)])
def test_trace_printk_takes_up_to_three_optional_numbers(extra, leak):
    """The kernel's prototype is (fmt, size) + values: values are optional, but never addresses."""
    spec = registry.by_name("trace_printk", "linux")
    assert len(spec.args) == 2 and spec.varargs == 3
    p = prog([make("stdw", dst=10, off=-8, imm=0), X("mov", 1, 10), K("add", 1, -8), K("mov", 2, 8)] + extra
             + [CALL(6)] + ret())
    if leak:
        e = first_error(p)
        assert e.check == "pointer_leak" and "bpf_trace_printk must be a number" in e.message
    else:
        ok(p)


def test_helper_context_argument():
    e = first_error(prog([X("mov", 1, 10), K("mov", 2, 0), CALL(44)] + ret()), prog_type="xdp")
    assert e.check == "helper_arg" and "context pointer" in e.message


def test_ringbuf_records_need_a_null_check_and_are_released():
    reserve = [MAP(1, 0), K("mov", 2, 8), K("mov", 3, 0), CALL(131)]
    e = first_error(prog(reserve + [make("stdw", dst=0, imm=1)] + ret(), maps=[RINGBUF]))
    assert e.check == "null_deref"
    submit = [K("jeq", 0, 0, 4), make("stdw", dst=0, imm=1), X("mov", 1, 0), K("mov", 2, 0), CALL(132)] + ret()
    ok(prog(reserve + submit, maps=[RINGBUF]))
    e = first_error(prog(reserve + [K("jeq", 0, 0, 2), make("stdw", dst=0, off=8, imm=1)] + ret(),
                         maps=[RINGBUF]))
    assert e.check == "map_bounds" and "8 bytes" in e.message


def test_ringbuf_records_must_be_released():
    reserve = [MAP(1, 0), K("mov", 2, 8), K("mov", 3, 0), CALL(131)]
    e = first_error(prog(reserve + [K("jeq", 0, 0, 1), make("stdw", dst=0, imm=1)] + ret(), maps=[RINGBUF]))
    assert e.check == "unreleased" and "ring buffer record" in e.message and "submit" in e.hint
    discard = [K("jeq", 0, 0, 3), X("mov", 1, 0), K("mov", 2, 0), CALL(133)] + ret()
    ok(prog(reserve + discard, maps=[RINGBUF]))


def test_kfuncs_and_callx():
    e = first_error(prog([make("call kfunc", imm=5)] + ret()))
    assert e.check == "unsupported" and "kfunc" in e.hint
    ok(prog([K("mov", 3, 5), make("callx", dst=3)] + ret()))  # callx of ktime_get_ns
    e = first_error(prog([LD("ldxw", 3, 1, 16), make("callx", dst=3)] + ret()), prog_type="xdp")
    assert e.check == "helper" and "not known" in e.message


# --- exit, calls, termination -------------------------------------------------------------------------------


def test_return_range():
    e = first_error(prog(ret(7)), prog_type="cgroup_skb")
    assert e.check == "return_range" and "[0, 1]" in e.message and e.formula == "0 <= r0 <= 1"
    assert e.registers == {"r0": "number 7"}
    ok(prog(ret(1)), prog_type="cgroup_skb")


def test_local_calls_and_stack_escape():
    # main: call f; exit.  f: r0 = r1 + 1; exit
    ok(prog([K("mov", 1, 4), make("call local", imm=1), EXIT(), X("mov", 0, 1), K("add", 0, 1), EXIT()]))
    e = first_error(prog([make("call local", imm=2), K("mov", 0, 0), EXIT(), X("mov", 0, 10), EXIT()]))
    assert e.check == "stack_escape"


def test_bounded_loops_report_iterations():
    report = ok(prog([K("mov", 0, 0), K("mov", 1, 0), X("add", 0, 1), K("add", 1, 1), K("jlt", 1, 10, -3), EXIT()]))
    assert report.loop_bounds == {2: 10}
    assert report.max_insns == 2 + 3 * 10 + 1
    assert "Program terminates within 33 instructions" in report.text()


def test_unbounded_loops_are_rejected():
    e = first_error(prog([LD("ldxw", 0, 1, 0), K("jeq", 0, 0, 1), K("ja", 0, 0, -2), EXIT()]), prog_type="xdp")
    assert e.check == "termination" and "may never end" in e.message


def test_the_complexity_limit():
    e = first_error(prog([K("mov", 0, 0), K("add", 0, 1), K("ja", off=-2)]), max_insns=5000)
    assert e.check == "complexity" and "5000 instructions" in e.message


def test_call_depth_limit():
    # nine nested functions: each calls the next
    insns = []
    for _ in range(9):
        insns += [make("call local", imm=1), EXIT()]
    insns += [K("mov", 0, 0), EXIT()]
    fixed = []
    for insn in insns:
        fixed.append(insn.with_fields(imm=1) if insn.spec.name == "call local" else insn)
    e = first_error(prog(fixed))
    assert e.check == "call_depth"


# --- callbacks ---------------------------------------------------------------------------------------------


def FUNC(dst, target_from_next):
    """``dst = &function`` (lddw with the code-address pseudo source: the target is pc + imm + 1)."""
    return make("lddw", dst=dst, imm=target_from_next, pseudo=4)


def loop_program(callback_body, nr=8, ctx_arg=None):
    """main: bpf_loop(nr, cb, ctx, 0); return 0.  cb follows main."""
    ctx = ctx_arg or [K("mov", 3, 0)]
    main = [K("mov", 1, nr), FUNC(2, 0), *ctx, K("mov", 4, 0), CALL(181), *ret()]
    size = sum(i.slots for i in main)
    main[1] = FUNC(2, size - 2)  # the lddw is at pc 1: target = 1 + imm + 1 = size
    return prog(main + callback_body, prog_type="xdp")


def test_bpf_loop_callback_is_verified_with_its_arguments():
    ok(loop_program([X("mov", 0, 1), K("and", 0, 1), EXIT()]))  # returns index & 1
    e = first_error(loop_program([X("mov", 0, 1), EXIT()]))  # returns the index: up to 7
    assert e.check == "return_range" and "must return a number in [0, 1]" in e.message
    e = first_error(loop_program([LD("ldxb", 0, 2, 0), EXIT()]))  # ctx is NULL here
    assert e.check == "deref_number"


def test_bpf_loop_callback_writes_the_callers_stack():
    # ctx = fp-8 holding 0; the callback stores index there; main reads it back after the loop
    ctx = [make("stdw", dst=10, off=-8, imm=0), X("mov", 3, 10), K("add", 3, -8)]
    body = [X("stxdw", 2, 1, 0), K("mov", 0, 0), EXIT()]
    report = ok(loop_program(body, ctx_arg=ctx))
    assert report.max_insns >= 8 * 3  # the callback's instructions count once per iteration


def test_callback_arguments_must_be_functions():
    e = first_error(prog([K("mov", 1, 8), K("mov", 2, 0), K("mov", 3, 0), K("mov", 4, 0), CALL(181), *ret()],
                         prog_type="xdp"))
    assert e.check == "helper_arg" and "must be a function" in e.message


def test_map_in_map_needs_an_inner_template():
    outer = SimpleNamespace(name="outer", type="array_of_maps", key_size=4, value_size=4, max_entries=2, flags=0)
    e = first_error(prog(lookup() + ret(), prog_type="xdp", maps=[outer]))
    assert e.check == "bad_map" and "no inner map template" in e.message
    # with a template: the inner map (after a NULL check) is a map for the next lookup
    with_inner = SimpleNamespace(**vars(outer), inner=HASH)
    inner_lookup = [X("mov", 1, 0), X("mov", 2, 10), K("add", 2, -4), CALL(1), K("jeq", 0, 0, 1),
                    LD("ldxdw", 0, 0, 0)]
    ok(prog(lookup() + [K("jeq", 0, 0, len(inner_lookup))] + inner_lookup + ret(), prog_type="xdp",
            maps=[with_inner]))
    e = first_error(prog(lookup() + inner_lookup + ret(), prog_type="xdp", maps=[with_inner]))
    assert e.check == "helper_arg" and "map or null" in e.message and "NULL" in e.hint
    e = first_error(prog(lookup() + [K("jeq", 0, 0, len(inner_lookup))] + inner_lookup[:-1]
                         + [LD("ldxdw", 0, 0, 8)] + ret(), prog_type="xdp", maps=[with_inner]))
    assert e.check == "map_bounds"


def test_callbacks_of_other_helpers_are_unsupported():
    main = [MAP(1, 0), FUNC(2, 0), K("mov", 3, 0), K("mov", 4, 0), CALL(209), *ret()]  # user_ringbuf_drain
    main[1] = FUNC(2, sum(i.slots for i in main) - 3)
    user_rb = SimpleNamespace(**{**vars(RINGBUF), "type": "user_ringbuf"})
    e = first_error(prog(main + ret(), prog_type="xdp", maps=[user_rb]))
    assert e.check == "unsupported" and "callbacks of bpf_user_ringbuf_drain" in e.message


def test_for_each_map_elem_key_is_read_only():
    main = [MAP(1, 0), FUNC(2, 0), K("mov", 3, 0), K("mov", 4, 0), CALL(164), *ret()]
    cb = [make("stw", dst=2, off=0, imm=1), K("mov", 0, 0), EXIT()]
    main[1] = FUNC(2, sum(i.slots for i in main) - 3)  # lddw at pc 2: target = 2 + imm + 1
    e = first_error(prog(main + cb, prog_type="xdp", maps=[HASH]))
    assert e.check == "readonly" and "map key" in e.message
    cb = [LD("ldxw", 0, 2, 0), make("stdw", dst=3, off=0, imm=1), K("mov", 0, 0), EXIT()]
    ok(prog(main + cb, prog_type="xdp", maps=[HASH]))


# --- spin locks -----------------------------------------------------------------------------------------------


def locked(section, unlock_off=0, lock_off=0):
    """lookup; if NULL return; r6 = value; spin_lock(r6 + lock_off); section; spin_unlock(r6 + unlock_off)."""
    return (lookup() + [K("jne", 0, 0, 2)] + ret() + [X("mov", 6, 0), X("mov", 1, 6), K("add", 1, lock_off),
                                                      CALL(93)]
            + section + [X("mov", 1, 6), K("add", 1, unlock_off), CALL(94)] + ret())


def test_spin_lock_sections():
    ok(prog(locked([make("stdw", dst=6, off=0, imm=1)]), prog_type="xdp", maps=[RDONLY_LOCK]))
    e = first_error(prog(locked([CALL(5)]), prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "bpf_ktime_get_ns is called while holding the bpf_spin_lock" in e.message
    e = first_error(prog(locked([], unlock_off=4), prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "unlock of a lock not held" in e.message
    e = first_error(prog(locked([], lock_off=2), prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "offset 2" in e.message
    e = first_error(prog(locked([], lock_off=16), prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "4 aligned bytes" in e.message
    e = first_error(prog([X("mov", 1, 10), K("add", 1, -8), CALL(93)] + ret(), prog_type="xdp"))
    assert e.check == "spin_lock" and "must point to a bpf_spin_lock in a map value" in e.message
    main = locked([make("call local", imm=0)])
    at = next(n for n, i in enumerate(main) if i.kind.name == "CALL_LOCAL")
    pc = sum(i.slots for i in main[:at])
    main[at] = make("call local", imm=sum(i.slots for i in main) - pc - 1)  # to the function after main
    e = first_error(prog(main + ret(), prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "a function is called while holding" in e.message


def test_a_lock_held_on_some_joined_paths_only(monkeypatch):
    from ebpflite.verifier import fixpoint

    monkeypatch.setattr(fixpoint, "MAX_STATES", 1)
    # lock only when the value's first byte is set, then unlock unconditionally
    body = (lookup() + [K("jne", 0, 0, 2)] + ret() + [X("mov", 6, 0), LD("ldxb", 7, 6, 0), K("jeq", 7, 0, 2),
                                                      X("mov", 1, 6), CALL(93), X("mov", 1, 6), CALL(94)] + ret())
    e = first_error(prog(body, prog_type="xdp", maps=[RDONLY_LOCK]))
    assert e.check == "spin_lock" and "on some paths to here and not on others" in e.message


# --- API -------------------------------------------------------------------------------------------------------


def test_check_returns_the_xlated_program_or_raises():
    p = prog(ret(2), prog_type="xdp")
    x = verifier.check(p)
    assert x.verified and not p.verified and x.insns == p.insns
    with pytest.raises(VerifierError, match="r0 is read") as info:
        verifier.check(prog([EXIT()]))
    assert info.value.report.errors[0].check == "uninit_reg"


def test_all_errors_keeps_going():
    # two independent bad reads on the two sides of a branch
    p = prog([LD("ldxw", 2, 1, 16), K("jeq", 2, 0, 2), LD("ldxw", 0, 1, 100), EXIT(),
              LD("ldxw", 0, 1, 200), EXIT()], prog_type="xdp")
    assert len(verifier.verify(p).errors) == 1
    assert [e.pc for e in verifier.verify(p, all_errors=True).errors] == [2, 4]


def test_unknown_platform():
    with pytest.raises(VerifierError, match="unknown platform"):
        verifier.verify(prog(ret()), platform="beos")


def test_invariants_in_verbose_mode():
    report = verifier.verify(prog(bounded(4, [LD("ldxw", 0, 2, 0), EXIT()]), prog_type="xdp"), verbose=True)
    pre, post = report.invariants[5]
    assert "r2: packet pointer off=0 range=4" in pre
    text = report.text(verbose=True)
    assert "Pre-invariant" in text and "Post-invariant" in text


def test_a_test_on_a_copy_bounds_the_original():
    # r3 = r2; if r2 > 7 goto out; *(u8 *)(fp - 8 + r3) = 0
    def program(bound):
        return prog([LD("ldxw", 2, 1, 16), X("mov", 3, 2), K("jgt", 2, bound, 4), X("mov", 4, 10), K("add", 4, -8),
                     X("add", 4, 3), make("stb", dst=4, imm=0)] + ret(), prog_type="xdp")

    ok(program(7))
    e = first_error(program(8))
    assert e.check == "stack_bounds"
