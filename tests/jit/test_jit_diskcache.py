"""The JIT's disk cache of machine code (jit/diskcache.py): where it lives, what a hit
skips, and that a damaged or unwritable cache only ever costs a compile."""

from __future__ import annotations

import pytest
from jit_harness import EXIT, insn, lddw, program

from ebpflite.jit import cache, diskcache
from ebpflite.jit.compiler import JitProgram
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import BudgetExceeded

# a local call, a code-address lddw (a function start) and a 64-bit constant: the layout
# a disk hit recomputes without lowering
PROG = program(lddw(6, 0x1234_5678_9ABC_DEF0), insn("call local", imm=2), insn("add", dst=0, src=6), EXIT,
               insn("mov", dst=0, imm=5), EXIT, name="cached")


@pytest.fixture
def cold():
    """Each test starts as a fresh process would: nothing compiled in memory."""
    cache.clear_memory_cache()
    yield
    cache.clear_memory_cache()


def entries(directory) -> list:
    return sorted(directory.glob("*.o"))


@pytest.mark.parametrize("value", ["off", "0", "no", "OFF", ""])
def test_the_environment_variable_turns_the_cache_off(monkeypatch, tmp_path, cold, value):
    monkeypatch.setenv("EBPFLITE_JIT_CACHE", value)
    assert diskcache.default_directory() is None
    monkeypatch.chdir(tmp_path)
    assert JitProgram(PROG).run().r0 == 5 + 0x1234_5678_9ABC_DEF0
    assert not list(tmp_path.rglob("*.o"))


def test_the_cache_is_on_by_default_in_the_users_cache_directory(monkeypatch, tmp_path, cold):
    monkeypatch.delenv("EBPFLITE_JIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert diskcache.default_directory() == tmp_path / "ebpflite" / "jit"
    JitProgram(PROG)
    assert len(entries(tmp_path / "ebpflite" / "jit")) == 1
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert diskcache.default_directory() == tmp_path / ".cache" / "ebpflite" / "jit"


def test_the_environment_variable_names_the_directory(monkeypatch, tmp_path, cold):
    monkeypatch.setenv("EBPFLITE_JIT_CACHE", str(tmp_path / "jit"))
    JitProgram(PROG)
    assert len(entries(tmp_path / "jit")) == 1


def test_a_hit_skips_lowering_and_code_generation(tmp_path, cold):
    first = JitProgram(PROG, cache_dir=tmp_path)
    assert not first.code.from_disk and len(entries(tmp_path)) == 1
    cache.clear_memory_cache()
    second = JitProgram(PROG, cache_dir=tmp_path)
    assert second.code.from_disk and second.code._lowering is None  # nothing lowered
    assert second.run().r0 == first.run().r0 == 5 + 0x1234_5678_9ABC_DEF0
    # what the Python side uses of the lowering, recomputed from the instructions alone
    assert second.code.layout == first.code.layout
    assert second.code.layout.functions == frozenset({0, 5})


def test_a_hit_still_names_the_pc_where_the_budget_ran_out(tmp_path, cold):
    endless = program(insn("mov", dst=0, imm=1), insn("add", dst=0, imm=1), insn("ja", off=-2), EXIT)

    def message(**kw) -> tuple[str, int]:
        with pytest.raises(BudgetExceeded) as info:
            JitProgram(endless, Environment.minimal(budget=10), **kw).run()
        return str(info.value), info.value.pc

    cold_result = message(cache=False)
    JitProgram(endless, Environment.minimal(budget=10), cache_dir=tmp_path)
    cache.clear_memory_cache()
    assert message(cache_dir=tmp_path) == cold_result


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],  # a crash mid-write
    lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one flipped bit in the code
    lambda data: b"\x7fELF" + data[4:],  # no header
    lambda data: b"",  # an empty file
    lambda data: diskcache.MAGIC + bytes(32),  # a header with no object
], ids=["truncated", "bit-flip", "no-header", "empty", "header-only"])
def test_a_corrupt_entry_is_ignored_and_rebuilt(tmp_path, cold, damage):
    JitProgram(PROG, cache_dir=tmp_path)
    [path] = entries(tmp_path)
    good = path.read_bytes()
    path.write_bytes(damage(good))
    cache.clear_memory_cache()
    rebuilt = JitProgram(PROG, cache_dir=tmp_path)
    assert not rebuilt.code.from_disk and rebuilt.run().r0 == 5 + 0x1234_5678_9ABC_DEF0
    assert path.read_bytes() == good  # the damaged entry was replaced
    cache.clear_memory_cache()
    assert JitProgram(PROG, cache_dir=tmp_path).code.from_disk


@pytest.mark.parametrize("payload", [b"not an object file", b"\x7fELF" + bytes(100)])
def test_an_entry_with_a_valid_digest_but_not_an_object_is_rebuilt(tmp_path, cold, payload):
    """Never handed to LLVM (whose loader aborts the process on garbage): compiled again."""
    key = cache.cache_key(PROG, JitProgram(PROG, cache=False).options, 2)
    diskcache.DiskCache(tmp_path).store(key, payload)
    code = JitProgram(PROG, cache_dir=tmp_path).code
    assert not code.from_disk and code.run


def test_an_unwritable_directory_costs_only_the_compile(tmp_path, cold):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    assert JitProgram(PROG, cache_dir=blocker / "jit").run().r0 == 5 + 0x1234_5678_9ABC_DEF0
    assert not diskcache.DiskCache(blocker / "jit").store("k", b"x")


def test_no_temporary_files_are_left_behind(tmp_path, cold):
    JitProgram(PROG, cache_dir=tmp_path)
    JitProgram(PROG, cache_dir=tmp_path, checked=False)
    assert [p.suffix for p in tmp_path.iterdir()] == [".o", ".o"]


def test_the_key_covers_mode_level_program_and_source():
    options = JitProgram(PROG, cache=False).options
    other = program(insn("mov", dst=0, imm=6), EXIT)
    keys = {cache.cache_key(PROG, options, 2), cache.cache_key(PROG, options, 1),
            cache.cache_key(other, options, 2),
            cache.cache_key(PROG, JitProgram(PROG, cache=False, checked=False).options, 2)}
    assert len(keys) == 4
    assert len(diskcache.source_fingerprint()) == 64


def test_cache_false_bypasses_the_disk(tmp_path, cold):
    JitProgram(PROG, cache=False, cache_dir=tmp_path)
    assert not entries(tmp_path)
