"""memset/memcpy/memmove/memcmp called as externs are linked as BPF subprograms (loader/builtins.py).

The objects are built byte by byte as clang leaves them (``call -1`` relocated against an undefined
symbol), verified, and run on both engines against Python's own idea of the four functions.
"""

from __future__ import annotations

import pytest
from elfbuild import R_BPF_64_32, STT_FUNC, ElfBuilder

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
        text += f"r1 = r6\n r1 += {a}\n r2 = r6\n r2 += {b}\n r3 = {n}\n call -1\n *(u8 *)(r6 + 63) = r0\n"
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
        buf[63] = diff & 0xFF
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


@pytest.mark.parametrize("a,b", [(0, 0), (0, 1), (1, 0), (2, 40)])
def test_memcmp_sign_and_zero(a, b):
    """memcmp returns the difference of the first differing bytes (unsigned), 0 when equal."""
    cmp = ("memcmp", a, b, 8)
    data = build([("memset", 40, 3, 4)], cmp=cmp)
    res = ebpflite.load(data, engine="both").programs["prog"].run(packet=PACKET)
    assert res.packet == expected(PACKET, [("memset", 40, 3, 4)], cmp)


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
