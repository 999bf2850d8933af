"""The contract between JITed code and the Python side: the run context.

Native code and Python talk through one small array of unsigned 64-bit words
(``RunContext``), allocated by :mod:`ebpflite.jit.compiler` as a numpy array
and passed to the native entry point as a pointer. Python fills in the
arguments, the region table, the stack and the budget; native code writes
back r0, the number of instructions executed and, when it stops early, a
status code with the pc, address and size that explain why. Python then
turns a non-zero status into the same typed exception the interpreter
raises. Nothing else crosses the boundary, so the compiled code does not
depend on any address of one particular run and can be cached.
"""

from __future__ import annotations

from enum import IntEnum


class Ctx(IntEnum):
    """Word offsets in the run context."""

    #: r0..r9: the entry function's initial registers (r1..r5 = arguments, the rest 0,
    #: or a tail-calling program's registers); its final r0..r5 on return; and, at a
    #: helper call, r6..r9 of the caller (the trampoline needs them for tail calls)
    REG0 = 0
    STATUS = 10  #: a :class:`Status`; 0 while running
    FAULT_PC = 11
    FAULT_ADDR = 12  #: memory faults: the address; budget: instructions counted before the block
    FAULT_SIZE = 13
    FAULT_WRITE = 14
    FAULT_EXTRA = 15  #: bad jumps / deep calls: the target pc
    COUNT = 16  #: instructions executed so far
    BUDGET = 17  #: stop once COUNT would exceed this
    REGIONS = 18  #: address of AddressSpace.table() (row 0 = count; rows: start, end, flags)
    STACK_TOP = 19  #: r10 of frame 0
    CALLBACK = 20  #: address of the ctypes helper trampoline
    LDDW = 21  #: address of the lddw table: (value, ok) pairs
    DEPTH = 22  #: frame the entry function runs in (a tail call keeps the caller's frame)
    STACK_LO = 23  #: stack region, for the checked mode's fast path
    STACK_HI = 24
    CALL_DEPTH = 25  #: at a helper call: the calling function's frame
    CALL_REMAINING = 26  #: at a helper call: instructions after it in its block (counted, not yet run)
    CALL_TARGET = 27  #: ebpf_callfn: entry pc of the function to run (helper callbacks)
    #: always 0: the base pointer of every memory access (``base + address`` as a GEP lets
    #: LLVM's loop analysis see strided accesses; a literal null base would be undefined)
    ZERO_BASE = 28
    #: address of the map table of native helpers that write maps (jit/native.py
    #: ``map_table_rows``): u64 count, then (descriptor, free list) per map
    MAPS = 29
    #: address of the batch block during a batch run (jit/batch.py ``BatchWord``), else 0:
    #: native helpers that need the packet's frame, the redirect slot, the simulated clock or
    #: the seeded generator read it there, and decline (call Python) when it is 0
    BATCH = 30
    #: address of the skb record of this run (jit/native_skb.py: the ``__sk_buff`` address,
    #: ``skb->data``, ``skb->len``), or 0: native skb helpers then decline
    SKB = 31


CTX_WORDS = 32


class Status(IntEnum):
    """Why native code returned (0: it reached ``exit`` in the entry function)."""

    OK = 0
    MEMORY_FAULT = 1  #: FAULT_PC, FAULT_ADDR, FAULT_SIZE, FAULT_WRITE
    BUDGET = 2  #: FAULT_PC = first pc of the segment, FAULT_ADDR = count before it, REG0..9 + FAULT_SIZE = r0..r10 (jit/budget.py)
    CALL_DEPTH = 3  #: FAULT_PC = the call, FAULT_EXTRA = its target
    CALLBACK_RAISED = 4  #: a Python callback raised; the exception is stashed on the Python side
    FELL_OFF = 5  #: FAULT_PC = the pc execution would have continued at
    BAD_JUMP = 6  #: FAULT_PC = the jump, FAULT_EXTRA = its target outside the program
    LDDW = 7  #: an lddw whose value could not be resolved (FAULT_PC)
    PROGRAM_EXIT = 8  #: the program ended early (legacy packet load out of bounds): r0 in REG0
    #: set by the trampoline after running a tail call's target: the calling function
    #: returns at once with r0..r5 from REG0..REG5 (the target's exit), status back to 0
    TAIL_RETURN = 9


class CallKind(IntEnum):
    """High 32 bits of the ``kind_pc`` argument of the callback trampoline (low 32: the pc)."""

    HELPER = 0  #: call imm / callx: ``num`` is the helper number
    LEGACY_LOAD = 1  #: ld_abs/ld_ind: ``num`` is the src register's value
    KFUNC = 2  #: Python raises the interpreter's error


#: signature of the callback: u64 cb(ctx*, u64 kind_pc, u64 num, u64 r1, ..., u64 r5) -> r0
CALLBACK_ARGS = 8


def signed_word(word: int) -> int:
    """A run-context word read back as the signed value native code stored (a pc or a jump
    target outside the program may be negative)."""
    return word - (1 << 64) if word >> 63 else word
