"""A small BPF libc: ``memset``, ``memcpy``, ``memmove``, ``memcmp`` (and ``bcmp``) as BPF subprograms.

Why: clang turns struct copies, zeroing and comparisons into calls to these functions when it does
not inline them (large or variable sizes, older releases), and leaves them as *extern* calls:
``call -1`` relocated against an undefined symbol. Falco's probe.o has 1,224 of them. Nothing
resolves them on Linux: libbpf takes every extern function for a kfunc and fails ("failed to find
BTF for extern 'memset'"), and the kernel has no helper of that name, so such objects never load
there. PREVAIL verifies them by giving the four names built-in contracts (its platform call model:
memset writes n bytes at r1, memcpy reads n at r2 and writes n at r1...).

ebpflite links real code instead, as a BPF libc would: when an object calls one of these names
and does not define it, the loader appends the function below to the program like any
bpf-to-bpf subprogram (``functions`` names it ``memset``...). The verifier then proves every call
site with the same rules as the user's own code (the stores and loads are in bounds for the
pointer and size at that call), and both engines run the same instructions, so nothing about
these functions is trusted or modelled twice. They work a byte at a time: the sizes seen in
practice are small compile-time constants, and a byte loop is what the verifier follows exactly
(one pass per iteration) whatever the alignment of the pointers.

Calling conventions are C's: r1-r3 the arguments, r0 the result (memset/memcpy/memmove return
dst; memmove copies from the end when dst is above src; memcmp returns the difference of the first
differing bytes as unsigned chars, 0 when equal; bcmp likewise, only its zero/non-zero meaning is
specified).
"""

from __future__ import annotations

from functools import cache

#: name -> BPF assembly (vm.asm syntax) of the function
BUILTINS: dict[str, str] = {
    "memset": """
        r0 = r1
        if r3 == 0 goto done
    next:
        *(u8 *)(r1 + 0) = r2
        r1 += 1
        r3 += -1
        if r3 != 0 goto next
    done:
        exit
    """,
    "memcpy": """
        r0 = r1
        if r3 == 0 goto done
    next:
        r4 = *(u8 *)(r2 + 0)
        *(u8 *)(r1 + 0) = r4
        r1 += 1
        r2 += 1
        r3 += -1
        if r3 != 0 goto next
    done:
        exit
    """,
    # dst above src: copy from the end, which is right whether or not the ranges overlap; else from
    # the start. The direction comes from comparing the two pointers, not from subtracting them:
    # the verifier (like the kernel for privileged programs) follows both branches of a comparison
    # of pointers into different regions (packet and stack, map value and stack...), but refuses the
    # difference of two such pointers, so `dst - src < n` would reject every call across regions.
    "memmove": """
        r0 = r1
        if r3 == 0 goto done
        if r1 > r2 goto backward
    forward:
        r4 = *(u8 *)(r2 + 0)
        *(u8 *)(r1 + 0) = r4
        r1 += 1
        r2 += 1
        r3 += -1
        if r3 != 0 goto forward
        exit
    backward:
        r1 += r3
        r2 += r3
    back:
        r1 += -1
        r2 += -1
        r4 = *(u8 *)(r2 + 0)
        *(u8 *)(r1 + 0) = r4
        r3 += -1
        if r3 != 0 goto back
    done:
        exit
    """,
    "memcmp": """
        r0 = 0
        if r3 == 0 goto done
    next:
        r4 = *(u8 *)(r1 + 0)
        r5 = *(u8 *)(r2 + 0)
        if r4 != r5 goto differ
        r1 += 1
        r2 += 1
        r3 += -1
        if r3 != 0 goto next
        exit
    differ:
        r0 = r4
        r0 -= r5
    done:
        exit
    """,
}
BUILTINS["bcmp"] = BUILTINS["memcmp"]


@cache
def builtin_code(name: str) -> bytes:
    """The encoded instructions of builtin ``name`` (KeyError if there is none)."""
    from ebpflite.vm.asm import assemble_bytes

    return assemble_bytes(BUILTINS[name])
