"""The states reaching one program point: paths kept apart, pruned and, past a bound, joined.

The kernel's verifier never joins paths: it walks each one and prunes a
path when its state is included in one already explored. A join loses
correlations between registers (a length checked on one path and a flag
set on it, tested later), so ebpflite keeps states apart the same way:
a state included in one already present is dropped (that is the pruning),
states it includes are replaced by it, and the others stay apart. Unlike
the kernel it bounds their number (``limit``): past it, the two states
whose join loses least are joined, measured by :func:`distance` (a value
whose type differs costs most, since the join makes it unusable; then a
pointer's offset or proven range; then a number).

Why numpy: on large programs (Cilium's) most of the analysis time went
into comparing states, dozens per block. Each state is summarised once,
when it is added, as vectors over its positions (registers and stack
slots of every frame): a hash, a type class and, for numbers, the
unsigned bounds. Whole rows of the set are then compared at once: bounds
that cannot nest rule out inclusion without calling :meth:`State.le`
(which still decides, identities included), and the distances that pick
the pair to join are vector sums.
"""

from __future__ import annotations

import numpy as np

from ebpflite.verifier.domain import M64
from ebpflite.verifier.state import POINTERS, SLOTS, StackSlot, State, T, Value

TYPE_CHANGE = 64  #: a value whose type differs: joining it makes a mixed value (or forgets it)
POINTER_CHANGE = 8  #: a pointer whose offset or proven range differs: joining it loses a bound
NUMBER_CHANGE = 1  #: numbers that differ: joining them widens an interval

_PER_FRAME = 11 + SLOTS  #: positions per frame: r0-r10, then the stack slots
_NUMBER = 1  #: type class of numbers: scalar registers, numbers spilled, stack bytes, absent slots
_CLASS = {t: i + 2 for i, t in enumerate(T)} | {T.SCALAR: _NUMBER}
#: class -> whether it is a pointer type (indexed by the class codes above)
_IS_POINTER = np.array([any(c == code and t not in (T.SCALAR, T.NOT_INIT, T.MIXED) for t, c in _CLASS.items())
                        for code in range(len(T) + 2)])


def value_distance(x: Value, y: Value) -> int:
    if x.type is not y.type or x.ref != y.ref:
        return TYPE_CHANGE
    return NUMBER_CHANGE if x.type is T.SCALAR else POINTER_CHANGE


class Summary:
    """One state as vectors over its positions (see the module docstring).

    ``bound`` holds each position's lower bound followed by M64 minus its upper bound, so that
    "every bound of a nests in b's" is one comparison of two vectors (``b.bound <= a.bound``).
    """

    __slots__ = ("hash", "cls", "bound", "_pointer")

    def __init__(self, st: State):
        _summarize(st, self)

    @property
    def pointer(self) -> np.ndarray:
        """Per position: whether it holds a pointer (only distances need it, so computed on demand)."""
        if self._pointer is None:
            self._pointer = _IS_POINTER[self.cls]
        return self._pointer


def summarize(st: State, out: Summary | None = None) -> tuple[tuple, Summary]:
    """``(st.shape(), Summary(st))``.

    A state remembers its last summary and the values it was made from (``State.snap``, carried by
    copies), and between two summaries a block changes few of its positions: those that changed
    (compared by identity) are redone on a copy of the last summary's vectors, the rest kept.
    """
    snap = st.snap
    if out is None and snap is not None and len(snap[0]) == len(st.frames):
        shape, summary = _patched(st, snap)
    else:
        shape, summary = _summarize(st, out)
    st.snap = ([list(f.regs) for f in st.frames], [dict(f.stack) for f in st.frames], st.lock, shape, summary)
    return shape, summary


def _patched(st: State, snap: tuple) -> tuple[tuple, Summary]:
    old_regs, old_stacks, old_lock, shape, base = snap
    changed: list[tuple[int, object]] = []  #: (position, new value, or a StackSlot, or None for a gone slot)
    reshape = False
    for fi, f in enumerate(st.frames):
        first = fi * _PER_FRAME
        before = old_regs[fi]
        for r, v in enumerate(f.regs):
            if v is not before[r]:
                changed.append((first + r, v))
                if _entry(v)[5] != _entry(before[r])[5]:
                    reshape = True
        before = old_stacks[fi]
        first += 11
        for k, slot in f.stack.items():
            was = before.get(k)
            if was is not slot:
                changed.append((first + k, slot))
                if (slot.spill is not None and slot.spill.type in POINTERS) or (
                        was is not None and was.spill is not None and was.spill.type in POINTERS):
                    reshape = True
        if len(before) != len(f.stack) or any(k not in f.stack for k in before):
            for k, was in before.items():
                if k not in f.stack:
                    changed.append((first + k, None))
                    if was.spill is not None and was.spill.type in POINTERS:
                        reshape = True
    if st.lock != old_lock:
        changed.append((len(base.hash) - 1, st.lock))
        reshape = True
    if not changed:
        return shape, base
    out = Summary.__new__(Summary)
    h, c, b = base.hash.copy(), base.cls.copy(), base.bound.copy()
    width = len(h)
    lock_pos = width - 1
    for pos, x in changed:
        if pos == lock_pos:
            h[pos] = hash(x)
            continue
        if x is None:  # a slot no longer there
            h[pos], c[pos], b[pos], b[width + pos] = 0, _NUMBER, 0, 0
        elif isinstance(x, StackSlot):
            if x.spill is None:
                h[pos], c[pos], b[pos], b[width + pos] = hash(x.bytes), _NUMBER, 0, 0
            else:
                _, h[pos], c[pos], b[pos], b[width + pos], _ = _entry(x.spill)
        else:
            _, h[pos], c[pos], b[pos], b[width + pos], _ = _entry(x)
    out.hash, out.cls, out.bound, out._pointer = h, c, b, None
    return (_shape(st) if reshape else shape), out


def _shape(st: State) -> tuple:
    """State.shape(), from the values' cached entries."""
    shape: list[tuple] = []
    for f in st.frames:
        shape.append(tuple(_entry(v)[5] for v in f.regs))
        spilled = [(k, slot.spill.type, slot.spill.ref) for k, slot in f.stack.items()
                   if slot.spill is not None and slot.spill.type in POINTERS]
        spilled.sort()
        shape.append(tuple(spilled))
    shape.append((st.lock,))
    return tuple(shape)


def _summarize(st: State, out: Summary | None = None) -> tuple[tuple, Summary]:
    hashes: list[int] = []
    classes: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    shape: list[tuple] = []
    entry = _entry
    for f in st.frames:
        _, h, c, low, high, kinds = zip(*[entry(v) for v in f.regs], strict=True)
        hashes += h
        classes += c
        lo += low
        hi += high
        shape.append(kinds)
        slots, slot_classes, slot_lo, slot_hi = list(_NO_SLOT_HASH), list(_NO_SLOT_CLS), list(_NO_SLOT_LO), \
            list(_NO_SLOT_HI)
        spilled = []
        for k, slot in f.stack.items():
            spill = slot.spill
            if spill is None:
                slots[k] = hash(slot.bytes)
            else:
                _, slots[k], slot_classes[k], slot_lo[k], slot_hi[k], kind = entry(spill)
                if kind[0] in POINTERS:
                    spilled.append((k, kind[0], kind[1]))
        hashes += slots
        classes += slot_classes
        lo += slot_lo
        hi += slot_hi
        spilled.sort()
        shape.append(tuple(spilled))
    hashes.append(hash(st.lock))
    classes.append(_NUMBER)
    lo.append(0)
    hi.append(0)
    shape.append((st.lock,))
    if out is None:
        out = Summary.__new__(Summary)
    out.hash = np.array(hashes, dtype=np.int64)
    out.cls = np.array(classes, dtype=np.int8)
    out.bound = np.array(lo + hi, dtype=np.uint64)
    out._pointer = None
    return tuple(shape), out


_NO_SLOT_HASH, _NO_SLOT_CLS, _NO_SLOT_LO, _NO_SLOT_HI = [0] * SLOTS, [_NUMBER] * SLOTS, [0] * SLOTS, [0] * SLOTS
#: id(value) -> (value, hash, class, lower bound, M64 - upper bound, (type, ref or dist) as in State.shape):
#: a value's part of a summary, kept while the value is (states share their unchanged values, so most
#: positions of a new state were summarised before; holding the value keeps its id from being reused)
_ENTRIES: dict[int, tuple] = {}


def _entry(v: Value) -> tuple:
    e = _ENTRIES.get(id(v))
    if e is None or e[0] is not v:
        t = v.type
        if t is T.SCALAR:
            e = (v, hash(v), _NUMBER, v.num.umin, M64 - v.num.umax, (t, v.dist))
        else:
            e = (v, hash(v), _CLASS[t], 0, 0, (t, v.ref if t in POINTERS else v.dist))
        if len(_ENTRIES) >= 1 << 16:
            _ENTRIES.clear()
        _ENTRIES[id(v)] = e
    return e


def _distances(s: Summary, hashes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Distance from ``s`` to each row of the others' ``hashes`` and ``classes``."""
    differ = hashes != s.hash
    weight = np.where(classes != s.cls, TYPE_CHANGE, np.where(s.pointer, POINTER_CHANGE, NUMBER_CHANGE))
    return (differ * weight).sum(axis=1)


def distance(a: State, b: State) -> int:
    """How much joining ``a`` and ``b`` would lose (0 for equal states)."""
    sa, sb = Summary(a), Summary(b)
    if len(sa.hash) != len(sb.hash):
        return 1 << 30
    return int(_distances(sa, sb.hash[None, :], sb.cls[None, :])[0])


_LAZY = -2  #: the row of a state alone in its set, not summarised (yet)


class StateSet:
    """Disjoint-path states at one point (see the module docstring).

    The summaries of the states live as rows of preallocated matrices (``_hash``, ``_cls``,
    ``_bound``), in the order of ``states``; a state whose frame count differs from the
    first one's (never, within one function) has no row and is compared with nothing.
    """

    __slots__ = ("states", "_shapes", "_rows", "_by_row", "_hash", "_cls", "_bound", "_dist")

    def __init__(self, states: list[State] | None = None):
        self.states: list[State] = []
        #: each state's State.shape(): only states of one shape can include each other
        self._shapes: list[tuple] = []
        #: per state: its row in the matrices, or -1
        self._rows: list[int] = []
        #: per row in use: (state, shape), in the order of ``states``
        self._by_row: list[tuple[State, tuple]] = []
        self._hash: np.ndarray | None = None
        self._cls = self._bound = self._hash
        #: pairwise distances, computed once the set first overflows (None until then)
        self._dist: np.ndarray | None = None
        for st in states or ():
            self.add(st, 1 << 30)

    def __iter__(self):
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)

    def __bool__(self) -> bool:
        return bool(self.states)

    def _rowcount(self) -> int:
        return len(self._by_row)

    def add(self, st: State, limit: int) -> None:
        states = self.states
        if not states:  # alone: no summary until a second state arrives (most points only ever see one)
            states.append(st)
            self._shapes.append(())
            self._rows.append(_LAZY)
            return
        if self._rows[0] == _LAZY:
            first = states.pop()
            self._shapes.pop()
            self._rows.pop()
            self._insert(first, *summarize(first), limit)
        shape, summary = summarize(st)
        if self._hash is not None and len(summary.hash) == self._hash.shape[1] and self._by_row:
            n = len(self._by_row)
            bound = self._bound[:n]
            by_row = self._by_row
            # candidates first (bounds that nest: a necessary condition), in the order of ``states``;
            # State.le decides
            for row in np.flatnonzero((bound <= summary.bound).all(axis=1)).tolist():
                old, sh = by_row[row]
                if (sh == shape or may_include(sh, shape)) and st.le(old):
                    old.count = max(old.count, st.count)
                    return
            covered = []
            for row in np.flatnonzero((summary.bound <= bound).all(axis=1)).tolist():
                old, sh = by_row[row]
                if (sh == shape or may_include(shape, sh)) and old.le(st):
                    covered.append(old)
            for old in covered:
                st.count = max(st.count, old.count)
                self._remove(old)
        self._insert(st, shape, summary, limit)
        if len(states) > limit:
            n = len(self._by_row)
            if self._dist is None:
                self._dist = np.full((limit + 2, limit + 2), 1 << 40, dtype=np.int64)
                for j in range(1, n):
                    row = _distances(self._sum_of(j), self._hash[:j], self._cls[:j])
                    self._dist[j, :j] = row
                    self._dist[:j, j] = row
            i, j = divmod(int(np.argmin(self._dist[:n, :n])), n)
            if i == j:  # nothing joinable (frame counts differ): keep them all
                return
            a, b = self._by_row[min(i, j)][0], self._by_row[max(i, j)][0]  # the earlier first: deterministic
            self._remove(b)
            self._remove(a)
            joined = a.join(b)
            self._insert(joined, *summarize(joined), limit)

    def _sum_of(self, row: int) -> Summary:
        out = Summary.__new__(Summary)
        out.hash, out.cls = self._hash[row], self._cls[row]
        out._pointer = None
        return out

    def _insert(self, st: State, shape: tuple, summary: Summary, limit: int) -> None:
        width = len(summary.hash)
        if self._hash is None:
            cap = max(limit, 1) + 2 if limit < 1 << 20 else 64
            self._hash = np.zeros((cap, width), dtype=np.int64)
            self._cls = np.zeros((cap, width), dtype=np.int8)
            self._bound = np.zeros((cap, 2 * width), dtype=np.uint64)
        row = -1
        if width == self._hash.shape[1]:
            row = len(self._by_row)
            if row >= self._hash.shape[0]:
                self._grow()
            if self._dist is not None:
                d = _distances(summary, self._hash[:row], self._cls[:row])
                self._dist[row, :row] = d
                self._dist[:row, row] = d
                self._dist[row, row] = 1 << 40
            self._hash[row], self._cls[row], self._bound[row] = summary.hash, summary.cls, summary.bound
            self._by_row.append((st, shape))
        self.states.append(st)
        self._shapes.append(shape)
        self._rows.append(row)

    def _grow(self) -> None:
        def more(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a, np.zeros_like(a)])

        self._hash, self._cls, self._bound = more(self._hash), more(self._cls), more(self._bound)
        if self._dist is not None:
            n = self._dist.shape[0]
            grown = np.full((2 * n, 2 * n), 1 << 40, dtype=np.int64)
            grown[:n, :n] = self._dist
            self._dist = grown

    def _remove(self, st: State) -> None:
        i = next(i for i, s in enumerate(self.states) if s is st)
        row = self._rows[i]
        del self.states[i]
        del self._shapes[i]
        del self._rows[i]
        if row < 0:
            return
        n = len(self._by_row)  # rows in use before the removal
        del self._by_row[row]
        for m in (self._hash, self._cls, self._bound):
            m[row:n - 1] = m[row + 1:n]
        if self._dist is not None:
            d = self._dist
            d[row:n - 1, :n] = d[row + 1:n, :n]
            d[:n - 1, row:n - 1] = d[:n - 1, row + 1:n]
            d[n - 1, :] = 1 << 40
            d[:, n - 1] = 1 << 40
        self._rows = [r - 1 if r > row else r for r in self._rows]


def may_include(big: tuple, small: tuple) -> bool:
    """Whether a state of shape ``big`` can include one of shape ``small`` (see State.shape)."""
    if len(big) != len(small) or big[-1] != small[-1]:
        return False
    for i in range(0, len(big) - 1, 2):
        for b, s in zip(big[i], small[i], strict=True):
            if b != s and b[0] is not T.NOT_INIT and b[0] is not T.MIXED:
                return False
        if not set(big[i + 1]) <= set(small[i + 1]):
            return False
    return True
