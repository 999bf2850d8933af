"""The JIT agrees with the interpreter: results, counts, memory, and every kind of fault.

Each test builds a small program and runs it through :func:`jit_harness.agree`,
which compares the JIT (checked and, where the program is safe, unchecked)
with the reference interpreter: same r0, same instruction count, same memory,
or the same exception with the same message and pc. Faults are only ever
tested in checked mode: in unchecked mode they would be real segfaults.
"""

from __future__ import annotations

import numpy as np
import pytest
from jit_harness import EXIT, M64, agree, buffer, insn, lddw, program

from ebpflite.errors import BudgetExceeded, CallDepthExceeded, ExecutionError, HelperError, MemoryFault
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.isa import MAX_CALL_DEPTH, MAX_TAIL_CALLS, PseudoSrc
from ebpflite.vm.memory import Region, low_alloc

INT64_MIN = 1 << 63


def with_buffer(data: bytes = bytes(range(64)), writable: bool = True, name: str = "buf"):
    def make():
        env = Environment.minimal()
        region = buffer(env, data, name=name, writable=writable)
        return env, {"r1": region.start, "r2": len(data)}
    return make


# --- arithmetic edge cases -------------------------------------------------------------------

EDGE_VALUES = [0, 1, 2, 7, M64, INT64_MIN, INT64_MIN - 1, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFF, 0x123456789ABCDEF0,
               (-7) & M64, 63, 64, 65, 31, 32]
ALU_OPS = ["add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor", "lsh", "rsh", "arsh"]


@pytest.mark.parametrize("width", ["", "32"])
@pytest.mark.parametrize("op", ALU_OPS)
def test_alu_register_forms_on_edge_values(op: str, width: str):
    # one program per op: fold every pair of edge values into r0 so one run checks them all
    insns = [insn("mov", dst=0, imm=0)]
    for a in EDGE_VALUES[:9]:
        for b in EDGE_VALUES[:9]:
            insns += [lddw(1, a), lddw(2, b), insn(op + width, dst=1, src=2), insn("xor", dst=0, src=1),
                      insn("lsh", dst=0, imm=1)]
    agree(program(*insns, EXIT), unchecked=True)


@pytest.mark.parametrize("width", ["", "32"])
@pytest.mark.parametrize("op", ALU_OPS + ["mov"])
@pytest.mark.parametrize("imm", [0, 1, -1, -2, 31, 32, 63, 64, 0x7FFFFFFF, -0x80000000])
def test_alu_immediate_forms(op: str, width: str, imm: int):
    insns = []
    for a in (INT64_MIN, (-9) & M64, 0xFFFFFFFF80000000, 12345):
        insns += [lddw(1, a), insn(op + width, dst=1, imm=imm), insn("add", dst=0, src=1), insn("rsh", dst=0, imm=1)]
    agree(program(*insns, EXIT), unchecked=True)


@pytest.mark.parametrize("name", ["neg", "neg32", "le16", "le32", "le64", "be16", "be32", "be64", "bswap16",
                                  "bswap32", "bswap64"])
def test_unary_and_byte_swaps(name: str):
    agree(program(lddw(0, 0x8899AABBCCDDEEFF), insn(name, dst=0), EXIT), unchecked=True)


@pytest.mark.parametrize("name", ["movsx864", "movsx1664", "movsx3264", "movsx832", "movsx1632"])
def test_movsx(name: str):
    from ebpflite.vm.isa import BY_NAME

    spec = BY_NAME[name][0]
    for value in (0x80, 0x7F, 0xFFFF8000, 0x1234567880008080):
        agree(program(lddw(1, value), insn(spec.name, dst=0, src=1, off=spec.extra), EXIT), unchecked=True)


JUMPS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle"]


@pytest.mark.parametrize("width", ["", "32"])
@pytest.mark.parametrize("op", JUMPS)
def test_conditional_jumps(op: str, width: str):
    insns = [insn("mov", dst=0, imm=0)]
    for a, b in [(1, 2), (2, 1), (5, 5), (M64, 1), (1, M64), (0x1_0000_0001, 1), (INT64_MIN, 0), (0, 3)]:
        insns += [lddw(1, a), lddw(2, b), insn("lsh", dst=0, imm=1), insn(op + width, dst=1, src=2, off=1),
                  insn("ja", off=1), insn("or", dst=0, imm=1),
                  insn("lsh", dst=0, imm=1), insn(op + width, dst=1, imm=-1, off=1),
                  insn("ja", off=1), insn("or", dst=0, imm=1)]
    agree(program(*insns, EXIT), unchecked=True)


# --- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["b", "h", "w", "dw"])
def test_loads_stores_and_sign_extension(size: str):
    insns = [insn(f"ldx{size}", dst=0, src=1, off=60 if size != "dw" else 56),
             insn(f"st{size}", dst=1, off=8, imm=-3), insn(f"stx{size}", dst=1, src=0, off=16),
             insn(f"ldx{size}", dst=3, src=1, off=8), insn("add", dst=0, src=3)]
    if size != "dw":
        insns += [insn(f"ldxs{size}", dst=4, src=1, off=60), insn("add", dst=0, src=4)]
    data = bytes(range(0x80, 0xC0))
    agree(program(*insns, EXIT), with_buffer(data), unchecked=True)


@pytest.mark.parametrize("op", ["lock add", "lock or", "lock and", "lock xor", "lock fetch add",
                                "lock fetch or", "lock fetch and", "lock fetch xor", "lock xchg", "lock cmpxchg"])
@pytest.mark.parametrize("width", ["", "32"])
def test_atomics(op: str, width: str):
    insns = [lddw(2, 0xF0F0F0F0_12345678), lddw(0, 0x0807060504030201), insn(op + width, dst=1, src=2, off=8),
             insn("add", dst=0, src=2), insn("ldxdw", dst=3, src=1, off=8), insn("add", dst=0, src=3),
             insn(op + width, dst=10, src=2, off=-8), insn("ldxdw", dst=3, src=10, off=-8), insn("add", dst=0, src=3)]
    agree(program(*insns, EXIT), with_buffer(bytes(range(1, 65))), unchecked=True)


def test_stack_is_private_per_run_and_cleared():
    prog = program(insn("ldxdw", dst=0, src=10, off=-8), insn("stdw", dst=10, off=-8, imm=77), EXIT)
    for checked in (True, False):
        jit = JitProgram(prog, checked=checked)
        assert jit.run().r0 == 0 and jit.run().r0 == 0


def test_memory_fault_out_of_bounds_read():
    fault = agree(program(insn("mov", dst=0, imm=0), insn("ldxw", dst=0, src=1, off=62), EXIT),
                  with_buffer(bytes(64), name="packet"))
    assert fault[:2] == ("error", "MemoryFault") and "past the end of packet (64 bytes)" in fault[2]


def test_memory_fault_fields_are_the_interpreters():
    env = Environment.minimal()
    region = buffer(env, bytes(64))
    with pytest.raises(MemoryFault) as info:
        JitProgram(program(insn("mov", dst=0, imm=0), insn("stxdw", dst=1, src=0, off=60), EXIT), env).run(
            r1=region.start)
    assert (info.value.pc, info.value.address, info.value.size, info.value.write) == \
        (1, region.start + 60, 8, True)


@pytest.mark.parametrize("address", [0, 16, 1 << 63, M64 - 3, M64])
def test_memory_fault_wild_addresses_do_not_crash(address: int):
    # addresses near 2**64 must not wrap around any bounds check
    result = agree(program(lddw(1, address), insn("ldxdw", dst=0, src=1), EXIT))
    assert result[:2] == ("error", "MemoryFault")
    result = agree(program(lddw(1, address), insn("stdw", dst=1, off=-8, imm=1), EXIT))
    assert result[:2] == ("error", "MemoryFault")


def test_memory_fault_stack_overflow_and_underflow():
    assert agree(program(insn("stdw", dst=10, off=0, imm=1), EXIT))[1] == "MemoryFault"
    assert agree(program(insn("stdw", dst=10, off=-4104, imm=1), EXIT))[1] == "MemoryFault"
    # a callee's frame lies below the caller's: reaching into the caller's frame is allowed
    agree(program(insn("call local", imm=1), EXIT, insn("ldxdw", dst=0, src=10, off=8), EXIT))


def test_writes_to_read_only_regions_fault():
    make = with_buffer(bytes(16), writable=False, name="rodata")
    assert "rodata is read-only" in agree(program(insn("stb", dst=1, imm=1), EXIT), make)[2]
    assert "read-only" in agree(program(insn("lock add", dst=1, src=2), EXIT), make)[2]
    assert agree(program(insn("ldxb", dst=0, src=1), EXIT), make)[:2] == ("ok", 0)


def test_regions_added_after_compiling_are_seen():
    env = Environment.minimal()
    jit = JitProgram(program(insn("ldxb", dst=0, src=1), EXIT), env)
    region = buffer(env, b"\x2a")
    assert jit.run(r1=region.start).r0 == 42
    env.memory.remove(region)
    with pytest.raises(MemoryFault):
        jit.run(r1=region.start)


# --- calls -------------------------------------------------------------------------------------


def _helpers(**helpers):
    def make():
        return Environment.minimal(helpers={int(k[1:]): fn for k, fn in helpers.items()}), {}
    return make


def test_helper_receives_r1_to_r5_and_its_result_lands_in_r0():
    seen = []

    def helper(env, r1, r2, r3, r4, r5):
        seen.append((r1, r2, r3, r4, r5))
        return -1

    result = agree(program(*(insn("mov", dst=i, imm=i * 10) for i in range(1, 6)), insn("call", imm=7),
                           insn("add", dst=0, src=3), EXIT), _helpers(h7=helper), unchecked=True)
    assert result[1] == 29 and set(seen) == {(10, 20, 30, 40, 50)}


def test_callx_and_unknown_helpers():
    make = _helpers(h5=lambda env, r1, *rest: r1 + 1)
    assert agree(program(insn("mov", dst=1, imm=41), insn("mov", dst=3, imm=5), insn("callx", dst=3), EXIT),
                 make, unchecked=True)[1] == 42
    assert "call to unknown helper 999" in agree(program(insn("mov", dst=0, imm=0), insn("call", imm=999), EXIT))[2]
    assert "unknown helper 12345" in agree(program(insn("mov", dst=2, imm=12345), insn("callx", dst=2), EXIT))[2]
    # a helper number with high bits set is not truncated to 32 bits
    assert agree(program(lddw(2, (1 << 32) | 5), insn("callx", dst=2), EXIT), make)[1] == "HelperError"


def test_helper_exceptions_come_back_as_themselves():
    class Custom(Exception):
        pass

    def boom(env, *regs):
        raise Custom("from the helper")

    env = Environment.minimal(helpers={3: boom, 1: lambda *args: None})
    jit = JitProgram(program(insn("call", imm=3), EXIT), env)
    with pytest.raises(Custom, match="from the helper"):
        jit.run()
    assert jit.run.__self__ is jit  # and the program still runs afterwards:
    env.helpers[3] = lambda *args: 9
    assert jit.run().r0 == 9
    assert "returned None, not an integer" in agree(program(insn("call", imm=1), EXIT),
                                                     lambda: (env, {}))[2]


def test_helper_exception_inside_a_subprogram_unwinds_every_frame():
    def boom(env, *regs):
        raise HelperError("nope", 7)

    prog = program(insn("call local", imm=1), EXIT, insn("call local", imm=1), EXIT, insn("call", imm=3), EXIT)
    assert agree(prog, _helpers(h3=boom))[1:3] == ("HelperError", "pc 7: nope")


def test_local_calls_preserve_r6_to_r9_and_share_r1_to_r5():
    main = [insn("mov", dst=r, imm=r) for r in (6, 7, 8, 9)]
    main += [insn("mov", dst=1, imm=100), insn("call local", imm=7)]
    main += [insn("add", dst=0, src=r) for r in (1, 2, 6, 7, 8, 9)] + [EXIT]
    f = [insn("mov", dst=r, imm=1000) for r in (6, 7, 8, 9)] + [insn("mov", dst=2, imm=5)]
    f += [insn("mov", dst=0, src=1), EXIT]
    assert agree(program(*main, *f), unchecked=True)[1] == 100 + 100 + 5 + 6 + 7 + 8 + 9


def test_local_call_frames_and_r10():
    agree(program(insn("stdw", dst=10, off=-8, imm=1), insn("call local", imm=2),
                  insn("ldxdw", dst=0, src=10, off=-8), EXIT,
                  insn("stdw", dst=10, off=-8, imm=2), insn("mov", dst=0, src=10), EXIT), unchecked=True)
    env = Environment.minimal()
    assert JitProgram(program(insn("call local", imm=1), EXIT, insn("mov", dst=0, src=10), EXIT), env).run().r0 \
        == env.stack.frame_pointer(1)


def test_call_depth_is_limited():
    result = agree(program(insn("call local", imm=1), EXIT, insn("call local", imm=-1), EXIT))
    assert result[1] == "CallDepthExceeded" and f"at most {MAX_CALL_DEPTH} are allowed" in result[2]
    insns = []
    for _ in range(MAX_CALL_DEPTH - 1):
        insns += [insn("call local", imm=1), EXIT]
    assert agree(program(*insns, insn("mov", dst=0, imm=55), EXIT), unchecked=True)[1] == 55


def test_call_depth_error_type_from_jit():
    with pytest.raises(CallDepthExceeded):
        JitProgram(program(insn("call local", imm=-1), EXIT)).run()


def test_kfunc_calls_cannot_run():
    assert "BTF id 77" in agree(program(insn("call kfunc", imm=77), EXIT))[2]


# --- tail calls ------------------------------------------------------------------------------------


def _tail_env(target_of):
    def make():
        def tail_call(env, r1, r2, r3, r4, r5):
            env.pending_tail_call = target_of()
            return 0
        return Environment.minimal(helpers={12: tail_call}), {"r1": 41}
    return make


def test_tail_call_continues_in_the_target_with_registers_unchanged():
    target = program(insn("mov", dst=0, src=1), insn("add", dst=0, src=6), EXIT, name="target")
    res = agree(program(insn("mov", dst=6, imm=1), insn("call", imm=12), insn("mov", dst=0, imm=-1), EXIT),
                _tail_env(lambda: target), unchecked=True)
    assert res[1:3] == (42, 2 + 3)


def test_tail_calls_are_limited_and_then_fall_through():
    looping = program(insn("ldxdw", dst=0, src=10, off=-8), insn("add", dst=0, imm=1),
                      insn("stxdw", dst=10, src=0, off=-8), insn("call", imm=12), EXIT)
    env, regs = _tail_env(lambda: looping)()
    assert JitProgram(looping, env).run().r0 == 0
    assert env.tail_calls == MAX_TAIL_CALLS
    assert int.from_bytes(env.stack.buf[-8:].tobytes(), "little") == MAX_TAIL_CALLS + 1
    agree(looping, _tail_env(lambda: looping), unchecked=True)


def test_tail_call_from_a_subprogram_returns_to_its_caller():
    target = program(insn("mov", dst=0, src=10), EXIT, name="target")
    prog = program(insn("call local", imm=2), insn("add", dst=0, imm=1), EXIT, insn("call", imm=12), EXIT)
    agree(prog, _tail_env(lambda: target), unchecked=True)


def test_tail_call_to_something_else_than_a_program():
    assert "not a Program" in agree(program(insn("call", imm=12), EXIT), _tail_env(lambda: "nope"))[2]


def test_faults_inside_a_tail_called_program_are_reported():
    target = program(insn("ldxdw", dst=0, src=1), EXIT, name="target")
    assert agree(program(insn("call", imm=12), EXIT), _tail_env(lambda: target))[1] == "MemoryFault"


# --- limits and control flow -------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 2, 3, 4, 5, 1000])
def test_budget_stops_endless_loops_at_the_same_pc(budget: int):
    def make():
        return Environment.minimal(budget=budget), {}
    result = agree(program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), insn("ja", off=-2), EXIT), make)
    assert result[1] == "BudgetExceeded"
    assert agree(program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), EXIT), make)[0] == \
        ("ok" if budget >= 3 else "error")


def test_budget_counts_across_calls_and_raises_the_typed_error():
    env = Environment.minimal(budget=50)
    with pytest.raises(BudgetExceeded, match="budget of 50 ran out"):
        JitProgram(program(insn("call local", imm=1), EXIT, insn("ja", off=-1), EXIT), env).run()


def test_instruction_counts_match():
    prog = program(insn("mov", dst=1, imm=10), insn("sub", dst=1, imm=1), insn("jne", dst=1, imm=0, off=-2),
                   insn("call local", imm=1), EXIT, insn("mov", dst=0, imm=3), EXIT)
    assert agree(prog, unchecked=True)[2] == 1 + 20 + 1 + 2 + 1


def test_falling_off_the_end_and_bad_jumps():
    assert "pc 2: execution fell off the end" in agree(program(insn("mov", dst=0, imm=1), insn("mov", dst=0, imm=1)))[2]
    assert "fell off the end" in agree(program(insn("mov", dst=0, imm=1), insn("jeq", dst=0, imm=0, off=-1)))[2]
    assert "pc 0: jump to 11 is outside program" in agree(program(insn("ja", off=10), EXIT))[2]


def test_empty_program_is_refused():
    from ebpflite.vm.program import Program

    with pytest.raises(ExecutionError, match="empty: it has no instructions"):
        JitProgram(Program([]))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="opt_level must be one of"):
        JitProgram(program(EXIT), opt_level=7)


# --- lddw pseudo sources -------------------------------------------------------------------


class _FakeMap:
    address = 0x1000

    def value_address(self, offset: int) -> int:
        return 0x2000 + offset


def test_lddw_map_forms_go_through_the_environment():
    def make():
        env = Environment.minimal()
        env.maps = [_FakeMap()]
        return env, {}
    assert agree(program(insn("lddw", dst=0, imm=0, pseudo=PseudoSrc.MAP_IDX), EXIT), make, unchecked=True)[1] \
        == 0x1000
    assert agree(program(insn("lddw", dst=0, imm=0, imm_hi=8, pseudo=PseudoSrc.MAP_IDX_VALUE), EXIT), make)[1] \
        == 0x2008
    assert "pc 0: lddw refers to map 3" in agree(program(insn("lddw", dst=0, imm=3, pseudo=PseudoSrc.MAP_FD), EXIT),
                                                 make)[2]


# --- legacy packet loads -----------------------------------------------------------------------


def _packet(data: bytes):
    def make():
        env = Environment.minimal()
        buf = low_alloc(len(data))
        buf[:] = np.frombuffer(data, dtype=np.uint8)
        region = env.memory.add(Region("packet", buf, "packet"))
        env.world.skb_data = (region.start, len(data))
        return env, {}
    return make


def test_ld_abs_and_ld_ind():
    make = _packet(bytes(range(16)))
    assert agree(program(insn("ldabsh", imm=2), EXIT), make, unchecked=True)[1] == 0x0203
    assert agree(program(insn("mov", dst=3, imm=4), insn("ldindw", src=3, imm=1), EXIT), make)[1] == 0x05060708
    assert agree(program(insn("mov", dst=0, imm=9), insn("ldabsw", imm=14), insn("mov", dst=0, imm=1), EXIT),
                 make, unchecked=True)[1:3] == (0, 2)
    assert agree(program(insn("call local", imm=2), insn("mov", dst=0, imm=1), EXIT,
                         insn("ldabsw", imm=15), EXIT), make)[1] == 0
    assert "needs a packet context" in agree(program(insn("ldabsb", imm=0), EXIT))[2]
