"""The safety checks: every memory access, register read, helper argument and exit.

Each check either returns what the program may observe (the value a load
yields) or raises :class:`Reject` with a :class:`~ebpflite.verifier.report.Finding`
saying what failed, in words and as a formula, with the abstract values of
the registers involved and a hint when there is a usual fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ebpflite.verifier.domain import ZERO, Scalar
from ebpflite.verifier.report import Finding
from ebpflite.verifier.state import (
    INVALID,
    MISC,
    UNKNOWN,
    ZEROB,
    StackSlot,
    State,
    T,
    Value,
)
from ebpflite.vm.isa import STACK_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from ebpflite.verifier.transfer import Machine

MAX_VAR_OFF = 1 << 29  #: the kernel's BPF_MAX_VAR_OFF: larger pointer offsets are refused
MAX_PACKET_OFF = 0xFFFF  #: the kernel's MAX_PACKET_OFF
READONLY_MEM = -2  #: ``ref`` of memory a program may only read (a map key passed to a callback)

HINT_PACKET = "add a bounds check against data_end before this access (if (data + N > data_end) return ...)"
HINT_NULL = "compare the pointer with NULL (if (!p) return ...) before using it"
HINT_BOUND = "bound the value first with a comparison (if (i >= N) return ...) or a mask (i &= N - 1)"
HINT_LEAK = "store or return a number derived from the data, not the pointer itself"


#: what memory a pointer type points into, for messages
REGION = {T.CTX: "context", T.STACK: "stack", T.PACKET: "packet", T.PACKET_META: "packet metadata",
          T.MAP_VALUE: "map value", T.MEM: "helper-provided"}


class Reject(Exception):
    """A check failed on some path; ``finding`` says why."""

    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


def fail(pc: int, check: str, message: str, formula: str = "", hint: str = "", **regs: Value) -> Reject:
    return Reject(Finding(pc, message, formula, {k: v.describe() for k, v in regs.items()}, hint,
                          check=check))


# --- registers -------------------------------------------------------------------------------


def read_reg(st: State, r: int, pc: int, what: str = "") -> Value:
    """A register that must be initialised (``what`` says what it is used for)."""
    v = st.regs[r]
    if v.type is T.NOT_INIT:
        use = f" as {what}" if what else ""
        raise fail(pc, "uninit_reg", f"r{r} is read{use} before it is written on some path",
                   f"r{r}.type != uninit",
                   "r1-r5 are clobbered by helper calls; save values in r6-r9 across calls" if 1 <= r <= 5
                   else "initialise the register on every path to here")
    if v.type is T.MIXED:
        raise fail(pc, "mixed_type", f"r{r} holds different types on the paths that meet before pc {pc}",
                   f"r{r}.type is one type", "give the variable the same kind of value on every path")
    return v


def require_number(st: State, r: int, pc: int, what: str) -> Value:
    v = read_reg(st, r, pc, what)
    if v.type is not T.SCALAR:
        raise fail(pc, "pointer_leak", f"r{r} is a {v.type.value}, but {what} must be a number "
                   "(this would leak an address)", f"r{r}.type == number", HINT_LEAK, **{f"r{r}": v})
    return v


# --- memory ------------------------------------------------------------------------------------


def offset_range(v: Value, k: int) -> tuple[int, int]:
    """Smallest and largest offset ``v + k`` may have within its region."""
    return v.off + k + v.num.smin, v.off + k + v.num.smax


def access(m: Machine, st: State, reg: int, k: int, size: int, write: bool, stored: Value | None,
           pc: int, atomic: bool = False) -> Value:
    """Check ``*(size *)(reg + k)`` and return the loaded value (for writes: what was stored)."""
    base = read_reg(st, reg, pc, "a pointer")
    name = f"r{reg}"
    verb = "write" if write else "read"
    t = base.type
    if t is T.SCALAR:
        raise fail(pc, "deref_number", f"{name} is a number, not a pointer: it cannot be dereferenced",
                   f"{name}.type in {{ctx, stack, packet, map_value, mem}}",
                   "packet pointers become numbers after helpers that change the packet; reload them "
                   "from the context" if not base.num.is_const else "", **{name: base})
    if t in (T.MAP_VALUE_OR_NULL, T.MEM_OR_NULL, T.MAP_PTR_OR_NULL):
        raise fail(pc, "null_deref", f"{name} may be NULL here ({t.value})", f"{name} != 0", HINT_NULL,
                   **{name: base})
    if t in (T.PACKET_END, T.MAP_PTR, T.FUNC):
        raise fail(pc, "bad_deref", f"{name} is a {t.value}, which cannot be dereferenced",
                   f"{name}.type in {{ctx, stack, packet, map_value, mem}}", **{name: base})
    if write and stored is not None and stored.is_pointer and t is not T.STACK:
        raise fail(pc, "pointer_leak", f"storing a {stored.type.value} into {REGION[t]} memory leaks an "
                   "address", "stored value is a number", HINT_LEAK)
    if atomic and t not in (T.STACK, T.MAP_VALUE, T.MEM):
        raise fail(pc, "atomic_region", f"atomic operations are not allowed on {t.value} memory",
                   f"{name}.type in {{stack, map_value}}", **{name: base})
    if write and t is not T.CTX:
        m.other_stores.add(pc)  # verifier/xlate.py: a store rewritten for the context must be only that
    if t is T.STACK:
        return _stack(m, st, base, name, k, size, write, stored, pc)
    if t is T.CTX:
        return _ctx(m, base, name, k, size, write, stored, pc)
    if t in (T.PACKET, T.PACKET_META):
        return _packet(m, base, name, k, size, write, pc, verb)
    return _sized(m, base, name, k, size, write, pc, verb)


def _loaded(size: int) -> Value:
    return Value.scalar(Scalar.unknown(size * 8))


def _packet(m: Machine, base: Value, name: str, k: int, size: int, write: bool, pc: int, verb: str) -> Value:
    what = "packet" if base.type is T.PACKET else "packet metadata"
    if write and not m.packet_writable:
        raise fail(pc, "readonly", f"{m.prog_type} programs may not write to the packet",
                   "packet is writable", **{name: base})
    if base.num.smin < 0:
        raise fail(pc, "packet_bounds", f"{what} {verb} through {name} whose variable offset may be "
                   "negative", f"{name}.var >= 0 (min is {base.num.smin})", HINT_BOUND, **{name: base})
    lo = base.off + k
    if lo < 0:
        raise fail(pc, "packet_bounds", f"Lower bound must be at least 0 ({what} {verb} at offset {lo})",
                   f"valid_access({name}.offset{k:+d}, width={size}) >= 0", **{name: base})
    need = lo + size
    if need > base.range:
        proven = (f"only {base.range} byte{'s are' if base.range > 1 else ' is'} proven" if base.range
                  else "no bytes are proven")
        raise fail(pc, "packet_bounds", f"Upper bound must be at most {base.range} ({what} {verb} of "
                   f"{size} byte{'s' if size > 1 else ''} at offset {lo}; {proven} to lie before {_end_name(m, base)})",
                   f"valid_access({name}.offset{'+' + str(lo) if lo else ''}, width={size}) <= {base.range}",
                   HINT_PACKET, **{name: base})
    return _loaded(size)


def _end_name(m: Machine, base: Value) -> str:
    kind = "data_end" if base.type is T.PACKET else "data"
    for f in m.ctx.fields:
        if f.kind == kind:
            return f"{m.ctx.name}.{f.name}"
    return kind


def _sized(m: Machine, base: Value, name: str, k: int, size: int, write: bool, pc: int, verb: str) -> Value:
    what = "map value" if base.type is T.MAP_VALUE else "memory"
    limit = base.range
    if base.num.smin <= -MAX_VAR_OFF or base.num.smax >= MAX_VAR_OFF:
        raise fail(pc, "unbounded_offset", f"{what} {verb} through {name} with an unbounded offset",
                   f"{name}.var in [{-MAX_VAR_OFF}, {MAX_VAR_OFF}]", HINT_BOUND, **{name: base})
    lo, hi = offset_range(base, k)
    if lo < 0:
        raise fail(pc, "map_bounds", f"Lower bound must be at least 0 ({what} {verb} at offset {lo})",
                   f"valid_access({name}.offset{k:+d}, width={size}) >= 0",
                   HINT_BOUND if not base.num.is_const else "", **{name: base})
    if hi + size > limit:
        raise fail(pc, "map_bounds", f"Upper bound must be at most {limit} ({what} {verb} of {size} bytes at "
                   f"offset {hi}; the {what} has {limit} bytes)",
                   f"valid_access({name}.offset+{hi}, width={size}) <= {limit}",
                   HINT_BOUND if not base.num.is_const else "", **{name: base})
    if write and base.type is T.MAP_VALUE and base.ref >= 0 and m.map_readonly(base.ref):
        raise fail(pc, "readonly", f"map {m.map_name(base.ref)} is read-only to programs",
                   "map is writable", **{name: base})
    if write and base.type is T.MEM and base.ref == READONLY_MEM:
        raise fail(pc, "readonly", "this memory (a map key passed to a callback) is read-only",
                   "memory is writable", **{name: base})
    return _loaded(size)


#: what a load of a context field of these kinds yields (the kernel's PTR_TO_PACKET...)
_PACKET_KINDS = {"data": T.PACKET, "data_end": T.PACKET_END, "data_meta": T.PACKET_META}
#: context fields holding pointers ebpflite's verifier does not type yet, for the message
_UNMODELLED = {"socket": "socket (struct bpf_sock *)", "flow_keys": "struct bpf_flow_keys",
               "btf": "kernel object (BTF-typed)"}


def _ctx(m: Machine, base: Value, name: str, k: int, size: int, write: bool, stored: Value | None,
         pc: int) -> Value:
    """A context field, as the program type's descriptor (vm/contexts.py) allows it to be accessed."""
    desc = m.ctx
    if not base.num.is_const:
        raise fail(pc, "ctx_access", f"context access through {name} with a variable offset",
                   f"{name}.offset is constant", "index context fields with constants only", **{name: base})
    moved = base.off + base.num.value
    if moved:
        raise fail(pc, "ctx_access", f"{name} is the context pointer moved by {moved} bytes: fields are "
                   "accessed from the unmodified pointer (the kernel's \"dereference of modified ctx ptr\")",
                   f"{name}.offset == 0", f"access the field as *({name}_at_entry + {moved + k})",
                   **{name: base})
    off = k
    formula = f"valid_access({name}.offset{'+' + str(off) if off else ''}, width={size})"
    why = desc.refusal(off, size, write, f"{m.prog_type} programs")
    if why is not None:
        raise fail(pc, "ctx_access", why, formula, **{name: base})
    field = desc.field_at(off)
    assert field is not None
    if write:
        m.ctx_stores.setdefault(pc, set()).add(field.name)  # verifier/xlate.py narrows some of them
        return stored or UNKNOWN
    if field.kind in _PACKET_KINDS:
        return Value(_PACKET_KINDS[field.kind], ZERO, 0, 0, 0, 0)
    if field.kind in _UNMODELLED:
        raise fail(pc, "unsupported", f"field {field.name} of {desc.name} is a {_UNMODELLED[field.kind]} "
                   "pointer, which ebpflite's verifier does not follow yet", formula, **{name: base})
    return _loaded(size)


def _stack(m: Machine, st: State, base: Value, name: str, k: int, size: int, write: bool,
           stored: Value | None, pc: int) -> Value:
    frame = st.frames[base.ref]
    if base.num.smin <= -MAX_VAR_OFF or base.num.smax >= MAX_VAR_OFF:
        raise fail(pc, "unbounded_offset", f"stack access through {name} with an unbounded offset",
                   f"{name}.var in [{-MAX_VAR_OFF}, {MAX_VAR_OFF}]", HINT_BOUND, **{name: base})
    lo, hi = offset_range(base, k)
    if lo < -STACK_SIZE or hi + size > 0:
        raise fail(pc, "stack_bounds", f"invalid stack access: {size} bytes at offset "
                   f"{lo if lo == hi else f'[{lo}, {hi}]'} lie outside the frame [-{STACK_SIZE}, 0)",
                   f"-{STACK_SIZE} <= {name}.offset{k:+d} && {name}.offset{k:+d}+{size} <= 0", **{name: base})
    m.note_stack_depth(st, base.ref, -lo)
    if lo != hi:
        return _stack_var(m, frame, lo, hi, size, write, pc, name, base)
    if write:
        store_stack(frame, lo, size, stored)
        return stored or UNKNOWN
    slot = frame.stack.get((-lo - 1) // 8)
    if lo % 8 == 0 and slot is not None and slot.spill is not None:
        if size == 8:
            return slot.spill
        if slot.spill.type is T.SCALAR:  # the low bytes of a spilled number (little-endian)
            return Value.scalar(slot.spill.num.trunc(size * 8))
    kinds = stack_bytes(frame, lo, size)
    if INVALID in kinds:
        bad = [lo + i for i, b in enumerate(kinds) if b == INVALID]
        what = f"uninitialised stack bytes fp{bad[0]:+d}{'' if len(bad) == 1 else f'..fp{bad[-1]:+d}'}"
        if not uninit_allowed(m, pc, f"reads {what}"):
            raise fail(pc, "uninit_stack", f"reading {what}", f"initialised(fp{lo:+d}, width={size})",
                       "write the variable before reading it (or memset the buffer)", **{name: base})
        return _loaded(size)
    if all(b == ZEROB for b in kinds):
        return Value.const(0)
    return _loaded(size)


def _stack_var(m: Machine, frame, lo: int, hi: int, size: int, write: bool, pc: int, name: str,
               base: Value) -> Value:
    if write:
        # some of these bytes get written but we don't know which: spills lose their type
        for off in range(lo, hi + size):
            k = (-off - 1) // 8
            slot = frame.stack.get(k)
            if slot is not None and slot.spill is not None:
                frame.stack[k] = StackSlot(None, slot.as_bytes())
        return UNKNOWN
    kinds = stack_bytes(frame, lo, hi - lo + size)
    if INVALID in kinds and not uninit_allowed(m, pc, f"may read uninitialised stack bytes in "
                                                     f"fp{lo:+d}..fp{hi + size - 1:+d} (variable offset)"):
        raise fail(pc, "uninit_stack", f"variable-offset stack read may touch uninitialised bytes in "
                   f"fp{lo:+d}..fp{hi + size - 1:+d}", f"initialised(fp{lo:+d}, width={hi - lo + size})",
                   "initialise the whole buffer before indexing it", **{name: base})
    return _loaded(size)


def uninit_allowed(m: Machine, pc: int, what: str) -> bool:
    """Whether the platform lets a program read stack it never wrote; if so, note where it does.

    The Linux kernel allows it for privileged loaders (``allow_uninit_stack``:
    the value is unknown), PREVAIL never does (:mod:`~ebpflite.verifier.dialect`).
    ebpflite's engines clear the stack at the start of every run, so such a
    read gives the same value in both.
    """
    if not m.rules.uninit_stack_reads:
        return False
    m.notes.setdefault(pc, f"{what}: allowed, as {m.rules.verifier} allows privileged programs "
                       "(the value is unknown); initialise the stack if the program must load unprivileged")
    return True


def stack_bytes(frame, lo: int, size: int) -> list[int]:
    out = []
    for off in range(lo, lo + size):
        k, i = divmod(-off - 1, 8)
        slot = frame.stack.get(k)
        out.append(INVALID if slot is None else slot.byte(7 - i))
    return out


def store_stack(frame, lo: int, size: int, stored: Value | None) -> None:
    """Record a store of ``stored`` (None: unknown bytes) at frame offset ``lo``."""
    if size == 8 and lo % 8 == 0 and stored is not None:
        frame.stack[(-lo - 1) // 8] = StackSlot(stored)
        return
    kind = ZEROB if stored is not None and stored.type is T.SCALAR and stored.num == ZERO else MISC
    for off in range(lo, lo + size):
        k, i = divmod(-off - 1, 8)
        slot = frame.stack.get(k)
        kinds = list(slot.as_bytes()) if slot is not None else [INVALID] * 8
        kinds[7 - i] = kind
        frame.stack[k] = StackSlot(None, tuple(kinds))


def mark_stack_written(frame, lo: int, size: int) -> None:
    store_stack(frame, lo, size, None)


# --- helper arguments ----------------------------------------------------------------------------


def check_mem_arg(m: Machine, st: State, reg: int, size: Scalar, write: bool, pc: int, what: str,
                  init: bool = True) -> None:
    """A helper will access ``size`` bytes at ``reg``: all of them must be in bounds."""
    base = st.regs[reg]
    n = size.umax
    if n == 0:
        return
    if base.type is T.STACK:
        frame = st.frames[base.ref]
        lo, hi = offset_range(base, 0)
        if lo < -STACK_SIZE or hi + n > 0:
            raise fail(pc, "stack_bounds", f"{what}: {n} bytes at stack offset {lo} lie outside the frame",
                       f"-{STACK_SIZE} <= r{reg}.offset && r{reg}.offset+{n} <= 0", **{f"r{reg}": base})
        m.note_stack_depth(st, base.ref, -lo)
        if write:
            if lo == hi:
                mark_stack_written(frame, lo, n)
            return
        kinds = stack_bytes(frame, lo, hi - lo + n)
        if init and INVALID in kinds and not uninit_allowed(
                m, pc, f"{what}: the helper reads {n} bytes at fp{lo:+d}, including uninitialised "
                       f"fp{lo + kinds.index(INVALID):+d}"):
            first = lo + kinds.index(INVALID)
            raise fail(pc, "uninit_stack", f"{what}: the helper reads {n} bytes at fp{lo:+d}, but fp{first:+d} "
                       "is uninitialised", f"initialised(r{reg}.offset, width={n})",
                       "initialise the buffer (e.g. with __builtin_memset) before passing it",
                       **{f"r{reg}": base})
        return
    if base.type in (T.PACKET, T.PACKET_META, T.MAP_VALUE, T.MEM):
        access(m, st, reg, 0, n, write and base.type is not T.PACKET, None, pc)
        return
    raise fail(pc, "helper_arg", f"{what}: r{reg} must point to memory (stack, map value or packet), "
               f"not a {base.type.value}", f"r{reg}.type in {{stack, packet, map_value, mem}}",
               **{f"r{reg}": base})
