"""The numeric abstract domain: 64-bit values as signed and unsigned intervals plus known bits.

A :class:`Scalar` over-approximates the set of 64-bit values a register may
hold by four bounds (``umin..umax`` read unsigned, ``smin..smax`` read
signed) and a :class:`Tnum` (``value``/``mask``: bits outside ``mask`` are
known to equal ``value``), the same combination the Linux verifier uses.
Each component alone loses information that the others keep (a masked
value is precise in its tnum, a bounds check in its interval, a sign check
in its signed bounds), so after every operation :func:`Scalar.make`
propagates facts between them.

Operations never raise on any input: they return a (possibly unknown)
Scalar, or ``None`` from :func:`refine` when a comparison cannot hold.
Constant operands are folded with the interpreter's own semantics
(:mod:`ebpflite.vm.alu`), so the verifier and engines agree bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

from ebpflite.vm import alu
from ebpflite.vm.isa import SPECS, Kind

M64 = (1 << 64) - 1
SIGN64 = 1 << 63
S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1


def to_signed(v: int, bits: int = 64) -> int:
    sign = 1 << (bits - 1)
    v &= (1 << bits) - 1
    return v - (1 << bits) if v & sign else v


# --- tristate numbers --------------------------------------------------------------------


class Tnum(NamedTuple):
    """Known bits: bit i is unknown if ``mask`` has it, otherwise equals ``value``'s."""

    value: int
    mask: int

    @staticmethod
    def const(v: int) -> Tnum:
        return Tnum(v & M64, 0)

    @staticmethod
    def unknown(bits: int = 64) -> Tnum:
        return Tnum(0, (1 << bits) - 1)

    @staticmethod
    def range(lo: int, hi: int) -> Tnum:
        """The tightest tnum containing every value of ``lo..hi`` (unsigned)."""
        chi = lo ^ hi
        bits = chi.bit_length()
        if bits > 63:
            return Tnum(0, M64)
        delta = (1 << bits) - 1
        return Tnum(lo & ~delta & M64, delta)

    @property
    def is_const(self) -> bool:
        return self.mask == 0

    def add(self, o: Tnum) -> Tnum:
        sm = self.mask + o.mask
        sv = self.value + o.value
        chi = (sm + sv) ^ sv
        mu = (chi | self.mask | o.mask) & M64
        return Tnum(sv & ~mu & M64, mu)

    def sub(self, o: Tnum) -> Tnum:
        dv = self.value - o.value
        chi = (dv + self.mask) ^ (dv - o.mask)
        mu = (chi | self.mask | o.mask) & M64
        return Tnum(dv & ~mu & M64, mu)

    def and_(self, o: Tnum) -> Tnum:
        alpha = self.value | self.mask
        beta = o.value | o.mask
        v = self.value & o.value
        return Tnum(v, alpha & beta & ~v)

    def or_(self, o: Tnum) -> Tnum:
        v = self.value | o.value
        return Tnum(v, (self.mask | o.mask) & ~v)

    def xor(self, o: Tnum) -> Tnum:
        mu = self.mask | o.mask
        return Tnum((self.value ^ o.value) & ~mu, mu)

    def lsh(self, k: int) -> Tnum:
        return Tnum((self.value << k) & M64, (self.mask << k) & M64)

    def rsh(self, k: int) -> Tnum:
        return Tnum(self.value >> k, self.mask >> k)

    def arsh(self, k: int) -> Tnum:
        return Tnum((to_signed(self.value) >> k) & M64, (to_signed(self.mask) >> k) & M64)

    def mul(self, o: Tnum) -> Tnum:
        if self.is_const and o.is_const:
            return Tnum.const(self.value * o.value)
        # only the trailing known zeros survive for sure
        tz = _trailing_zeros(self) + _trailing_zeros(o)
        if tz >= 64:
            return Tnum.const(0)
        return Tnum(0, M64 & ~((1 << tz) - 1))

    def trunc(self, bits: int) -> Tnum:
        m = (1 << bits) - 1
        return Tnum(self.value & m, self.mask & m)

    def meet(self, o: Tnum) -> Tnum | None:
        if (self.value ^ o.value) & ~(self.mask | o.mask) & M64:
            return None
        mu = self.mask & o.mask
        return Tnum((self.value | o.value) & ~mu, mu)

    def join(self, o: Tnum) -> Tnum:
        mu = self.mask | o.mask | (self.value ^ o.value)
        return Tnum(self.value & ~mu, mu)

    def le(self, o: Tnum) -> bool:
        """Every value of self is a value of o."""
        return not (self.mask & ~o.mask) and (self.value & ~o.mask) == o.value

    def __str__(self) -> str:
        return f"(0x{self.value:x}; 0x{self.mask:x})"


def _trailing_zeros(t: Tnum) -> int:
    bits = t.value | t.mask
    if bits == 0:
        return 64
    return (bits & -bits).bit_length() - 1


# --- scalars -----------------------------------------------------------------------------


class Scalar(NamedTuple):
    """A set of 64-bit values: ``umin..umax`` ∩ ``smin..smax`` ∩ ``tnum``.

    Values of the domain are NamedTuples: the analysis creates and compares millions of them, and
    tuples are built and compared in C.
    """

    umin: int
    umax: int
    smin: int
    smax: int
    tnum: Tnum

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def const(v: int) -> Scalar:
        v &= M64
        c = _CONSTS.get(v)
        if c is None:
            s = v - (1 << 64) if v & SIGN64 else v
            c = Scalar(v, v, s, s, Tnum(v, 0))
            if len(_CONSTS) > 1 << 14:
                _CONSTS.clear()
            _CONSTS[v] = c
        return c

    @staticmethod
    def unknown(bits: int = 64) -> Scalar:
        if bits >= 64:
            return TOP
        m = (1 << bits) - 1
        return Scalar(0, m, 0, m, Tnum(0, m))

    @staticmethod
    def urange(lo: int, hi: int) -> Scalar:
        return Scalar.make(lo, hi, S64_MIN, S64_MAX, Tnum(0, M64)) or TOP

    @staticmethod
    def srange(lo: int, hi: int) -> Scalar:
        return Scalar.make(0, M64, lo, hi, Tnum(0, M64)) or TOP

    @staticmethod
    def make(umin: int, umax: int, smin: int, smax: int, tnum: Tnum) -> Scalar | None:
        """Normalise: share facts between bounds and known bits; None if empty."""
        if umin == umax or smin == smax:  # one value at most: the common case, settled directly
            v = umin if umin == umax else smax & M64
            sv = v - (1 << 64) if v & SIGN64 else v
            tv, tm = tnum
            if umin <= v <= umax and smin <= sv <= smax and (v & ~tm & M64) == tv:
                return Scalar.const(v)
            return None
        for _ in range(2):
            before = (umin, umax, smin, smax, tnum)
            # known bits bound both readings
            umin = max(umin, tnum.value)
            umax = min(umax, tnum.value | tnum.mask)
            smin = max(smin, to_signed(tnum.value | (tnum.mask & SIGN64)))
            smax = min(smax, to_signed(tnum.value | (tnum.mask & ~SIGN64 & M64)))
            if umin > umax or smin > smax:
                return None
            # signed range on one side of zero: both readings order values alike
            if smin >= 0 or smax < 0:
                umin = max(umin, smin & M64)
                umax = min(umax, smax & M64)
            # unsigned range not crossing the sign bit
            if umax < SIGN64 or umin >= SIGN64:
                smin = max(smin, to_signed(umin))
                smax = min(smax, to_signed(umax))
            if umin > umax or smin > smax:
                return None
            t = tnum.meet(Tnum.range(umin, umax))
            if t is None:
                return None
            tnum = t
            if (umin, umax, smin, smax, tnum) == before:
                break
        return Scalar(umin, umax, smin, smax, tnum)

    # -- queries ----------------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.umin == self.umax

    @property
    def value(self) -> int:
        """The constant (only meaningful when :attr:`is_const`)."""
        return self.umin

    @property
    def is_top(self) -> bool:
        return self == TOP

    def contains(self, v: int) -> bool:
        v &= M64
        s = to_signed(v)
        return (self.umin <= v <= self.umax and self.smin <= s <= self.smax
                and (v & ~self.tnum.mask & M64) == self.tnum.value)

    def le(self, o: Scalar) -> bool:
        """Inclusion: every value of self is in o."""
        if self is o:
            return True
        return (o.umin <= self.umin and self.umax <= o.umax and o.smin <= self.smin
                and self.smax <= o.smax and self.tnum.le(o.tnum))

    def join(self, o: Scalar) -> Scalar:
        if self is o or self == o:
            return self
        return Scalar(min(self.umin, o.umin), max(self.umax, o.umax), min(self.smin, o.smin),
                      max(self.smax, o.smax), self.tnum.join(o.tnum))

    def widen(self, o: Scalar) -> Scalar:
        """Join that jumps any bound still growing straight to its extreme."""
        j = self.join(o)
        return Scalar.make(0 if j.umin < self.umin else j.umin, M64 if j.umax > self.umax else j.umax,
                           S64_MIN if j.smin < self.smin else j.smin,
                           S64_MAX if j.smax > self.smax else j.smax,
                           j.tnum if j.tnum == self.tnum else Tnum.unknown()) or TOP

    def meet(self, o: Scalar) -> Scalar | None:
        t = self.tnum.meet(o.tnum)
        if t is None:
            return None
        return Scalar.make(max(self.umin, o.umin), min(self.umax, o.umax), max(self.smin, o.smin),
                           min(self.smax, o.smax), t)

    def trunc(self, bits: int) -> Scalar:
        """Zero-extend the low ``bits`` bits (what a 32-bit op or a narrow load leaves)."""
        if bits >= 64:
            return self
        m = (1 << bits) - 1
        if self.umax <= m:
            return self
        t = self.tnum.trunc(bits)
        if self.umin >> bits == self.umax >> bits:
            lo, hi = self.umin & m, self.umax & m
        else:
            lo, hi = 0, m
        return Scalar.make(lo, hi, 0, m, t) or Scalar.unknown(bits)

    def sext(self, bits: int) -> Scalar:
        """Sign-extend the low ``bits`` bits to 64."""
        if bits >= 64:
            return self
        v = self.trunc(bits)
        half = 1 << (bits - 1)
        if v.is_const:
            return Scalar.const(alu.sign_extend(v.value, bits))
        if v.umax < half:
            return v
        if v.umin >= half:
            lo, hi = v.umin - (1 << bits), v.umax - (1 << bits)
            return Scalar.srange(lo, hi)
        return Scalar.srange(-half, half - 1)

    def __str__(self) -> str:
        if self.is_const:
            return str(to_signed(self.value)) if self.smin < 0 else str(self.value)
        parts = []
        if self.smin >= 0 or (self.umax < SIGN64):
            parts.append(f"[{self.umin}, {self.umax}]")
        elif self.umin == 0 and self.umax == M64 and (self.smin, self.smax) != (S64_MIN, S64_MAX):
            parts.append(f"s[{self.smin}, {self.smax}]")
        elif (self.umin, self.umax) == (0, M64):
            parts.append("any")
        else:
            parts.append(f"u[{self.umin}, {self.umax}] s[{self.smin}, {self.smax}]")
        if self.tnum.mask != M64 and not self.tnum.is_const and self.tnum != Tnum.range(self.umin, self.umax):
            parts.append(f"bits {self.tnum}")
        return " ".join(parts)


_CONSTS: dict[int, Scalar] = {}  #: Scalar.const's cache (constants recur: offsets, sizes, flags)
TOP = Scalar(0, M64, S64_MIN, S64_MAX, Tnum(0, M64))
ZERO = Scalar.const(0)


def _norm(umin: int, umax: int, smin: int, smax: int, t: Tnum) -> Scalar:
    return Scalar.make(umin, umax, smin, smax, t) or TOP


# --- arithmetic (64-bit; 32-bit ops are built from these by truncation) -----------------------


def _add(a: Scalar, b: Scalar) -> Scalar:
    t = a.tnum.add(b.tnum)
    umin, umax = (a.umin + b.umin, a.umax + b.umax) if a.umax + b.umax <= M64 else (0, M64)
    smin, smax = a.smin + b.smin, a.smax + b.smax
    if smin < S64_MIN or smax > S64_MAX:
        smin, smax = S64_MIN, S64_MAX
    return _norm(umin, umax, smin, smax, t)


def _sub(a: Scalar, b: Scalar) -> Scalar:
    t = a.tnum.sub(b.tnum)
    umin, umax = (a.umin - b.umax, a.umax - b.umin) if a.umin >= b.umax else (0, M64)
    smin, smax = a.smin - b.smax, a.smax - b.smin
    if smin < S64_MIN or smax > S64_MAX:
        smin, smax = S64_MIN, S64_MAX
    return _norm(umin, umax, smin, smax, t)


def _mul(a: Scalar, b: Scalar) -> Scalar:
    t = a.tnum.mul(b.tnum)
    umin, umax = (a.umin * b.umin, a.umax * b.umax) if a.umax * b.umax <= M64 else (0, M64)
    # signed: the product's extremes are among the corners' products when none overflows
    corners = (a.smin * b.smin, a.smin * b.smax, a.smax * b.smin, a.smax * b.smax)
    smin, smax = min(corners), max(corners)
    if smin < S64_MIN or smax > S64_MAX:
        smin, smax = S64_MIN, S64_MAX
    return _norm(umin, umax, smin, smax, t)


def _and(a: Scalar, b: Scalar) -> Scalar:
    return _norm(0, min(a.umax, b.umax), S64_MIN, S64_MAX, a.tnum.and_(b.tnum))


def _or(a: Scalar, b: Scalar) -> Scalar:
    return _norm(max(a.umin, b.umin), M64, S64_MIN, S64_MAX, a.tnum.or_(b.tnum))


def _xor(a: Scalar, b: Scalar) -> Scalar:
    return _norm(0, M64, S64_MIN, S64_MAX, a.tnum.xor(b.tnum))


def _shift_amounts(b: Scalar, width: int) -> tuple[int, int]:
    """The range of ``b & (width - 1)``, the shift amount the engines use (RFC 9669 masks it)."""
    if b.umax < width:
        return b.umin, b.umax
    k = _and(b, Scalar.const(width - 1))
    return k.umin, k.umax


def _tnum_union(a: Scalar, lo: int, hi: int, shift) -> Tnum:
    """Known bits of ``a`` shifted by every amount in ``lo..hi`` (a join of at most 64 tnums)."""
    t = shift(a.tnum, lo)
    for k in range(lo + 1, hi + 1):
        t = t.join(shift(a.tnum, k))
    return t


def _lsh(a: Scalar, b: Scalar, width: int) -> Scalar:
    lo, hi = _shift_amounts(b, width)
    umin, umax = (a.umin << lo, a.umax << hi) if (a.umax << hi) <= M64 else (0, M64)
    return _norm(umin, umax, S64_MIN, S64_MAX, _tnum_union(a, lo, hi, Tnum.lsh))


def _rsh(a: Scalar, b: Scalar, width: int) -> Scalar:
    lo, hi = _shift_amounts(b, width)
    return _norm(a.umin >> hi, a.umax >> lo, S64_MIN, S64_MAX, _tnum_union(a, lo, hi, Tnum.rsh))


def _arsh(a: Scalar, b: Scalar, width: int) -> Scalar:
    # operands of a 32-bit arsh arrive sign-extended, so the 64-bit shift is right; a negative
    # bound moves toward -1 as the amount grows, a positive one toward 0
    lo, hi = _shift_amounts(b, width)
    smin = a.smin >> (lo if a.smin < 0 else hi)
    smax = a.smax >> (lo if a.smax >= 0 else hi)
    return _norm(0, M64, smin, smax, _tnum_union(a, lo, hi, Tnum.arsh))


def _div(a: Scalar, b: Scalar) -> Scalar:
    if b.umin >= 1:
        return Scalar.urange(a.umin // b.umax, a.umax // b.umin)
    return Scalar.urange(0, a.umax)  # division by zero gives 0


def _mod(a: Scalar, b: Scalar) -> Scalar:
    if b.umin >= 1:
        return Scalar.urange(0, min(a.umax, b.umax - 1))
    return Scalar.urange(0, a.umax)  # modulo by zero leaves dst unchanged


def _sdivmod(a: Scalar, b: Scalar) -> Scalar:
    bound = max(abs(a.smin), abs(a.smax))
    return Scalar.srange(max(-bound, S64_MIN), min(bound, S64_MAX))


_OPS = {
    "add": lambda a, b, w: _add(a, b),
    "sub": lambda a, b, w: _sub(a, b),
    "mul": lambda a, b, w: _mul(a, b),
    "div": lambda a, b, w: _div(a, b),
    "mod": lambda a, b, w: _mod(a, b),
    "sdiv": lambda a, b, w: _sdivmod(a, b),
    "smod": lambda a, b, w: _sdivmod(a, b),
    "or": lambda a, b, w: _or(a, b),
    "and": lambda a, b, w: _and(a, b),
    "xor": lambda a, b, w: _xor(a, b),
    "lsh": _lsh,
    "rsh": _rsh,
    "arsh": _arsh,
    "neg": lambda a, b, w: _sub(ZERO, a),
    "mov": lambda a, b, w: b,
}

#: operations that read their operands as signed numbers of the operation's width: the ISA
#: table's signed ALU operations (``InsnSpec.signed``; movsx is handled before the lookup)
_SIGNED_OPERANDS = frozenset(s.op for s in SPECS if s.kind is Kind.ALU and s.signed)


#: most bounded caches here are cleared when they reach this many entries
_CACHE_LIMIT = 1 << 17
_ALU_CACHE: dict[tuple, Scalar] = {}


def alu_op(op: str, a: Scalar, b: Scalar, width: int = 64, bits: int = 0) -> Scalar:
    """The abstract result of ``a op b`` at ``width`` (32 zero-extends), ``bits`` for movsx.

    Memoised: a pure function of its arguments, and the paths the analysis keeps apart mostly
    hold equal values, so on real programs (Cilium's) 99% of the calls repeat an earlier one.
    """
    if a.umin == a.umax and b.umin == b.umax and op in _FOLD:  # constants: fold, no cache (a counter
        return Scalar.const(_FOLD[op][width](a.umin, b.umin))  # loop makes a new pair every pass)
    key = (op, a, b, width, bits)
    out = _ALU_CACHE.get(key)
    if out is None:
        if len(_ALU_CACHE) >= _CACHE_LIMIT:
            _ALU_CACHE.clear()
        out = _ALU_CACHE[key] = _alu_op(op, a, b, width, bits)
    return out


def _alu_op(op: str, a: Scalar, b: Scalar, width: int, bits: int) -> Scalar:
    if op == "movsx":
        return b.sext(bits).trunc(width)
    if a.is_const and b.is_const and op in alu.ALU:
        return Scalar.const(alu.evaluate("alu", op, width, a.value, b.value, bits))
    if width == 32:
        if op in _SIGNED_OPERANDS:
            a32, b32 = a.sext(32), b.sext(32)
        else:
            a32, b32 = a.trunc(32), b.trunc(32)
        return _OPS[op](a32, b32, 32).trunc(32)
    return _OPS[op](a, b, 64)


def endian_op(op: str, a: Scalar, bits: int) -> Scalar:
    """le/be/bswap of ``bits`` bits: zero-extended result."""
    if a.is_const:
        return Scalar.const(alu.evaluate("endian", op, 64, a.value, 0, bits))
    if op == "le":
        return a.trunc(bits)
    return Scalar.unknown(bits)


# --- comparisons ----------------------------------------------------------------------------

#: the condition that holds on the fall-through edge of each jump
NEGATE = {"jeq": "jne", "jne": "jeq", "jgt": "jle", "jle": "jgt", "jge": "jlt", "jlt": "jge",
          "jsgt": "jsle", "jsle": "jsgt", "jsge": "jslt", "jslt": "jsge", "jset": "jnset",
          "jnset": "jset"}

#: a op b  <=>  b SWAP[op] a
SWAP = {"jeq": "jeq", "jne": "jne", "jgt": "jlt", "jlt": "jgt", "jge": "jle", "jle": "jge",
        "jsgt": "jslt", "jslt": "jsgt", "jsge": "jsle", "jsle": "jsge", "jset": "jset", "jnset": "jnset"}


def _with(s: Scalar, umin=None, umax=None, smin=None, smax=None, tnum=None) -> Scalar | None:
    return Scalar.make(s.umin if umin is None else max(s.umin, umin),
                       s.umax if umax is None else min(s.umax, umax),
                       s.smin if smin is None else max(s.smin, smin),
                       s.smax if smax is None else min(s.smax, smax),
                       s.tnum if tnum is None else tnum)


def refine(op: str, a: Scalar, b: Scalar) -> tuple[Scalar, Scalar] | None:
    """``(a', b')``: the values of a and b for which ``a op b`` holds (64-bit), or None."""
    if op == "jeq":
        m = a.meet(b)
        return None if m is None else (m, m)
    if op == "jne":
        if a.is_const and b.is_const:
            return None if a.value == b.value else (a, b)
        if b.is_const:
            na = _exclude(a, b.value)
            return None if na is None else (na, b)
        if a.is_const:
            nb = _exclude(b, a.value)
            return None if nb is None else (a, nb)
        return a, b
    if op in ("jgt", "jge", "jsgt", "jsge"):
        r = refine(SWAP[op], b, a)
        return None if r is None else (r[1], r[0])
    if op == "jlt":
        if b.umax == 0 or a.umin == M64:
            return None
        na, nb = _with(a, umax=b.umax - 1), _with(b, umin=a.umin + 1)
    elif op == "jle":
        na, nb = _with(a, umax=b.umax), _with(b, umin=a.umin)
    elif op == "jslt":
        if b.smax == S64_MIN or a.smin == S64_MAX:
            return None
        na, nb = _with(a, smax=b.smax - 1), _with(b, smin=a.smin + 1)
    elif op == "jsle":
        na, nb = _with(a, smax=b.smax), _with(b, smin=a.smin)
    elif op == "jset":
        if not ((a.tnum.value | a.tnum.mask) & (b.tnum.value | b.tnum.mask)):
            return None
        return a, b
    elif op == "jnset":
        if a.tnum.value & b.tnum.value:
            return None
        na, nb = a, b
        if b.is_const:
            t = a.tnum.meet(Tnum(0, M64 & ~b.value))
            na = None if t is None else _with(a, tnum=t)
        if a.is_const and nb is not None:
            t = b.tnum.meet(Tnum(0, M64 & ~a.value))
            nb = None if t is None else _with(b, tnum=t)
    else:  # pragma: no cover - table covers every jump op
        raise ValueError(op)
    if na is None or nb is None:
        return None
    return na, nb


def _exclude(s: Scalar, v: int) -> Scalar | None:
    """``s`` without the value ``v`` (only shrinks at the bounds)."""
    umin, umax, smin, smax = s.umin, s.umax, s.smin, s.smax
    sv = to_signed(v)
    if umin == v:
        umin += 1
    if umax == v:
        umax -= 1
    if smin == sv:
        smin += 1
    if smax == sv:
        smax -= 1
    if umin > umax or smin > smax:
        return None
    return Scalar.make(umin, umax, smin, smax, s.tnum)


_REFINE_CACHE: dict[tuple, tuple | None] = {}
#: op -> width -> fn(a, b) folding two constants, with the engines' own semantics (vm.alu); movsx
#: (which reads ``bits``) is not here
_FOLD = {op: {w: alu.function("alu", op, w) for w in (32, 64)} for op in alu.ALU if op != "movsx"}


def refine_width(op: str, a: Scalar, b: Scalar, width: int) -> tuple[Scalar, Scalar] | None:
    """Like :func:`refine` at ``width`` bits: a 32-bit jump compares the low halves.

    A refined low half is written back only when the upper half is known to be
    zero (for signed conditions: when the value also fits in 31 bits), so the
    64-bit value stays sound.

    Memoised like :func:`alu_op`. A side left unchanged is returned as the very object passed
    in (callers test ``is`` to skip work), so the cache remembers which sides were.
    """
    if a.umin == a.umax and b.umin == b.umax:  # constants: decided at once, not worth caching
        decide = _DECIDE.get(op) if width == 64 else None
        if decide is None:
            return _refine_width(op, a, b, width)
        # what refine() gives two constants: both (as the cached constants) or None
        return (Scalar.const(a.umin), Scalar.const(b.umin)) if decide(a.umin, b.umin) else None
    key = (op, a, b, width)
    hit = _REFINE_CACHE.get(key, _MISSING)
    if hit is _MISSING:
        r = _refine_width(op, a, b, width)
        hit = None if r is None else (r[0] is a, r[0], r[1] is b, r[1])
        if len(_REFINE_CACHE) >= _CACHE_LIMIT:
            _REFINE_CACHE.clear()
        _REFINE_CACHE[key] = hit
    if hit is None:
        return None
    same_a, na, same_b, nb = hit
    return (a if same_a else na), (b if same_b else nb)


_MISSING = object()
#: comparisons of two 64-bit constants, for those where refine() answers with the constants' cached
#: objects (jne and jset answer with the very objects passed in: they take the general path)
_DECIDE = {op: alu.function("jump", op, 64) for op in alu.JUMP if op not in ("jne", "jset")} | {
    "jnset": lambda a, b: not a & b}


def _refine_width(op: str, a: Scalar, b: Scalar, width: int) -> tuple[Scalar, Scalar] | None:
    if width == 64:
        return refine(op, a, b)
    if op.startswith("js") or op == "jsset":
        pa, pb = a.sext(32), b.sext(32)
    else:
        pa, pb = a.trunc(32), b.trunc(32)
    r = refine(op, pa, pb)
    if r is None:
        return None
    limit = (1 << 31) if op.startswith("js") else (1 << 32)
    na = r[0] if a.umax < limit and pa == a else a
    nb = r[1] if b.umax < limit and pb == b else b
    return na, nb
