"""Control-flow problems, context descriptors and program statistics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from verifier_testlib import CALL, EXIT, LD, MAP, K, X, prog

from ebpflite import verifier
from ebpflite.helpers import contexts as runtime_contexts
from ebpflite.verifier import cfg
from ebpflite.verifier.stats import KEYS, program_stats, stats_text
from ebpflite.vm.contexts import ContextDescriptor, Field, descriptor, known_types
from ebpflite.vm.insn import make
from ebpflite.vm.program import Program


def errors(p, **kw):
    return verifier.verify(p, all_errors=True, **kw).errors


def test_empty_program():
    (e,) = errors(Program([]))
    assert e.check == "cfg" and "empty" in e.message


def test_falling_off_the_end():
    (e,) = errors(prog([K("mov", 0, 1)]))
    assert "fall off the end of main" in e.message


def test_jump_out_of_a_function():
    # main: call f; exit | f: jump back into main
    p = prog([make("call local", imm=1), EXIT(), K("mov", 0, 0), K("ja", off=-4), EXIT()])
    es = errors(p)
    assert any("leaves the function" in e.message for e in es)


def test_jump_into_an_lddw_built_by_hand():
    p = prog([K("ja", off=1), make("lddw", dst=0, imm=1), EXIT()])
    e, dead = errors(p)  # the lddw it jumps over is also unreachable, which the kernel refuses too
    assert "middle of an lddw" in e.message and dead.check == "unreachable"


def test_self_recursion():
    p = prog([make("call local", imm=1), EXIT(), make("call local", imm=-1), EXIT()])
    es = errors(p)
    assert any("recursion is not allowed: main -> func_2 -> func_2" in e.message for e in es)


def test_irreducible_loop():
    # two entries into the cycle 3 <-> 4
    p = prog([LD("ldxw", 2, 1, 0), K("mov", 0, 0), K("jeq", 2, 0, 1), K("add", 0, 1), K("jlt", 0, 5, -2), EXIT()])
    es = errors(p, prog_type="xdp")
    assert any("irreducible loop" in e.message for e in es)


def test_unreachable_code_is_a_note_for_prevail():
    report = verifier.verify(prog([K("mov", 0, 0), EXIT(), K("mov", 0, 1), EXIT()]), platform="windows",
                             prog_type="sample")
    assert report.ok
    assert [n.pc for n in report.notes] == [2] and "unreachable" in report.notes[0].message
    assert "note: 2: unreachable code" in report.text()


def test_unreachable_code_is_an_error_for_linux():
    """The kernel's check_cfg refuses any instruction no path reaches ("unreachable insn 2")."""
    report = verifier.verify(prog([K("mov", 0, 0), EXIT(), K("mov", 0, 1), EXIT()]), prog_type="xdp")
    assert not report.ok and not report.notes
    [e] = report.errors
    assert (e.check, e.pc) == ("unreachable", 2)
    assert "pc 2..3 is never executed" in e.message and "refuses programs with unreachable" in e.message
    # structural problems come first
    e = verifier.verify(prog([make("ja", off=5), K("mov", 0, 1), EXIT()]), prog_type="xdp").errors[0]
    assert e.check == "cfg" and "leaves the function" in e.message


def test_weak_topological_order_nests_loops():
    p = prog([K("mov", 1, 0), K("mov", 2, 0), K("add", 2, 1), K("jlt", 2, 3, -2), K("add", 1, 1),
              K("jlt", 1, 3, -5), K("mov", 0, 0), EXIT()])
    f = cfg.build(p.insns).functions[0]
    outer = next(e for e in f.order if isinstance(e, cfg.Loop))
    assert any(isinstance(e, cfg.Loop) for e in outer.body)
    report = verifier.verify(p)
    assert report.ok and report.loop_bounds == {1: 3, 2: 3}


# --- contexts ----------------------------------------------------------------------------------


def test_context_layouts_match_the_runtime():
    assert runtime_contexts.LINUX_XDP_MD is descriptor("xdp", "linux").layout
    assert runtime_contexts.BIND_MD is descriptor("bind", "windows").layout
    for platform in ("linux", "windows"):
        for prog_type in known_types(platform):
            ctx = descriptor(prog_type, platform)
            assert ctx.layout.size == ctx.size, (platform, prog_type)


def test_context_layout_refuses_overlapping_or_oversized_fields():
    overlap = ContextDescriptor("bad", 8, (Field("a", 0, 4), Field("b", 2, 4)))
    with pytest.raises(ValueError, match="field b overlaps"):
        overlap.layout  # noqa: B018
    past = ContextDescriptor("bad", 4, (Field("a", 0, 8),))
    with pytest.raises(ValueError, match="fields end at 8, after the 4-byte structure"):
        past.layout  # noqa: B018


def test_descriptor_fields():
    xdp = descriptor("xdp")
    assert (xdp.data, xdp.data_end, xdp.meta) == (0, 4, 8)
    assert xdp.field_at(16).name == "rx_queue_index" and xdp.field_at(24) is None
    assert not xdp.field_at(22).readable  # egress_ifindex: devmap programs only
    assert descriptor("xdp", attach="devmap").field_at(22).readable
    skb = descriptor("sched_cls")
    assert skb.field_at(8).writable and not skb.field_at(0).writable
    assert skb.field_at(50).name == "cb" and skb.field_at(182) is None  # cb[5] is one member; padding is none
    assert descriptor("socket_filter").data == -1  # no direct packet access for socket filters
    bind = descriptor("bind", "windows")
    assert bind.field_at(40, 1).name == "socket_address_length" and bind.data == 0
    fallback = descriptor("no_such_type")
    assert fallback.size == 4096 and not fallback.has_packet
    assert "xdp" in known_types() and "bind" in known_types("windows")


# --- statistics --------------------------------------------------------------------------------


def test_program_stats():
    m = SimpleNamespace(name="m", type="hash", key_size=4, value_size=8, max_entries=1, flags=0)
    p = prog([make("stw", dst=10, off=-4, imm=0), X("mov", 2, 10), K("add", 2, -4), MAP(1, 0), CALL(1),
              K("jeq", 0, 0, 2), K("add32", 0, 1), make("ldabsb", imm=0), K("mov", 0, 0), CALL(44), EXIT()],
             maps=[m])
    s = program_stats(p)
    assert list(s) == list(KEYS)
    assert s["instructions"] == 11 and s["call_1"] == 1 and s["adjust_head"] == 1
    assert s["store"] == 1 and s["assign"] == 2 and s["arith"] == 2 and s["arith32"] == 1
    assert s["packet_access"] == 1 and s["jumps"] == 1 and s["joins"] == 1 and s["basic blocks"] == 3
    assert "instructions  : 11" in stats_text(s)
