"""The C corpus: safe programs pass, each unsafe one fails on the check it names,
and (where the kernel allows BPF) the kernel's verifier agrees with ours.

Each ``corpus/unsafe/*.c`` starts with ``/* expect: CHECK -- why */``. The
programs are compiled with ``ebpflite cc`` (``loader.cc.compile_c``), the
same objects go to ``bpftool prog load`` for the kernel's verdict.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from verifier_kernel import bpf_refused, kernel_verdict, unavailable

from ebpflite import verifier
from ebpflite.errors import CompileError
from ebpflite.loader import load_object
from ebpflite.loader.cc import compile_c, find_compilers

CORPUS = Path(__file__).parent / "corpus"
LINUX_SAFE = sorted((CORPUS / "safe").glob("*.c"))
LINUX_UNSAFE = sorted((CORPUS / "unsafe").glob("*.c"))
#: ebpf-for-windows programs (compiled against its headers; no kernel to compare with)
WINDOWS_SAFE = sorted((CORPUS / "windows" / "safe").glob("*.c"))
WINDOWS_UNSAFE = sorted((CORPUS / "windows" / "unsafe").glob("*.c"))
SAFE = LINUX_SAFE + WINDOWS_SAFE
UNSAFE = LINUX_UNSAFE + WINDOWS_UNSAFE


def platform_of(src: Path) -> str:
    return "windows" if "windows" in src.parts else "linux"

#: where the kernel (as root) and ebpflite deliberately disagree; see verifier/README.md
KERNEL_DIFFERENCES = {
    "pointer_leak_map": "root may store pointers in maps (allow_ptr_leaks); ebpflite never allows it",
    "return_pointer": "root may return pointers (allow_ptr_leaks); ebpflite never allows it",
}
#: differences that disappear when the kernel judges without CAP_SYS_ADMIN/CAP_PERFMON
UNPRIVILEGED_AGREES = {"pointer_leak_map", "return_pointer"}


def expected_check(path: Path) -> str:
    m = re.search(r"expect:\s*(\w+)", path.read_text())
    assert m, f"{path.name} has no 'expect: CHECK' line"
    return m.group(1)


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> dict[str, Path]:
    if not find_compilers():
        pytest.skip("no eBPF C compiler (pip install ziglang, or apt-get install clang)")
    out = tmp_path_factory.mktemp("corpus")
    objects = {}
    for src in SAFE + UNSAFE:
        try:
            objects[src.stem] = compile_c(src, out / f"{src.stem}.o", platform=platform_of(src))
        except CompileError as exc:
            if "no C compiler" in str(exc):
                pytest.skip(str(exc))
            raise
    return objects


def program_of(obj: Path, platform: str = "linux"):
    programs = load_object(obj, platform=platform).programs
    assert len(programs) == 1, f"{obj.name}: one program per corpus file"
    return next(iter(programs.values()))


def test_corpus_size():
    assert len(LINUX_SAFE) >= 25 and len(LINUX_UNSAFE) >= 20 and WINDOWS_SAFE and WINDOWS_UNSAFE


@pytest.mark.parametrize("src", SAFE, ids=lambda p: p.stem)
def test_safe_programs_pass(src, compiled):
    report = verifier.verify(program_of(compiled[src.stem], platform_of(src)))
    assert report.ok, report.text()
    assert report.max_insns and report.max_insns > 0


@pytest.mark.parametrize("src", UNSAFE, ids=lambda p: p.stem)
def test_unsafe_programs_fail_on_their_check(src, compiled):
    report = verifier.verify(program_of(compiled[src.stem], platform_of(src)))
    assert not report.ok, f"{src.name} was accepted"
    first = report.errors[0]
    assert first.check == expected_check(src), report.text()
    if first.check != "cfg" and first.check != "stack_depth":
        # messages point at the C source line
        assert first.source is not None and first.source.file.endswith(src.name), report.text()


@pytest.fixture(scope="session")
def kernel_ok():
    why = unavailable()
    if why:
        pytest.skip(f"kernel comparison needs bpftool and root: {why}")
    probe = kernel_verdict(Path("/nonexistent.o"), "probe")
    if bpf_refused(probe.log):
        pytest.skip("the kernel refuses BPF here")
    return True


@pytest.mark.kernel
@pytest.mark.parametrize("src", LINUX_SAFE + LINUX_UNSAFE, ids=lambda p: p.stem)
def test_kernel_agrees(src, compiled, kernel_ok):
    obj = compiled[src.stem]
    ours = verifier.verify(program_of(obj)).ok
    kernel = kernel_verdict(obj, src.stem)
    if kernel.ok is False and bpf_refused(kernel.log):
        pytest.skip("the kernel refuses BPF here")
    if src.stem in KERNEL_DIFFERENCES:
        assert kernel.ok != ours, f"{src.stem} is listed as a difference but both say {ours}"
        if src.stem in UNPRIVILEGED_AGREES:
            assert not kernel_verdict(obj, src.stem, privileged=False).ok
        return
    assert kernel.ok == ours, f"kernel says {kernel.ok}, ebpflite says {ours}\n{kernel.log[-3000:]}"


#: safe programs the kernel accepts only because it explores paths apart: a path-insensitive
#: analysis (one joined state per block) rejects them, which this test checks still holds
NEED_PATH_SENSITIVITY = {"join_two_maps", "null_or_value_join", "adjust_meta_paths"}


@pytest.mark.parametrize("name", sorted(NEED_PATH_SENSITIVITY))
def test_path_sensitivity_is_what_accepts(name, compiled, monkeypatch):
    from ebpflite.verifier import fixpoint

    program = program_of(compiled[name])
    assert verifier.verify(program).ok
    monkeypatch.setattr(fixpoint, "MAX_STATES", 1)
    assert not verifier.verify(program).ok, f"{name} passes without path sensitivity: not a useful test"


@pytest.mark.parametrize("name", ["loop_callback", "for_each_callback", "map_in_map"])
def test_verified_callbacks_run_in_both_engines(name, compiled):
    """Programs with callbacks or inner maps load verified (the JIT runs them unchecked) and agree
    with the interpreter."""
    import struct

    import ebpflite

    obj = ebpflite.load(compiled[name], engine="both")
    prog = next(iter(obj.programs.values()))
    assert prog.program.verified
    for queue in (0, 3, 7, 15):
        result = prog.run(packet=bytes(64), ctx=struct.pack("<6I", 0, 64, 0, 1, queue, 0))
        assert result.return_value in (1, 2)  # XDP_DROP or XDP_PASS
