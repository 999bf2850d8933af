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

Distances are computed only once a set first overflows, then cached, so
adding a state costs one distance per state present, not one per pair.
"""

from __future__ import annotations

from ebpflite.verifier.state import State, T, Value

TYPE_CHANGE = 64  #: a value whose type differs: joining it makes a mixed value
POINTER_CHANGE = 8  #: a pointer whose offset or proven range differs: joining it loses a bound
NUMBER_CHANGE = 1  #: numbers that differ: joining them widens an interval


def value_distance(x: Value, y: Value) -> int:
    if x.type is not y.type or x.ref != y.ref:
        return TYPE_CHANGE
    return NUMBER_CHANGE if x.type is T.SCALAR else POINTER_CHANGE


def distance(a: State, b: State) -> int:
    """How much joining ``a`` and ``b`` would lose (0 for equal states)."""
    if len(a.frames) != len(b.frames):
        return 1 << 30
    d = 0 if a.lock == b.lock else TYPE_CHANGE
    for fa, fb in zip(a.frames, b.frames, strict=True):
        for x, y in zip(fa.regs, fb.regs, strict=True):
            if x is not y and x != y:
                d += value_distance(x, y)
        sa, sb = fa.stack, fb.stack
        if sa is sb:
            continue
        for k, x in sa.items():
            y = sb.get(k)
            if x is y:
                continue
            if y is None:
                d += NUMBER_CHANGE if x.spill is None or x.spill.type is T.SCALAR else TYPE_CHANGE
            elif x != y:
                xs, ys = x.spill, y.spill
                if xs is not None and ys is not None:
                    d += value_distance(xs, ys)
                else:
                    d += NUMBER_CHANGE if xs is None and ys is None else TYPE_CHANGE
        for k, y in sb.items():
            if k not in sa:
                d += NUMBER_CHANGE if y.spill is None or y.spill.type is T.SCALAR else TYPE_CHANGE
    return d


class StateSet:
    """Disjoint-path states at one point (see the module docstring)."""

    __slots__ = ("states", "_shapes", "_dist")

    def __init__(self, states: list[State] | None = None):
        self.states: list[State] = []
        #: each state's State.shape(): only states of one shape can include each other
        self._shapes: list[tuple] = []
        #: (id(a), id(b)) with id(a) < id(b) -> distance, for the states in the set (None: not yet needed)
        self._dist: dict[tuple[int, int], int] | None = None
        for st in states or ():
            self.add(st, 1 << 30)

    def __iter__(self):
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)

    def __bool__(self) -> bool:
        return bool(self.states)

    def add(self, st: State, limit: int) -> None:
        states = self.states
        shape = st.shape()
        for old, sh in zip(states, self._shapes, strict=True):
            if (sh == shape or may_include(sh, shape)) and st.le(old):
                old.count = max(old.count, st.count)
                return
        for old in [old for old, sh in zip(states, self._shapes, strict=True)
                    if sh == shape or may_include(shape, sh)]:
            if old.le(st):
                st.count = max(st.count, old.count)
                self._remove(old)
        self._insert(st, shape)
        if len(states) > limit:
            if self._dist is None:
                self._dist = {}
                for j, b in enumerate(states):
                    for a in states[:j]:
                        self._dist[_key(a, b)] = distance(a, b)
            key = min(self._dist, key=self._dist.__getitem__)
            a = next(s for s in states if id(s) == key[0])
            b = next(s for s in states if id(s) == key[1])
            self._remove(a)
            self._remove(b)
            j = a.join(b)
            self._insert(j, j.shape())

    def _insert(self, st: State, shape: tuple) -> None:
        if self._dist is not None:
            for old in self.states:
                self._dist[_key(old, st)] = distance(old, st)
        self.states.append(st)
        self._shapes.append(shape)

    def _remove(self, st: State) -> None:
        i = next(i for i, s in enumerate(self.states) if s is st)
        del self.states[i]
        del self._shapes[i]
        if self._dist is not None:
            for old in self.states:
                del self._dist[_key(old, st)]


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


def _key(a: State, b: State) -> tuple[int, int]:
    x, y = id(a), id(b)
    return (x, y) if x < y else (y, x)
