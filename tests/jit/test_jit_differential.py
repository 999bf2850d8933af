"""Differential test: random programs give identical results in the interpreter and the JIT.

Hypothesis generates programs from every ALU operation of both widths (and
both operand sources), byte swaps, sign extensions, forward conditional
jumps, loads, stores and atomics on the stack and on an input buffer
(through r9, a copy of r1 that programs never overwrite), helper calls, a
bpf-to-bpf call, and map helper calls (lookup, then a load and a store
through the returned pointer; update with every flag, valid or not; delete)
on live array, per-CPU array, hash and per-CPU hash maps, with keys stored on
the stack first so that they hit, miss, fill the hash and empty it again. Offsets are mostly in bounds, sometimes not, so faults are
compared too. Each program runs in the interpreter and in the JIT's checked
mode; when the interpreter finished without a fault, also in unchecked mode
(the same path, so no stray access can happen), where the map helpers are the
native ones (jit/native.py). Memory is compared region by region and every
map's whole storage (slots, free list, counters) byte for byte.

The number of examples follows the hypothesis profile (tests/conftest.py):
``HYPOTHESIS_PROFILE=long pytest tests/jit/test_jit_differential.py`` runs
thousands.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from jit_harness import EXIT, agree, buffer, insn, lddw, program

from ebpflite.helpers import maps, registry
from ebpflite.vm.env import Environment
from ebpflite.vm.isa import SPECS, Kind, PseudoSrc

BUF_SIZE = 64
WRITABLE = list(range(0, 9))  # r9 holds the buffer's address, r10 the frame pointer
ALU_SPECS = [s for s in SPECS if s.kind is Kind.ALU]
ENDIAN_SPECS = [s for s in SPECS if s.kind is Kind.ENDIAN]
JUMP_SPECS = [s for s in SPECS if s.kind is Kind.JUMP]
MEM_SPECS = [s for s in SPECS if s.kind in (Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC)]

imm32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 31, 32, 63, 64, -(2**31)]))
imm64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**63, 2**64 - 1, 2**32, 2**31]))
reg = st.sampled_from(WRITABLE)
any_reg = st.integers(0, 9)


@st.composite
def alu(draw):
    spec = draw(st.sampled_from(ALU_SPECS))
    fields = dict(spec.fixed)
    return insn(spec.name, dst=draw(reg),
                src=draw(any_reg) if spec.source == "X" else None,
                off=fields.get("off", 0), imm=fields.get("imm", draw(imm32)) if spec.source == "K" else 0)


@st.composite
def endian(draw):
    spec = draw(st.sampled_from(ENDIAN_SPECS))
    return insn(spec.name, dst=draw(reg), imm=spec.extra)


@st.composite
def memory(draw):
    spec = draw(st.sampled_from(MEM_SPECS))
    size = spec.size
    on_stack = draw(st.booleans())
    base = 10 if on_stack else 9
    if draw(st.integers(0, 19)) == 0:  # now and then, anywhere near the region: faults
        off = draw(st.integers(-600, 600))
    elif on_stack:
        off = -size * draw(st.integers(1, 512 // size))
    else:
        off = size * draw(st.integers(0, BUF_SIZE // size - 1))
    if spec.kind is Kind.LDX:
        return insn(spec.name, dst=draw(reg), src=base, off=off)
    if spec.kind is Kind.ST:
        return insn(spec.name, dst=base, off=off, imm=draw(imm32))
    if spec.kind is Kind.ATOMIC:
        return insn(spec.name, dst=base, src=draw(reg), off=off)
    return insn(spec.name, dst=base, src=draw(any_reg), off=off)


MIX = 0x7F  #: the helper number of _mix (1-3 are the registry's map helpers)
MAP_SPECS = [maps.MapSpec(name="arr", type="array", key_size=4, value_size=8, max_entries=4),
             maps.MapSpec(name="parr", type="percpu_array", key_size=4, value_size=12, max_entries=3),
             maps.MapSpec(name="h", type="hash", key_size=4, value_size=12, max_entries=3),
             maps.MapSpec(name="ph", type="percpu_hash", key_size=4, value_size=8, max_entries=2)]
MAP_HELPERS = {n: registry.by_name(n, "linux") for n in
               ("bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem")}


@st.composite
def map_call(draw):
    """Store a small key on the stack, then look it up (and use the pointer), update it
    from a value elsewhere on the stack with some flags, or delete it."""
    which = draw(st.integers(0, len(MAP_SPECS) - 1))
    key_off = -8 * draw(st.integers(1, 8))
    value_off = -8 * draw(st.integers(9, 60))
    helper = draw(st.sampled_from(sorted(MAP_HELPERS)))
    seq = [insn("stw", dst=10, off=key_off, imm=draw(st.integers(0, 5))),
           insn("lddw", dst=1, imm=which, pseudo=PseudoSrc.MAP_IDX),
           insn("mov", dst=2, src=10), insn("add", dst=2, imm=key_off),
           insn("mov", dst=3, src=10), insn("add", dst=3, imm=value_off),
           insn("mov", dst=4, imm=draw(st.sampled_from([0, 1, 2, 0, 1, 2, 3, 4]))),
           insn("call", imm=MAP_HELPERS[helper].number),
           # every result reaches memory (r0 itself is often overwritten before exit)
           insn("lock xor", dst=9, src=0, off=8 * draw(st.integers(0, BUF_SIZE // 8 - 1)))]
    if helper == "bpf_map_lookup_elem":  # r0 is a value pointer or NULL: read and bump it
        seq += [insn("jeq", dst=0, imm=0, off=3), insn("ldxw", dst=5, src=0, off=4),
                insn("add", dst=5, imm=draw(imm32)), insn("stxw", dst=0, src=5, off=0)]
    return seq


def _mix(env, r1, r2, r3, r4, r5):
    """A deterministic helper that depends on every argument."""
    return (r1 * 31 + r2 * 7 + (r3 ^ r4) - r5) & ((1 << 64) - 1)


@st.composite
def programs(draw):
    body_len = draw(st.integers(1, 40))
    body = [draw(st.one_of(alu(), alu(), endian(), memory(), memory(),
                           st.builds(lambda d, v: lddw(d, v), reg, imm64),
                           st.just(insn("call", imm=MIX)), st.just("jump"), st.just("local"),
                           map_call()))
            for _ in range(body_len)]
    body = [x for item in body for x in (item if isinstance(item, list) else [item])]
    # resolve placeholders: forward jumps (in instruction counts, lddw counts as 2 slots)
    insns = [insn("mov", dst=9, src=1)]
    for i, item in enumerate(body):
        if item == "jump":
            spec = draw(st.sampled_from(JUMP_SPECS))
            skip = draw(st.integers(0, 3))
            slots = sum(x.slots for x in body[i + 1:i + 1 + skip] if not isinstance(x, str)) + \
                sum(1 for x in body[i + 1:i + 1 + skip] if isinstance(x, str))
            item = insn(spec.name, dst=draw(any_reg), src=draw(any_reg) if spec.source == "X" else None,
                        imm=draw(imm32) if spec.source == "K" else 0, off=slots)
        elif item == "local":
            item = "local"
        insns.append(item)
    # every register reaches memory at exit (xor-folded into the buffer), not only r0
    insns += [insn("lock xor", dst=9, src=r, off=8 * (r % (BUF_SIZE // 8))) for r in range(9)]
    insns.append(EXIT)
    # the subprogram: a few ALU ops on r1..r5 and r6..r9, then exit
    sub = [draw(alu()) for _ in range(draw(st.integers(0, 4)))] + [insn("mov", dst=0, src=1), EXIT]
    placed, pc, calls = [], 0, []
    for item in insns:
        if item == "local":
            item = insn("call local", imm=0)
            calls.append(len(placed))
        placed.append(item)
        pc += item.slots
    sub_pc = pc
    for index in calls:
        at = sum(x.slots for x in placed[:index])
        placed[index] = insn("call local", imm=sub_pc - at - 1)
    return program(*placed, *sub)


def _env():
    helpers = {MIX: _mix} | {spec.number: spec.impl for spec in MAP_HELPERS.values()}
    env = Environment(helpers=helpers, budget=10_000)
    env.maps = [maps.create(spec, cpus=2) for spec in MAP_SPECS]
    for live in env.maps:
        for region in live.regions():
            env.memory.add(region)
    region = buffer(env, bytes((i * 37 + 11) & 0xFF for i in range(BUF_SIZE)))
    return env, {"r1": region.start, "r2": BUF_SIZE, "r3": 3}


@given(programs())
def test_random_programs_agree(prog):
    agree(prog, _env, unchecked=True)
