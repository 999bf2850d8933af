"""The abstract state: what each register and stack byte may hold at one program point.

A register holds a :class:`Value`: a *type* (number, context pointer,
packet pointer, ...) and numbers describing it. For a number, ``num`` is
its value; for a pointer, the offset from the start of its region is
``off + num`` (a fixed part and a variable part, as in the Linux verifier).

A number computed as ``data_end - p`` (p a packet pointer) remembers that
in ``dist`` (p's identity and fixed offset): a test on the number then
proves a range for p's identity, and a helper may read that many bytes at
p (``len = end - start; if (len > 64) len = 64; memcpy(buf, start, len)``).

Packet bounds: ``range`` of a packet pointer is how many bytes past
``start + num`` are proven to lie before ``data_end`` (so an access at
``off + k .. off + k + size`` is in bounds when it ends at or before
``range``). A comparison with ``data_end`` proves a range for the compared
pointer and every pointer sharing its variable part, recognised by equal
``id``. Pointers that may hold different variable parts never share a
positive ``id`` (see :meth:`State.fresh_id`).

The stack of each frame is a map from 8-byte slot index to
:class:`StackSlot`: either a spilled register (an 8-byte aligned store,
which keeps the register's type) or per-byte kinds (uninitialised, some
number, zero).

States form a join-semilattice (:meth:`State.join`, :meth:`State.le`);
``None`` stands for "unreachable" (bottom).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from ebpflite.verifier.domain import TOP, ZERO, Scalar
from ebpflite.vm.isa import STACK_SIZE


class T(Enum):
    """Register types (the kernel's ``bpf_reg_type``, PREVAIL's type domain)."""

    NOT_INIT = "uninitialised"
    SCALAR = "number"
    CTX = "context pointer"
    STACK = "stack pointer"
    PACKET = "packet pointer"
    PACKET_END = "packet end"
    PACKET_META = "packet meta pointer"
    MAP_PTR = "map"
    MAP_PTR_OR_NULL = "map or null"  #: an inner map from a map-in-map lookup
    MAP_VALUE = "map value pointer"
    MAP_VALUE_OR_NULL = "map value pointer or null"
    MEM = "memory pointer"
    MEM_OR_NULL = "memory pointer or null"
    FUNC = "function pointer"
    MIXED = "mixed value"  #: different types on paths that join here

    #: members are singletons: hashing by identity is right, and C-level (Enum's own hashes the name
    #: in Python, and every Value hash and type-set lookup pays for it)
    __hash__ = object.__hash__


POINTERS = frozenset({T.CTX, T.STACK, T.PACKET, T.PACKET_END, T.PACKET_META, T.MAP_PTR, T.MAP_VALUE,
                      T.MAP_VALUE_OR_NULL, T.MEM, T.MEM_OR_NULL, T.FUNC, T.MAP_PTR_OR_NULL})
#: pointer types a program may dereference
DEREF = frozenset({T.CTX, T.STACK, T.PACKET, T.PACKET_META, T.MAP_VALUE, T.MEM})
NULLABLE = {T.MAP_VALUE_OR_NULL: T.MAP_VALUE, T.MEM_OR_NULL: T.MEM, T.MAP_PTR_OR_NULL: T.MAP_PTR}
#: -1 as an id: no other register shares this value's variable part
NO_ID = -1


class Value(NamedTuple):
    """One register's abstract value. See the module docstring.

    A NamedTuple, as the domain's values are (fast to build and compare; ``_replace`` derives one).
    """

    type: T
    num: Scalar = ZERO
    off: int = 0
    id: int = 0
    range: int = 0
    #: map index (map, map value), frame number (stack), region size (mem)
    ref: int = 0
    #: numbers only: (id, off) when the number equals data_end - (packet pointers of that id, at off)
    dist: tuple[int, int] | None = None

    @staticmethod
    def scalar(num: Scalar = TOP) -> Value:
        return Value(T.SCALAR, num)

    @staticmethod
    def const(v: int) -> Value:
        out = _CONST_VALUES.get(v)
        if out is None:
            if len(_CONST_VALUES) >= 1 << 14:
                _CONST_VALUES.clear()
            out = _CONST_VALUES[v] = Value(T.SCALAR, Scalar.const(v))
        return out

    @property
    def is_pointer(self) -> bool:
        return self.type in POINTERS

    def join(self, o: Value, event: int = 0) -> Value:
        """Least upper bound. ``event`` numbers the state join this belongs to (see :func:`joined_id`)."""
        if self is o or self == o:
            return self
        if T.NOT_INIT in (self.type, o.type):
            return UNINIT
        if self.type != o.type:
            return MIXED
        if self.type is T.SCALAR:
            # copies of one number share an id; keep the link when it held on both sides
            if self.id == o.id or self.id <= 0 or o.id <= 0 or event == 0:
                ident = self.id if self.id == o.id else 0
            else:
                ident = joined_id(event, self.id, o.id, 0)
            return Value(T.SCALAR, self.num.join(o.num), 0, ident, dist=self.dist if self.dist == o.dist else None)
        ref = self.ref
        if self.ref != o.ref:
            if self.type not in (T.MAP_VALUE, T.MAP_VALUE_OR_NULL, T.MEM, T.MEM_OR_NULL):
                return MIXED
            ref = -1  # map values of different maps: only the smaller size is known (range)
        off = min(self.off, o.off)
        da, db = self.off - off, o.off - off
        # the difference in fixed offsets moves into the variable part ...
        num = _shift(self.num, da).join(_shift(o.num, db))
        if self.type in (T.PACKET, T.PACKET_META):
            # ... and a range counts bytes past the variable part, so it shrinks by the same amount
            rng = max(0, min(self.range - da, o.range - db))
        else:
            rng = min(self.range, o.range)
        if self.id == o.id and da == db == 0:
            ident = self.id
        elif NO_ID in (self.id, o.id) or event == 0:
            ident = NO_ID
        else:
            ident = joined_id(event, self.id, o.id, self.off - o.off)
        return Value(self.type, num, off, ident, rng, ref)

    def le(self, o: Value) -> bool:
        if self is o:
            return True
        ot = o.type
        if ot is T.NOT_INIT:
            return True
        if ot is T.MIXED:
            return self.type is not T.NOT_INIT
        if self.type is not ot or self.ref != o.ref and o.ref != -1:
            return False
        if ot is T.SCALAR:
            return self.num.le(o.num) and (o.dist is None or o.dist == self.dist)
        # identities are compared by State.le (a renaming), not here
        return self.off == o.off and self.num.le(o.num) and self.range >= o.range

    def describe(self) -> str:
        """Short text for messages and -v output: ``packet pointer off=14 range=20``."""
        t = self.type
        if t is T.SCALAR:
            if self.dist is not None:
                return f"number {self.num} = end - packet(id={self.dist[0]}, off={self.dist[1]})"
            return f"number {self.num}"
        if t in (T.NOT_INIT, T.MIXED, T.PACKET_END, T.CTX) and self.off == 0 and self.num == ZERO:
            return t.value
        parts = [t.value]
        if t is T.STACK:
            parts.append(f"frame={self.ref}")
        if t in (T.MAP_PTR, T.MAP_PTR_OR_NULL, T.MAP_VALUE, T.MAP_VALUE_OR_NULL) and self.ref >= 0:
            parts.append(f"map={self.ref}")
        parts.append(f"off={self.off}" if self.num == ZERO else f"off={self.off}+{self.num}")
        if t in (T.PACKET, T.PACKET_META):
            parts.append(f"range={self.range}")
        if t in (T.MEM, T.MEM_OR_NULL, T.MAP_VALUE, T.MAP_VALUE_OR_NULL):
            parts.append(f"size={self.range}")
        return " ".join(parts)


#: live registers -> r0-r9 not among them (State.forget; a program has a few dozen live sets)
_DEAD: dict[frozenset[int], tuple[int, ...]] = {}
#: Value.const's cache (immediates recur on every path through an instruction)
_CONST_VALUES: dict[int, Value] = {}


def _shift(s: Scalar, k: int) -> Scalar:
    from ebpflite.verifier.domain import alu_op

    return s if k == 0 else alu_op("add", s, Scalar.const(k))


_JOINED: dict[tuple[int, int, int, int], int] = {}
_JOIN_BASE = 1 << 40
_events = itertools.count(1)


def join_event() -> int:
    """A fresh number for one state join."""
    return next(_events)


def joined_id(event: int, a: int, b: int, delta: int) -> int:
    """The identity, after join ``event``, of values that had ids ``a`` and ``b`` on the two sides.

    Two values get the same new identity only if they shared an identity on
    each side and were the same distance apart on both, so their variable
    parts stay equal; ids are unique per join, so they never collide with
    identities that are still live from an earlier join.
    """
    key = (event, a, b, delta)
    found = _JOINED.get(key)
    if found is None:
        if len(_JOINED) > 1_000_000:
            _JOINED.clear()
        found = _JOINED[key] = _JOIN_BASE + next(_events)
    return found


LOCK_UNKNOWN = (-1, -1)  #: a spin lock held on some joined paths and not on others
UNINIT = Value(T.NOT_INIT)
MIXED = Value(T.MIXED)
UNKNOWN = Value(T.SCALAR, TOP)

# per-byte stack kinds
INVALID, MISC, ZEROB = 0, 1, 2
SLOTS = STACK_SIZE // 8
_INVALID8, _MISC8, _ZERO8 = (INVALID,) * 8, (MISC,) * 8, (ZEROB,) * 8


class StackSlot:
    """8 stack bytes: a spilled register, or each byte's kind (INVALID/MISC/ZERO).

    ``bytes`` is kept for spills too (all ZERO for a spilled 0, all MISC otherwise), so
    byte-level questions never need to look at the spill. Immutable by convention (a plain
    slotted class: slots are built very often and a dataclass ``__init__`` is slow).
    """

    __slots__ = ("spill", "bytes")

    def __init__(self, spill: Value | None = None, bytes: tuple[int, ...] = (INVALID,) * 8):  # noqa: A002
        self.spill = spill
        if spill is not None:
            bytes = _ZERO8 if spill.type is T.SCALAR and spill.num == ZERO else _MISC8  # noqa: A001
        self.bytes = bytes

    def __eq__(self, o: object) -> bool:
        return self is o or (isinstance(o, StackSlot) and self.spill == o.spill and self.bytes == o.bytes)

    def __hash__(self) -> int:
        return hash((self.spill, self.bytes))

    def __repr__(self) -> str:
        return f"StackSlot({self.spill!r}, {self.bytes!r})"

    def byte(self, i: int) -> int:
        return self.bytes[i]

    def as_bytes(self) -> tuple[int, ...]:
        return self.bytes

    def join(self, o: StackSlot, event: int = 0) -> StackSlot | None:
        if self is o or self == o:
            return self
        if self.spill is not None and o.spill is not None:
            v = self.spill.join(o.spill, event)
            if v.type is T.NOT_INIT:
                return None
            return StackSlot(v)
        out = tuple(x if x == y else (INVALID if INVALID in (x, y) else MISC)
                    for x, y in zip(self.bytes, o.bytes, strict=True))
        return None if out == _INVALID8 else StackSlot(None, out)

    def le(self, o: StackSlot) -> bool:
        if self is o:
            return True
        if o.spill is not None:
            return self.spill is not None and self.spill.le(o.spill)
        mine, theirs = self.bytes, o.bytes
        if mine == theirs:
            return True
        for x, y in zip(mine, theirs, strict=True):
            if y != INVALID and x != y and (y != MISC or x == INVALID):
                return False
        return True

    def describe(self) -> str:
        if self.spill is not None:
            return f"spilled {self.spill.describe()}"
        return "bytes " + "".join(".mz"[b] for b in self.bytes)


def _same_relation(x: Value, y: Value, ids: dict[int, tuple[int, int]]) -> bool:
    """Record that y's identity stands for x's; False if it already stood for another.

    ``y.id > 0`` claims "every holder of this id has the same variable part"
    (numbers: the same value up to ``off``). ``x`` satisfies the claim only if
    all those holders map to one identity of x at one offset difference. An
    id of 0 is a shared identity only for packet pointers (no variable part).
    """
    if y.type is T.NOT_INIT or y.type is T.MIXED:
        return True
    if x.id < 0 or (x.id == 0 and x.type not in _ID0_SHARED):
        return False
    want = (x.id, x.off - y.off)
    return ids.setdefault(y.id, want) == want


#: types whose id 0 means "no variable part", which all such values share
_ID0_SHARED = frozenset({T.PACKET, T.PACKET_META})


@dataclass(slots=True)
class Frame:
    """One function activation: registers r0..r10 and its stack slots."""

    regs: list[Value]
    stack: dict[int, StackSlot] = field(default_factory=dict)
    #: lowest stack offset touched (for the combined stack-depth limit)
    depth: int = 0

    def copy(self) -> Frame:
        return Frame(list(self.regs), dict(self.stack), self.depth)


@dataclass(slots=True)
class State:
    """All frames of the current call chain plus path facts."""

    frames: list[Frame]
    #: the most instructions any path to here executed (for the termination bound)
    count: int = 0
    #: identities of acquired references (ring buffer records) not yet released
    refs: frozenset[int] = frozenset()
    #: the bpf_spin_lock held: (map index, offset in the value); LOCK_UNKNOWN where joined paths differ
    lock: tuple[int, int] | None = None
    #: the last summary of this state (or of the state it was copied from) with the values it was made
    #: from (verifier/paths.py: a new summary only redoes the positions that changed since)
    snap: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def top(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Value]:
        return self.frames[-1].regs

    @property
    def frame_no(self) -> int:
        return len(self.frames) - 1

    def copy(self) -> State:
        return State([f.copy() for f in self.frames], self.count, self.refs, self.lock, self.snap)

    # -- lattice --------------------------------------------------------------------------
    def join(self, o: State) -> State:
        frames = []
        event = join_event()
        for a, b in zip(self.frames, o.frames, strict=False):
            regs = [x.join(y, event) for x, y in zip(a.regs, b.regs, strict=False)]
            stack = {}
            for k, slot in a.stack.items():
                other = b.stack.get(k)
                if other is not None:
                    j = slot.join(other, event)
                    if j is not None:
                        stack[k] = j
            frames.append(Frame(regs, stack, min(a.depth, b.depth)))
        return State(frames, max(self.count, o.count), self.refs | o.refs,
                     self.lock if self.lock == o.lock else LOCK_UNKNOWN)

    def shape(self) -> tuple:
        """Each register's and spilled pointer's type and region.

        States of one shape join without losing a type; a state can only
        include another of its shape (the pruning in :mod:`~ebpflite.verifier.paths`
        compares those only).
        """
        out = []
        for f in self.frames:
            out.append(tuple((v.type, v.ref if v.is_pointer else v.dist) for v in f.regs))
            out.append(tuple(sorted((k, s.spill.type, s.spill.ref) for k, s in f.stack.items()
                                    if s.spill is not None and s.spill.is_pointer)))
        out.append((self.lock,))
        return tuple(out)

    def forget(self, live: frozenset[int]) -> None:
        """Registers r0-r9 of the top frame not in ``live`` become uninitialised (nothing reads them)."""
        regs = self.frames[-1].regs
        dead = _DEAD.get(live)
        if dead is None:
            dead = _DEAD[live] = tuple(r for r in range(10) if r not in live)
        for r in dead:
            if regs[r].type is not T.NOT_INIT:
                regs[r] = UNINIT

    def le(self, o: State) -> bool:
        """Every concrete state described by self is described by o (ignoring ``count``).

        Identities are relations (values sharing an id hold the same variable
        part), so they are compared through a renaming: each id of ``o``
        must stand for one id of ``self`` throughout, otherwise ``o`` claims a
        relation that ``self`` does not guarantee. This is what makes it safe
        to drop a state that another one includes (the kernel's ``check_ids``).
        """
        if len(self.frames) != len(o.frames) or not self.refs <= o.refs or self.lock != o.lock:
            return False
        ids: dict[int, tuple[int, int]] = {}
        for a, b in zip(self.frames, o.frames, strict=False):
            for x, y in zip(a.regs, b.regs, strict=False):
                if x is not y and not x.le(y):
                    return False
                if y.id > 0 and not _same_relation(x, y, ids):
                    return False
            for k, slot in b.stack.items():
                mine = a.stack.get(k)
                if mine is None:
                    if slot.bytes == _INVALID8:
                        continue
                    return False
                if mine is not slot and not mine.le(slot):
                    return False
                if slot.spill is not None and slot.spill.id > 0 and not _same_relation(mine.spill, slot.spill, ids):
                    return False
        return True

    # -- packet-pointer identities -------------------------------------------------------
    def values(self):
        """Every (frame, where, value) holding a value: registers and spills."""
        for fi, frame in enumerate(self.frames):
            for r, v in enumerate(frame.regs):
                yield fi, ("reg", r), v
            for k, slot in frame.stack.items():
                if slot.spill is not None:
                    yield fi, ("slot", k), slot.spill

    def put(self, fi: int, where: tuple[str, int], value: Value) -> None:
        frame = self.frames[fi]
        if where[0] == "reg":
            frame.regs[where[1]] = value
        else:
            frame.stack[where[1]] = StackSlot(value)

    def fresh_id(self, ident: int) -> int:
        """Claim ``ident`` for a new variable part: older holders stop sharing it."""
        for frame in self.frames:
            regs = frame.regs
            for r, v in enumerate(regs):
                if v.id == ident or (v.dist is not None and v.dist[0] == ident):
                    regs[r] = _unlinked(v, ident)
            stack = frame.stack
            changed = [(k, slot.spill) for k, slot in stack.items() if slot.spill is not None and (
                slot.spill.id == ident or (slot.spill.dist is not None and slot.spill.dist[0] == ident))]
            for k, v in changed:
                stack[k] = StackSlot(_unlinked(v, ident))
        return ident

    def update_same(self, ident: int, types: tuple[T, ...], fn) -> None:
        """Apply ``fn(value) -> value`` to every value of ``types`` sharing ``ident``."""
        for frame in self.frames:
            regs = frame.regs
            for r, v in enumerate(regs):
                if v.id == ident and v.type in types:
                    regs[r] = fn(v)
            stack = frame.stack
            changed = [(k, slot.spill) for k, slot in stack.items()
                       if slot.spill is not None and slot.spill.id == ident and slot.spill.type in types]
            for k, v in changed:
                stack[k] = StackSlot(fn(v))

    def describe_stack(self, fi: int | None = None) -> list[str]:
        frame = self.frames[-1 if fi is None else fi]
        out = []
        for k in sorted(frame.stack):
            out.append(f"[{-8 * (k + 1)}..{-8 * k - 1}] {frame.stack[k].describe()}")
        return out


def _unlinked(v: Value, ident: int) -> Value:
    """``v`` no longer sharing identity ``ident`` (nor being a distance from pointers of it)."""
    if v.id == ident:
        v = v._replace(id=NO_ID)
    if v.dist is not None and v.dist[0] == ident:
        v = v._replace(dist=None)
    return v


def entry_state(ctx_value: Value, nregs: int = 11) -> State:
    regs = [UNINIT] * nregs
    regs[1] = ctx_value
    regs[10] = Value(T.STACK, ZERO, 0, 0, 0, 0)
    return State([Frame(regs)])
