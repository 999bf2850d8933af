"""The interpreter's semantics, as small example programs (RFC 9669 and docs/architecture.md).

Programs are built with ``vm.insn.make`` (through :func:`insn`) and :func:`program`, which lays
instructions out at consecutive pcs.
"""

from __future__ import annotations

import numpy as np
import pytest

from ebpflite.errors import BudgetExceeded, CallDepthExceeded, ExecutionError, HelperError, MemoryFault
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.isa import MAX_CALL_DEPTH, MAX_TAIL_CALLS, PseudoSrc
from ebpflite.vm.memory import Region, low_alloc
from ebpflite.vm.program import Program

M64 = (1 << 64) - 1
INT64_MIN = 1 << 63


#: ``insn("add", dst=0, src=1)`` is the register form, ``insn("add", dst=0, imm=1)`` the immediate one
insn = make


def program(*insns: Insn, name: str = "prog") -> Program:
    return Program.of(*insns, name=name)


def run(*insns: Insn, env: Environment | None = None, **regs: int) -> int:
    return Interpreter(program(*insns), env).run(**regs).r0


def lddw(dst: int, value: int) -> Insn:
    return insn("lddw", dst=dst, imm=value & 0xFFFFFFFF, imm_hi=(value >> 32) & 0xFFFFFFFF)


EXIT = insn("exit")


def env_with_buffer(size: int = 64, writable: bool = True, name: str = "buf") -> tuple[Environment, Region]:
    env = Environment.minimal()
    region = env.memory.add(Region(name, low_alloc(size), "mem", writable=writable))
    return env, region


# --- arithmetic ------------------------------------------------------------------------------


def test_division_by_zero_gives_zero_and_modulo_by_zero_keeps_dst():
    assert run(insn("mov", dst=0, imm=7), insn("mov", dst=1, imm=0), insn("div", dst=0, src=1), EXIT) == 0
    assert run(insn("mov", dst=0, imm=7), insn("mov", dst=1, imm=0), insn("mod", dst=0, src=1), EXIT) == 7
    assert run(insn("mov", dst=0, imm=-9), insn("sdiv", dst=0, imm=0), EXIT) == 0
    assert run(insn("mov", dst=0, imm=-9), insn("smod", dst=0, imm=0), EXIT) == (-9) & M64


def test_mod32_by_zero_still_zero_extends_dst():
    # dst keeps its low 32 bits; the upper half is cleared like any 32-bit op
    assert run(lddw(0, 0x1122334455667788), insn("mod32", dst=0, imm=0), EXIT) == 0x55667788


def test_signed_division_truncates_and_int_min_by_minus_one_wraps():
    assert run(insn("mov", dst=0, imm=-7), insn("sdiv", dst=0, imm=2), EXIT) == (-3) & M64
    assert run(insn("mov", dst=0, imm=-7), insn("smod", dst=0, imm=2), EXIT) == (-1) & M64
    assert run(insn("mov", dst=0, imm=7), insn("smod", dst=0, imm=-2), EXIT) == 1
    assert run(lddw(0, INT64_MIN), insn("sdiv", dst=0, imm=-1), EXIT) == INT64_MIN
    assert run(lddw(0, INT64_MIN), insn("smod", dst=0, imm=-1), EXIT) == 0
    assert run(insn("mov32", dst=0, imm=-(1 << 31)), insn("sdiv32", dst=0, imm=-1), EXIT) == 1 << 31
    assert run(insn("mov32", dst=0, imm=-(1 << 31)), insn("smod32", dst=0, imm=-1), EXIT) == 0


def test_unsigned_division_treats_a_negative_immediate_as_huge():
    # ALU64: imm is sign-extended to 64 bits, then read as unsigned
    assert run(insn("mov", dst=0, imm=-1), insn("div", dst=0, imm=-1), EXIT) == 1
    assert run(insn("mov", dst=0, imm=5), insn("div", dst=0, imm=-1), EXIT) == 0


def test_shift_amounts_are_masked_to_the_width():
    assert run(insn("mov", dst=0, imm=1), insn("lsh", dst=0, imm=65), EXIT) == 2
    assert run(insn("mov", dst=0, imm=1), insn("lsh32", dst=0, imm=33), EXIT) == 2
    assert run(insn("mov", dst=0, imm=-8), insn("arsh", dst=0, imm=64 + 1), EXIT) == (-4) & M64
    assert run(insn("mov32", dst=0, imm=-8), insn("arsh32", dst=0, imm=1), EXIT) == 0xFFFFFFFC
    assert run(insn("mov", dst=0, imm=-8), insn("rsh32", dst=0, imm=1), EXIT) == 0x7FFFFFFC


def test_32bit_operations_zero_extend_into_the_register():
    assert run(insn("mov32", dst=0, imm=-1), EXIT) == 0xFFFFFFFF
    assert run(insn("mov", dst=0, imm=-1), insn("add32", dst=0, imm=1), EXIT) == 0
    assert run(insn("mov", dst=0, imm=-1), insn("mov", dst=1, imm=-1), insn("mov32", dst=0, src=1), EXIT) \
        == 0xFFFFFFFF
    assert run(insn("mov", dst=0, imm=3), insn("neg32", dst=0), EXIT) == 0xFFFFFFFD
    assert run(insn("mov", dst=0, imm=3), insn("neg", dst=0), EXIT) == (-3) & M64


def test_movsx_sign_extends_the_low_bits():
    assert run(insn("mov", dst=1, imm=0x80), insn("movsx864", dst=0, src=1), EXIT) == (-128) & M64
    assert run(insn("mov", dst=1, imm=0x8000), insn("movsx1632", dst=0, src=1), EXIT) == 0xFFFF8000
    assert run(insn("mov", dst=1, imm=-1 << 31), insn("movsx3264", dst=0, src=1), EXIT) == (-(1 << 31)) & M64


def test_byte_swaps():
    value = 0x1122334455667788
    assert run(lddw(0, value), insn("le16", dst=0), EXIT) == 0x7788
    assert run(lddw(0, value), insn("le32", dst=0), EXIT) == 0x55667788
    assert run(lddw(0, value), insn("le64", dst=0), EXIT) == value
    assert run(lddw(0, value), insn("be16", dst=0), EXIT) == 0x8877
    assert run(lddw(0, value), insn("be32", dst=0), EXIT) == 0x88776655
    assert run(lddw(0, value), insn("be64", dst=0), EXIT) == 0x8877665544332211
    assert run(lddw(0, value), insn("bswap64", dst=0), EXIT) == 0x8877665544332211


def test_signed_and_unsigned_jumps_differ():
    body = [insn("mov", dst=0, imm=0), insn("mov", dst=1, imm=-1)]
    # -1 > 1 only when compared as signed... the other way round
    assert run(*body, insn("jgt", dst=1, imm=1, off=1), EXIT, insn("mov", dst=0, imm=1), EXIT) == 1
    assert run(*body, insn("jsgt", dst=1, imm=1, off=1), EXIT, insn("mov", dst=0, imm=1), EXIT) == 0
    # jmp32 compares only the low halves
    assert run(*body, lddw(2, 0x1_00000005), insn("jeq32", dst=2, imm=5, off=1), EXIT,
               insn("mov", dst=0, imm=1), EXIT) == 1


# --- atomics -------------------------------------------------------------------------------------


def test_atomic_add_fetch_and_exchange():
    env, buf = env_with_buffer()
    buf.buf[:8] = np.frombuffer((10).to_bytes(8, "little"), dtype=np.uint8)
    r0 = run(insn("mov", dst=2, imm=5), insn("lock fetch add", dst=1, src=2), insn("mov", dst=0, src=2), EXIT,
             env=env, r1=buf.start)
    assert r0 == 10 and int.from_bytes(buf.buf[:8].tobytes(), "little") == 15
    r0 = run(insn("mov", dst=2, imm=99), insn("lock xchg", dst=1, src=2), insn("mov", dst=0, src=2), EXIT,
             env=env, r1=buf.start)
    assert r0 == 15 and int.from_bytes(buf.buf[:8].tobytes(), "little") == 99
    run(insn("mov", dst=2, imm=0x0F), insn("lock and", dst=1, src=2), EXIT, env=env, r1=buf.start)
    assert int.from_bytes(buf.buf[:8].tobytes(), "little") == 99 & 0x0F


def test_cmpxchg_stores_only_on_match_and_returns_old_value_in_r0():
    env, buf = env_with_buffer()
    buf.buf[:4] = np.frombuffer((7).to_bytes(4, "little"), dtype=np.uint8)
    miss = run(insn("mov", dst=0, imm=1), insn("mov", dst=2, imm=42), insn("lock cmpxchg32", dst=1, src=2), EXIT,
               env=env, r1=buf.start)
    assert miss == 7 and buf.buf[0] == 7
    hit = run(insn("mov", dst=0, imm=7), insn("mov", dst=2, imm=42), insn("lock cmpxchg32", dst=1, src=2), EXIT,
              env=env, r1=buf.start)
    assert hit == 7 and buf.buf[0] == 42


def test_atomic32_fetch_zero_extends_the_old_value():
    env, buf = env_with_buffer()
    buf.buf[:4] = 0xFF
    r0 = run(insn("mov", dst=2, imm=-1), insn("lock fetch or32", dst=1, src=2), insn("mov", dst=0, src=2), EXIT,
             env=env, r1=buf.start)
    assert r0 == 0xFFFFFFFF


# --- loads and stores ------------------------------------------------------------------------------


def test_loads_zero_or_sign_extend():
    env, buf = env_with_buffer()
    buf.buf[:2] = [0xFE, 0xFF]
    assert run(insn("ldxh", dst=0, src=1), EXIT, env=env, r1=buf.start) == 0xFFFE
    assert run(insn("ldxsh", dst=0, src=1), EXIT, env=env, r1=buf.start) == (-2) & M64


def test_stack_is_private_per_run_and_cleared():
    store_then_load = [insn("ldxdw", dst=0, src=10, off=-8), insn("stdw", dst=10, off=-8, imm=77), EXIT]
    interp = Interpreter(program(*store_then_load))
    assert interp.run().r0 == 0
    assert interp.run().r0 == 0  # the value stored by the first run is gone


def test_memory_fault_names_pc_address_size_and_nearest_region():
    env, buf = env_with_buffer(64, name="packet")
    with pytest.raises(MemoryFault) as info:
        run(insn("mov", dst=0, imm=0), insn("ldxw", dst=0, src=1, off=62), EXIT, env=env, r1=buf.start)
    fault = info.value
    assert fault.pc == 1 and fault.size == 4 and fault.address == buf.start + 62
    assert "pc 1" in str(fault) and f"0x{buf.start + 62:x}" in str(fault)
    assert "past the end of packet (64 bytes)" in str(fault)
    with pytest.raises(MemoryFault, match=r"invalid read of 8 bytes at 0x10 .*before"):
        run(insn("mov", dst=1, imm=16), insn("ldxdw", dst=0, src=1), EXIT, env=env)


def test_writes_to_read_only_regions_fault():
    env, buf = env_with_buffer(16, writable=False, name="rodata")
    with pytest.raises(MemoryFault, match="pc 0: invalid write of 1 byte .*rodata is read-only"):
        run(insn("stb", dst=1, imm=1), EXIT, env=env, r1=buf.start)
    with pytest.raises(MemoryFault, match="read-only"):
        run(insn("lock add", dst=1, src=2), EXIT, env=env, r1=buf.start)
    assert run(insn("ldxb", dst=0, src=1), EXIT, env=env, r1=buf.start) == 0  # reading is fine


# --- calls ---------------------------------------------------------------------------------------------


def _helper_env(**helpers) -> Environment:
    return Environment.minimal(helpers={int(k[1:]): fn for k, fn in helpers.items()})


def test_helper_receives_r1_to_r5_and_its_result_lands_in_r0():
    seen = []

    def helper(env, r1, r2, r3, r4, r5):
        seen.append((r1, r2, r3, r4, r5))
        return -1

    env = _helper_env(h7=helper)
    r0 = run(*(insn("mov", dst=i, imm=i * 10) for i in range(1, 6)), insn("call", imm=7), EXIT, env=env)
    assert seen == [(10, 20, 30, 40, 50)] and r0 == M64


def test_callx_calls_the_helper_numbered_in_a_register():
    env = _helper_env(h5=lambda env, r1, *rest: r1 + 1)
    assert run(insn("mov", dst=1, imm=41), insn("mov", dst=3, imm=5), insn("callx", dst=3), EXIT, env=env) == 42


def test_unknown_helper_is_named_with_the_pc():
    with pytest.raises(HelperError, match=r"pc 1: call to unknown helper 999\b"):
        run(insn("mov", dst=0, imm=0), insn("call", imm=999), EXIT)
    with pytest.raises(HelperError, match=r"pc 1: call to unknown helper 12345"):
        run(insn("mov", dst=2, imm=12345), insn("callx", dst=2), EXIT)


def test_helper_returning_a_non_integer_is_reported():
    env = _helper_env(h1=lambda *args: None)
    with pytest.raises(HelperError, match="helper 1.* returned None, not an integer"):
        run(insn("call", imm=1), EXIT, env=env)


def _local_call_program() -> Program:
    """main: r6..r9 = 6..9, call f, r0 = f's result + r6 + r7 + r8 + r9. f clobbers r6..r9."""
    main = [insn("mov", dst=r, imm=r) for r in (6, 7, 8, 9)]
    main += [insn("mov", dst=1, imm=100), insn("call local", imm=5)]
    main += [insn("add", dst=0, src=r) for r in (6, 7, 8, 9)] + [EXIT]
    f = [insn("mov", dst=r, imm=1000) for r in (6, 7, 8, 9)]
    f += [insn("mov", dst=0, src=1), EXIT]
    prog = program(*main, *f)
    assert prog.insns[5].target == len(main)  # call lands on f
    return prog


def test_local_call_preserves_r6_to_r9_and_passes_arguments():
    assert Interpreter(_local_call_program()).run().r0 == 100 + 6 + 7 + 8 + 9


def test_local_call_gets_its_own_stack_frame():
    env = Environment.minimal()
    prog = program(insn("stdw", dst=10, off=-8, imm=1), insn("call local", imm=2),
                   insn("ldxdw", dst=0, src=10, off=-8), EXIT,
                   insn("stdw", dst=10, off=-8, imm=2), insn("mov", dst=0, src=10), EXIT)
    # caller's slot still holds 1; the callee wrote to its own frame
    assert Interpreter(prog, env).run().r0 == 1
    prog2 = program(insn("call local", imm=1), EXIT, insn("mov", dst=0, src=10), EXIT)
    assert Interpreter(prog2, env).run().r0 == env.stack.frame_pointer(1)


def test_call_depth_is_limited():
    # f calls itself forever
    recursive = program(insn("call local", imm=-1), EXIT)
    with pytest.raises(CallDepthExceeded, match=f"at most {MAX_CALL_DEPTH} are allowed"):
        Interpreter(program(insn("call local", imm=1), EXIT, *recursive.insns)).run()


def test_nested_calls_up_to_the_limit_work():
    # main calls f1, f1 calls f2, ... 7 nested calls = 8 frames
    depth = MAX_CALL_DEPTH - 1
    insns = []
    for _ in range(depth):
        insns += [insn("call local", imm=1), EXIT]
    insns += [insn("mov", dst=0, imm=55), EXIT]
    assert Interpreter(program(*insns)).run().r0 == 55


def test_kfunc_calls_cannot_run():
    with pytest.raises(ExecutionError, match="BTF id 77"):
        run(insn("call kfunc", imm=77), EXIT)


def test_tail_call_continues_in_the_target_with_r1_unchanged():
    target = program(insn("mov", dst=0, src=1), insn("add", dst=0, imm=1), EXIT, name="target")

    def tail_call(env, r1, r2, r3, r4, r5):
        env.pending_tail_call = target
        return 0

    env = _helper_env(h12=tail_call)
    res = Interpreter(program(insn("call", imm=12), insn("mov", dst=0, imm=-1), EXIT), env).run(r1=41)
    assert res.r0 == 42 and res.insns_executed == 1 + 3


def test_tail_calls_are_limited_and_then_fall_through():
    def tail_call(env, r1, r2, r3, r4, r5):
        env.pending_tail_call = looping
        return 0

    # each pass adds 1 to r6... but r6 is a register, and a tail call keeps registers:
    # count the passes in the stack instead
    looping = program(insn("ldxdw", dst=0, src=10, off=-8), insn("add", dst=0, imm=1),
                      insn("stxdw", dst=10, src=0, off=-8), insn("call", imm=12), EXIT)
    env = _helper_env(h12=tail_call)
    # first pass + MAX_TAIL_CALLS tail calls; the last call falls through with r0 = helper's 0
    assert Interpreter(looping, env).run().r0 == 0
    assert env.tail_calls == MAX_TAIL_CALLS
    count = int.from_bytes(env.stack.buf[-8:].tobytes(), "little")
    assert count == MAX_TAIL_CALLS + 1


def test_tail_call_to_something_else_than_a_program():
    def tail_call(env, *regs):
        env.pending_tail_call = "not a program"
        return 0

    with pytest.raises(HelperError, match="not a Program"):
        run(insn("call", imm=12), EXIT, env=_helper_env(h12=tail_call))


# --- limits and control flow ---------------------------------------------------------------------


def test_budget_stops_endless_loops_and_counts_exactly():
    env = Environment.minimal(budget=1000)
    with pytest.raises(BudgetExceeded, match="budget of 1000 ran out.*1000 instructions were executed"):
        run(insn("ja", off=-1), EXIT, env=env)
    env = Environment.minimal(budget=3)
    assert Interpreter(program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), EXIT), env).run() \
        .insns_executed == 3
    with pytest.raises(BudgetExceeded):
        Interpreter(program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), insn("ja", off=0), EXIT),
                    env).run()


def test_falling_off_the_end_is_an_error():
    with pytest.raises(ExecutionError, match="pc 1: execution fell off the end"):
        run(insn("mov", dst=0, imm=1))


def test_jump_outside_a_hand_built_program_is_an_error():
    with pytest.raises(ExecutionError, match="pc 0: jump to 11 is outside program"):
        run(insn("ja", off=10), EXIT)


def test_empty_program_is_refused():
    with pytest.raises(ExecutionError, match="empty: it has no instructions"):
        Interpreter(Program([]))


# --- lddw pseudo sources ---------------------------------------------------------------------


class _FakeMap:
    address = 0x1000

    def value_address(self, offset: int) -> int:
        return 0x2000 + offset


def test_lddw_map_forms_go_through_the_environment():
    env = Environment.minimal()
    env.maps = [_FakeMap()]
    assert run(insn("lddw", dst=0, imm=0, pseudo=PseudoSrc.MAP_IDX), EXIT, env=env) == 0x1000
    assert run(insn("lddw", dst=0, imm=0, imm_hi=8, pseudo=PseudoSrc.MAP_IDX_VALUE), EXIT, env=env) == 0x2008
    with pytest.raises(ExecutionError, match="pc 0: lddw refers to map 3"):
        run(insn("lddw", dst=0, imm=3, pseudo=PseudoSrc.MAP_FD), EXIT, env=env)


# --- legacy packet loads ----------------------------------------------------------------------------


def _packet_env(data: bytes) -> Environment:
    env = Environment.minimal()
    buf = low_alloc(len(data))
    buf[:] = np.frombuffer(data, dtype=np.uint8)
    region = env.memory.add(Region("packet", buf, "packet"))
    env.world.skb_data = (region.start, len(data))
    return env


def test_ld_abs_and_ld_ind_load_big_endian_from_the_packet():
    env = _packet_env(bytes(range(16)))
    assert run(insn("ldabsh", imm=2), EXIT, env=env) == 0x0203
    assert run(insn("mov", dst=3, imm=4), insn("ldindw", src=3, imm=1), EXIT, env=env) == 0x05060708


def test_ld_abs_out_of_bounds_ends_the_program_with_zero():
    env = _packet_env(bytes(range(16)))
    assert run(insn("mov", dst=0, imm=9), insn("ldabsw", imm=14), insn("mov", dst=0, imm=1), EXIT, env=env) == 0
    assert run(insn("mov", dst=3, imm=-20), insn("ldindb", src=3, imm=2), insn("mov", dst=0, imm=1), EXIT,
               env=env) == 0


def test_ld_abs_without_a_packet_is_an_error():
    with pytest.raises(ExecutionError, match="pc 0: ldabsb needs a packet context"):
        run(insn("ldabsb", imm=0), EXIT)


# --- trace mode --------------------------------------------------------------------------------------


def test_trace_records_pc_instruction_and_changed_registers():
    env, buf = env_with_buffer()
    prog = program(insn("mov", dst=0, imm=5), insn("stxw", dst=1, src=0, off=4), insn("add", dst=0, imm=0),
                   EXIT)
    res = Interpreter(prog, env, trace=True).run(r1=buf.start)
    assert [e.pc for e in res.trace] == [0, 1, 2, 3]
    assert res.trace[0].changed == {"r0": 5}
    assert res.trace[1].changed == {f"mem[0x{buf.start + 4:x}]": 5}
    assert res.trace[2].changed == {}
    assert res.trace[0].insn is prog.insns[0]
    assert Interpreter(prog, env).run(r1=buf.start).trace is None


def test_trace_is_attached_to_the_error():
    with pytest.raises(MemoryFault) as info:
        Interpreter(program(insn("mov", dst=1, imm=8), insn("ldxb", dst=0, src=1), EXIT), trace=True).run()
    assert [e.pc for e in info.value.trace] == [0, 1]


# --- regions that change during a run -------------------------------------------------------------


def _access_twice_around_helper(access: Insn) -> Program:
    """Run ``access`` (based on r1), call helper 9, then run the same instruction again."""
    return program(insn("mov", dst=7, imm=0), access, insn("jne", dst=7, imm=0, off=3), insn("call", imm=9),
                   insn("mov", dst=7, imm=1), insn("ja", off=-5), EXIT)


def test_a_region_removed_by_a_helper_cannot_be_read_any_more():
    env, buf = env_with_buffer(16, name="packet")
    env.helpers[9] = lambda env, *regs: env.memory.remove(buf) or 0
    with pytest.raises(MemoryFault, match="pc 1: invalid read of 1 byte"):
        Interpreter(_access_twice_around_helper(insn("ldxb", dst=0, src=1)), env).run(r1=buf.start)


def test_a_region_made_read_only_by_a_helper_cannot_be_written_any_more():
    env, buf = env_with_buffer(16, name="packet")

    def freeze(env, *regs):
        env.memory.replace(buf, Region("frozen", buf.buf, "mem", writable=False))
        return 0

    env.helpers[9] = freeze
    with pytest.raises(MemoryFault, match="pc 1: invalid write .*frozen is read-only"):
        Interpreter(_access_twice_around_helper(insn("stb", dst=1, imm=1)), env).run(r1=buf.start)


def test_regions_removed_between_runs_are_not_remembered():
    env, buf = env_with_buffer(16)
    interp = Interpreter(program(insn("ldxb", dst=0, src=1), EXIT), env)
    assert interp.run(r1=buf.start).r0 == 0
    env.memory.remove(buf)
    with pytest.raises(MemoryFault):
        interp.run(r1=buf.start)
