"""What every ALU, byte-swap, jump-condition and atomic operation computes.

This is the one place where eBPF arithmetic is defined (RFC 9669 sections
4 and 5.3). Each table maps the ``op`` of an :class:`~ebpflite.vm.isa.InsnSpec`
to a Python expression on plain integers:

- ``a`` is the destination register and ``b`` the source operand (the
  ``src`` register, or ``imm`` sign-extended to 64 bits), both already cut
  to the operation's width: ``a = dst & M`` and ``b = src & M``, where ``M``
  is ``2**width - 1``. The result is masked with ``M`` again, which is what
  makes 32-bit operations zero-extend into the 64-bit register.
- ``SH`` is the shift mask (``width - 1``): shift amounts are masked.
- ``S(x)`` reads ``x`` as a signed ``width``-bit number.
- ``BITS`` is the instruction's ``extra`` detail: the source size of
  ``movsx`` and the size of a byte swap.

The interpreter compiles each expression once into a small handler per
(op, width, source) (``vm.handlers``) and into the straight-line blocks of
``vm.blocks``, both through :func:`render`; :func:`evaluate` gives the same
semantics as an ordinary function (tests, the verifier's constant folding,
the JIT's switch recovery). The JIT writes the same operations in LLVM IR
(``jit/lower.py``); the differential and conformance tests hold it to this
table.

Division follows the RFC: unsigned ``div`` by zero gives 0 and ``mod`` by
zero leaves ``dst`` unchanged; ``sdiv``/``smod`` truncate towards zero (C
semantics, unlike Python's floor division), with ``INT_MIN / -1 == INT_MIN``
and ``INT_MIN % -1 == 0`` falling out of the final mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

#: ALU operations (Kind.ALU): dst = expression & M
ALU: dict[str, str] = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a // b if b else 0",
    "sdiv": "sdiv(S(a), S(b))",
    "mod": "a % b if b else a",
    "smod": "smod(S(a), S(b))",
    "or": "a | b",
    "and": "a & b",
    "xor": "a ^ b",
    "lsh": "a << (b & SH)",
    "rsh": "a >> (b & SH)",
    "arsh": "S(a) >> (b & SH)",
    "neg": "-a",
    "mov": "b",
    "movsx": "sign_extend(b, BITS)",
}

#: byte swaps (Kind.ENDIAN), on the whole 64-bit register (width 64). The
#: machine is little-endian, so ``le`` only truncates to BITS bits.
ENDIAN: dict[str, str] = {
    "le": "a & ((1 << BITS) - 1)",
    "be": "byte_swap(a, BITS)",
    "bswap": "byte_swap(a, BITS)",
}

#: jump conditions (Kind.JUMP): jump when the expression is true
JUMP: dict[str, str] = {
    "jeq": "a == b",
    "jne": "a != b",
    "jgt": "a > b",
    "jge": "a >= b",
    "jlt": "a < b",
    "jle": "a <= b",
    "jset": "a & b",
    "jsgt": "S(a) > S(b)",
    "jsge": "S(a) >= S(b)",
    "jslt": "S(a) < S(b)",
    "jsle": "S(a) <= S(b)",
}

#: atomic read-modify-write (Kind.ATOMIC): memory = expression(old, src) & M.
#: The ``fetch_`` forms also put the old value in ``src``; ``xchg`` always
#: does. ``cmpxchg`` is special: it stores ``b`` only when old == r0, and
#: always loads the old value into r0.
ATOMIC: dict[str, str] = {
    "add": "a + b",
    "or": "a | b",
    "and": "a & b",
    "xor": "a ^ b",
    "xchg": "b",
}

_TABLES = {"alu": ALU, "endian": ENDIAN, "jump": JUMP, "atomic": ATOMIC}

#: operations (of ALU and ENDIAN) whose expression already lies in 0..M when
#: ``a`` and ``b`` do, so code generators may leave out the final ``& M``
#: (a hot-path saving; tests/vm/test_interp_alu.py checks the claim for each)
IN_RANGE: frozenset[str] = frozenset({"and", "or", "xor", "rsh", "div", "mod", "mov", "le", "be", "bswap"})


# --- helpers the expressions call -----------------------------------------------------


def sdiv(a: int, b: int) -> int:
    """Signed division truncating towards zero; division by zero gives 0."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def smod(a: int, b: int) -> int:
    """Signed remainder with the sign of the dividend; by zero gives ``a``."""
    if b == 0:
        return a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def sign_extend(value: int, bits: int) -> int:
    """The low ``bits`` of ``value`` read as a signed number."""
    sign = 1 << (bits - 1)
    return ((value & ((1 << bits) - 1)) ^ sign) - sign


def byte_swap(value: int, bits: int) -> int:
    """Reverse the byte order of the low ``bits`` of ``value``."""
    n = bits // 8
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(n, "little"), "big")


def namespace(width: int, bits: int = 0) -> dict[str, object]:
    """The names the expressions of one width see (``M``, ``SH``, ``S``, ``BITS``...)."""
    sign = 1 << (width - 1)
    return {
        "M": (1 << width) - 1,
        "SH": width - 1,
        "BITS": bits,
        "S": lambda x: (x ^ sign) - sign,
        # what render() writes for S, so one namespace serves code mixing widths
        "S32": lambda x: (x ^ 0x80000000) - 0x80000000,
        "S64": lambda x: (x ^ 0x8000000000000000) - 0x8000000000000000,
        "sdiv": sdiv,
        "smod": smod,
        "sign_extend": sign_extend,
        "byte_swap": byte_swap,
    }


def uses(expression: str, name: str) -> bool:
    """Whether an expression reads operand ``name`` (``a`` or ``b``)."""
    return re.search(rf"\b{name}\b", expression) is not None


def render(table: str, op: str, width: int, a: str, b: str, bits: int = 0) -> str:
    """The expression of ``op`` as Python source, for the code generators.

    ``a`` and ``b`` are source text for the operands (already cut to width,
    e.g. ``"(r1 & 0xffffffff)"``); ``M``, ``SH`` and ``BITS`` become literals
    and ``S`` becomes ``S32``/``S64`` (both in :func:`namespace`), so the
    result needs no per-width names and reads no globals in hot code. The
    result is not masked: the caller applies ``& M`` as the table says.
    """
    names = {"a": a, "b": b, "M": hex((1 << width) - 1), "SH": str(width - 1), "BITS": str(bits),
             "S": f"S{width}"}
    return re.sub(r"\b(?:a|b|M|SH|BITS|S)\b", lambda m: names[m.group(0)], _TABLES[table][op])


def masked(op: str, expression: str, width: int) -> str:
    """``expression & M`` as source, leaving out the mask where :data:`IN_RANGE` allows."""
    return expression if op in IN_RANGE else f"({expression}) & {hex((1 << width) - 1)}"


def operand(imm: int, width: int) -> int:
    """An immediate as the ``b`` operand: sign-extended to 64 bits, cut to width."""
    return imm & ((1 << width) - 1)


# --- the same semantics as plain functions -----------------------------------------------

@cache
def function(table: str, op: str, width: int, bits: int = 0) -> Callable[[int, int], int]:
    """``fn(a, b)`` computing ``op`` of ``table`` at ``width``, masked (or a bool for jumps).

    ``a`` and ``b`` may be any unsigned 64-bit values; they are cut to the
    width first, as the instruction does.
    """
    expression = _TABLES[table][op]
    mask = (1 << width) - 1
    if table == "jump":
        body = f"bool({expression})"
    else:
        body = f"({expression}) & M"
    code = f"lambda a, b: (lambda a, b: {body})(a & {mask}, b & {mask})"
    return eval(code, namespace(width, bits))  # noqa: S307 - our own table, not input


def evaluate(table: str, op: str, width: int, a: int, b: int = 0, bits: int = 0) -> int:
    """Reference evaluation: ``evaluate("alu", "sdiv", 32, a, b)``."""
    return int(function(table, op, width, bits)(a, b))
