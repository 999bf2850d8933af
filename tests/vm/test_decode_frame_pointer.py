"""r10 is read-only: every instruction form that would write it is refused at decode.

Forms write r10 through ``dst`` (ALU, byte swaps, loads, lddw) or, for the
fetch atomics and xchg, through ``src`` (the old memory value goes there).
cmpxchg puts the old value in r0, so its ``src`` may be r10 (it stores the
frame pointer). Programs built without the decoder (hand-built, assembled)
get the same check when an engine takes them, so neither engine can be
asked to write r10.
"""

from __future__ import annotations

import struct

import pytest

from ebpflite.errors import DecodeError
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.insn import Insn, decode, encode, make
from ebpflite.vm.interp import Interpreter
from ebpflite.vm.isa import FRAME_REG, SPECS
from ebpflite.vm.program import Program

#: every atomic form that writes its source register, by mnemonic
SRC_WRITERS = [f"lock fetch {op}{w}" for op in ("add", "or", "and", "xor") for w in ("", "32")] + \
              ["lock xchg", "lock xchg32"]


def _raw(name: str, dst: int, src: int) -> bytes:
    spec = next(s for s in SPECS if s.name == name)
    imm = spec.fixed_value("imm") or 0
    return struct.pack("<BBhi", spec.opcode, (src << 4) | dst, 0, imm) + encode([make("exit")])


def test_the_forms_writing_src_are_the_fetch_atomics_and_xchg():
    writers = sorted(s.name for s in SPECS if s.written_register_fields == ("src",))
    assert writers == sorted(SRC_WRITERS)


@pytest.mark.parametrize("name", SRC_WRITERS)
def test_atomic_writing_r10_through_src_is_rejected(name):
    with pytest.raises(DecodeError) as err:
        decode(_raw(name, dst=1, src=FRAME_REG))
    assert err.value.field == "src" and err.value.pc == 0
    assert str(err.value).endswith(f"{name} writes the old memory value to its source register, "
                                   "the read-only frame pointer r10")
    decode(_raw(name, dst=1, src=2))  # the same form with another source decodes


@pytest.mark.parametrize("spec", [s for s in SPECS if s.written_register_fields == ("dst",)],
                         ids=lambda s: f"{s.name}-{s.opcode:#04x}")
def test_every_form_writing_dst_rejects_r10(spec):
    insn = Insn(spec, dst=FRAME_REG, src=spec.fixed_value("src") or 0, imm=spec.fixed_value("imm") or 0,
                off=spec.fixed_value("off") or 0)
    with pytest.raises(DecodeError, match=f"{spec.name} writes to the read-only frame pointer r10") as err:
        decode(encode([insn, make("exit")]))
    assert err.value.field == "dst"


@pytest.mark.parametrize("name", ["lock cmpxchg", "lock cmpxchg32"])
def test_cmpxchg_with_r10_as_source_stores_the_frame_pointer(name):
    """cmpxchg writes r0, not src: r10 as its source is a read, and both engines agree on it."""
    size = 8 if name == "lock cmpxchg" else 4
    mask = (1 << (8 * size)) - 1
    prog = Program.of(
        make("stdw", dst=10, off=-8, imm=0),          # *(u64 *)(r10 - 8) = 0
        make("mov", dst=0, imm=0),                    # r0 = 0: matches, so r10 is stored
        make("mov", dst=1, src=10),
        make(name, dst=1, src=10, off=-8),            # cmpxchg(r1 - 8, r0, r10)
        make("ldxdw", dst=0, src=10, off=-8),         # r0 = what was stored
        make("sub", dst=0, src=10),                   # r0 -= r10: 0 (64-bit) or -(high bits) (32-bit)
        make("exit"))
    prog.insns = decode(prog.bytecode)  # it decodes
    for engine in (Interpreter, JitProgram):
        env = Environment.minimal()  # each environment has its own stack: compare with its frame pointer
        fp = env.stack.frame_pointer(0)
        assert engine(prog, env).run().r0 == ((fp & mask) - fp) & ((1 << 64) - 1), engine.__name__


@pytest.mark.parametrize("engine", [Interpreter, JitProgram], ids=["interp", "jit"])
@pytest.mark.parametrize("insn", [make("lock fetch add", dst=1, src=FRAME_REG), make("lock xchg32", dst=1, src=10),
                                  make("mov", dst=FRAME_REG, imm=1), make("le16", dst=FRAME_REG)],
                         ids=lambda i: i.spec.name)
def test_engines_refuse_hand_built_programs_writing_r10(engine, insn):
    """Programs that never went through the decoder: the JIT used to crash with a bare
    IndexError and the interpreter overwrote r10."""
    prog = Program.of(insn, make("exit"))
    with pytest.raises(DecodeError, match=r"read-only\s+frame pointer r10") as err:
        engine(prog, Environment.minimal())
    assert err.value.pc == 0


def test_hand_built_program_with_a_register_beyond_r10_is_refused():
    prog = Program.of(make("mov", dst=11, imm=1), make("exit"))
    for engine in (Interpreter, JitProgram):
        with pytest.raises(DecodeError, match=r"invalid register r11 in field 'dst'"):
            engine(prog, Environment.minimal())
