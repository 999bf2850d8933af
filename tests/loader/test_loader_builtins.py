"""memset/memcpy/memmove/memcmp called as externs are linked as BPF subprograms (loader/builtins.py).

The objects are built byte by byte as clang leaves them (``call -1`` relocated against an undefined
symbol), verified, and run on both engines against Python's own idea of the four functions.
"""

from __future__ import annotations

import struct

import pytest
from elfbuild import R_BPF_64_32, R_BPF_64_64, STT_FUNC, STT_OBJECT, ElfBuilder

import ebpflite
from ebpflite import verifier
from ebpflite.errors import LoaderError
from ebpflite.loader import load_object
from ebpflite.loader.builtins import BUILTINS
from ebpflite.vm.asm import assemble_bytes

#: (function, dst offset, src offset or fill byte, n), each call on the 64-byte packet
CALLS = [
    ("memset", 0, 0xAB, 16),
    ("memcpy", 16, 32, 8),
    ("memmove", 44, 40, 12),   # overlapping, dst after src: must copy from the end
    ("memmove", 50, 52, 10),   # overlapping, dst before src
    ("memset", 30, 0, 0),      # n = 0 writes nothing
]


def _call_lines(fn: str, dst: int, src: int, n: int) -> str:
    second = f"r2 = {src}" if fn == "memset" else f"r2 = r6\n r2 += {src}"
    return f"r1 = r6\n r1 += {dst}\n {second}\n r3 = {n}\n call -1\n"


def program(calls, src_reg: int = 1, cmp: tuple[str, int, int, int] | None = ("memcmp", 0, 1, 20)) -> str:
    text = "r6 = *(u32 *)(r1 + 0)\n r7 = *(u32 *)(r1 + 4)\n r2 = r6\n r2 += 64\n if r2 > r7 goto out\n"
    for fn, dst, src, n in calls:
        text += _call_lines(fn, dst, src, n)
    if cmp is not None:
        fn, a, b, n = cmp
        text += f"r1 = r6\n r1 += {a}\n r2 = r6\n r2 += {b}\n r3 = {n}\n call -1\n *(u64 *)(r6 + 56) = r0\n"
    return text + "out:\n r0 = 2\n exit\n"


def build(calls, *, src_reg: int = 1, cmp=("memcmp", 0, 1, 20), define: str | None = None) -> bytes:
    """An XDP object calling the builtins as clang does: `call -1` relocated against undefined symbols."""
    code = bytearray(assemble_bytes(program(calls, cmp=cmp)))
    names = [c[0] for c in calls] + ([cmp[0]] if cmp else [])
    call_slots = [i for i in range(len(code) // 8) if code[i * 8] == 0x85]
    obj = ElfBuilder()
    for slot in call_slots:
        code[slot * 8 + 1] = src_reg << 4
    text_index = None
    if define is not None:  # the object defines this function itself, in .text: ours must not replace it
        text_index = obj.section(".text", assemble_bytes("r0 = 77\n exit\n"), executable=True)
        obj.symbol(define, text_index, size=16, kind=STT_FUNC)
    sec = obj.section("xdp", bytes(code), executable=True)
    obj.symbol("prog", sec, size=len(code), kind=STT_FUNC)
    for name in sorted(set(names) - {define}):
        obj.symbol(name)  # undefined
    obj.relocs(sec, [(slot * 8, name, R_BPF_64_32, 0) for slot, name in zip(call_slots, names, strict=True)])
    return obj.build()


def expected(packet: bytes, calls, cmp=("memcmp", 0, 1, 20)) -> bytes:
    buf = bytearray(packet)
    for fn, dst, src, n in calls:
        if fn == "memset":
            buf[dst:dst + n] = bytes([src]) * n
        else:  # memcpy of non-overlapping ranges and memmove both behave as a copy through a temporary
            buf[dst:dst + n] = bytes(buf[src:src + n])
    if cmp is not None:
        _fn, a, b, n = cmp
        diff = next((buf[a + i] - buf[b + i] for i in range(n) if buf[a + i] != buf[b + i]), 0)
        buf[56:64] = struct.pack("<q", diff)  # the whole register: an int, negative when a < b
    return bytes(buf)


PACKET = bytes(range(64))


@pytest.mark.parametrize("src_reg", [1, 0], ids=["pseudo-call", "helper-form"])
def test_builtins_verify_and_run_on_both_engines(src_reg):
    data = build(CALLS, src_reg=src_reg)
    objfile = load_object(data)
    prog = objfile.programs["prog"]
    assert set(prog.functions.values()) == {"prog", "memset", "memcpy", "memmove", "memcmp"}
    report = verifier.verify(prog)
    assert report.ok, report.errors
    res = ebpflite.load(data, engine="both").programs["prog"].run(packet=PACKET)
    assert res.packet == expected(PACKET, CALLS)
    assert res.action == "XDP_PASS"


@pytest.mark.parametrize("a,b,sign", [(0, 0, 0), (0, 1, -1), (1, 0, 1), (2, 40, -1), (40, 2, 1)])
def test_memcmp_sign_and_zero(a, b, sign):
    """memcmp returns the difference of the first differing bytes (unsigned), 0 when equal: the whole
    64-bit r0 is checked, so a result of the wrong sign (+255 for -1) cannot pass."""
    cmp = ("memcmp", a, b, 8)
    data = build([("memset", 40, 3, 4)], cmp=cmp)
    res = ebpflite.load(data, engine="both").programs["prog"].run(packet=PACKET)
    assert res.packet == expected(PACKET, [("memset", 40, 3, 4)], cmp)
    r0 = struct.unpack_from("<q", res.packet, 56)[0]
    assert (r0 > 0) - (r0 < 0) == sign


def test_builtin_writing_past_the_checked_packet_is_refused():
    """The builtins are verified per call site like the caller's own code: 16 bytes at data + 56 of a
    64-byte proven range do not fit, and the error names memset's store."""
    prog = load_object(build([("memset", 56, 0, 16)], cmp=None)).programs["prog"]
    report = verifier.verify(prog)
    assert not report.ok
    err = report.errors[0]
    assert prog.functions.get(max(pc for pc in prog.functions if pc <= err.pc)) == "memset"


def test_a_function_the_object_defines_is_not_replaced():
    objfile = load_object(build([("memset", 0, 1, 4)], cmp=None, define="memset"))
    res = ebpflite.load(build([("memset", 0, 1, 4)], cmp=None, define="memset")).programs["prog"].run(
        packet=PACKET)
    assert res.packet == PACKET  # its memset returns 77 and writes nothing
    assert "memset" in objfile.programs["prog"].functions.values()


def test_other_extern_calls_are_still_refused_by_name():
    data = build([("memset", 0, 1, 4)], cmp=("strcmp_unknown", 0, 1, 4))
    with pytest.raises(LoaderError, match=r"call to extern function 'strcmp_unknown' \(a kfunc or a function "
                                          r"defined in another object\) is not supported"):
        load_object(data)


def test_every_builtin_is_listed_in_the_loader_docs():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "loader.md").read_text()
    for name in BUILTINS:
        assert f"`{name}`" in docs


def test_falco_probe_links_its_memset_calls(shared_samples):
    """All 95 programs of Falco's probe.o load (81 failed on "call to extern function 'memset'")."""
    objfile = load_object(shared_samples / "falco" / "probe.o", partial=True)
    assert not objfile.failed
    assert len(objfile.programs) == 95


# --- memmove between regions --------------------------------------------------------------------

def link(text: str, *, map_def: bytes | None = None) -> bytes:
    """An XDP object from ``text``: each `call -1` relocated, in order, against the extern its comment
    names (``call -1 ; memmove``), each `r1 = 0 ll` against the object's one legacy map ``vals``."""
    lines = [line.split(";") for line in text.strip().splitlines()]
    code = bytearray(assemble_bytes("\n".join(line[0] for line in lines)))
    externs = [line[1].strip() for line in lines if len(line) > 1]
    calls = [i for i in range(len(code) // 8) if code[i * 8] == 0x85 and code[i * 8 + 4:i * 8 + 8] == b"\xff" * 4]
    lddws = [i for i in range(len(code) // 8) if code[i * 8] == 0x18]
    for slot in calls:
        code[slot * 8 + 1] = 1 << 4  # BPF_PSEUDO_CALL, as clang emits it
    obj = ElfBuilder()
    sec = obj.section("xdp", bytes(code), executable=True)
    obj.symbol("prog", sec, size=len(code), kind=STT_FUNC)
    for name in sorted(set(externs)):
        obj.symbol(name)
    relocs = [(slot * 8, name, R_BPF_64_32, 0) for slot, name in zip(calls, externs, strict=True)]
    if map_def is not None:
        maps = obj.section("maps", map_def, writable=True)
        obj.symbol("vals", maps, size=len(map_def), kind=STT_OBJECT)
        relocs += [(slot * 8, "vals", R_BPF_64_64, 0) for slot in lddws]
    obj.relocs(sec, relocs)
    return obj.build()


PACKET_CHECK = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 64
    if r2 > r7 goto out
"""


#: (case, calls as (dst, src, n) on a model: "p+K" packet offset, "fp-K" stack) - each case copies
#: packet bytes through the stack and back into the packet, so the result is visible in the packet
STACK_CASES = {
    "packet to stack to packet": [("fp-16", "p+0", 16), ("p+32", "fp-16", 16)],
    "overlapping stack, dst above src": [("fp-16", "p+0", 16), ("fp-12", "fp-16", 8), ("p+32", "fp-16", 16)],
    "overlapping stack, dst below src": [("fp-16", "p+0", 16), ("fp-16", "fp-13", 8), ("p+32", "fp-16", 16)],
    "overlapping packet, dst above src": [("p+4", "p+0", 16)],
}


def _regs(where: str, reg: int) -> str:
    if where.startswith("fp-"):
        return f"r{reg} = r10\n r{reg} += -{int(where[3:])}\n"
    return f"r{reg} = r6\n r{reg} += {int(where[2:])}\n"


def _model(calls, packet: bytes) -> bytes:
    """What C's memmove does to the packet: each call copies through a temporary."""
    mem = {"p": bytearray(packet), "fp": bytearray(512)}

    def at(where: str) -> tuple[bytearray, int]:
        return (mem["fp"], 512 - int(where[3:])) if where.startswith("fp-") else (mem["p"], int(where[2:]))

    for dst, src, n in calls:
        (dbuf, d), (sbuf, s) = at(dst), at(src)
        dbuf[d:d + n] = bytes(sbuf[s:s + n])
    return bytes(mem["p"])


@pytest.mark.parametrize("case", sorted(STACK_CASES))
def test_memmove_across_regions_verifies_and_runs(case):
    """memmove chooses its direction by comparing the pointers, so a packet or map pointer and a stack
    pointer (regions whose difference the verifier refuses) are fine, and overlapping ranges are
    copied as C says, on both engines."""
    calls = STACK_CASES[case]
    body = "".join(_regs(d, 1) + _regs(s, 2) + f"r3 = {n}\n call -1 ; memmove\n" for d, s, n in calls)
    data = link(PACKET_CHECK + body + "out:\n r0 = 2\n exit\n")
    report = verifier.verify(load_object(data).programs["prog"])
    assert report.ok, report.errors
    res = ebpflite.load(data, engine="both").programs["prog"].run(packet=PACKET)
    assert res.packet == _model(calls, PACKET)


def test_memmove_between_a_map_value_and_the_stack():
    """map value -> stack, then stack -> the value's second half: the value's bytes 0-7 repeat at 8."""
    text = """
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = 0 ll
        call 1
        if r0 == 0 goto out
        r7 = r0
        r1 = r10
        r1 += -24
        r2 = r7
        r3 = 8
        call -1 ; memmove
        r1 = r7
        r1 += 8
        r2 = r10
        r2 += -24
        r3 = 8
        call -1 ; memmove
    out:
        r0 = 2
        exit
    """
    data = link(text, map_def=struct.pack("<5I", 2, 4, 16, 1, 0))  # BPF_MAP_TYPE_ARRAY, u32 -> 16 bytes
    report = verifier.verify(load_object(data).programs["prog"])
    assert report.ok, report.errors
    obj = ebpflite.load(data, engine="both")
    obj.maps["vals"][0] = bytes(range(100, 116))
    obj.programs["prog"].run(packet=PACKET)
    assert bytes(obj.maps["vals"][0]) == bytes(range(100, 108)) * 2
