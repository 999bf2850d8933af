"""The JIT's persistent cache of machine code, on by default.

Compiling costs tens to hundreds of milliseconds per program (lowering to IR,
LLVM's passes, code generation), while the machine code depends only on what
the key below covers. So the object file MCJIT produces is kept on disk and a
later process loads it instead of compiling: llvmlite's
``ExecutionEngine.set_object_cache`` hands us the bytes after code generation
and asks for them before it. See :mod:`ebpflite.jit.cache` for the loading side.

Where: ``$EBPFLITE_JIT_CACHE`` if set (``off``, ``0``, ``no`` or an empty value
turn the cache off), else ``$XDG_CACHE_HOME/ebpflite/jit``, else
``~/.cache/ebpflite/jit``.

The key (:func:`entry_key`) covers everything that changes the code: the
program's instructions and their pcs, the lowering options and LLVM pipeline,
the host CPU and its features, the llvmlite and LLVM versions, ebpflite's
version and a hash of the source of the packages that produce the IR
(``ebpflite.jit``, ``ebpflite.vm``, the map layouts and the helper registry), so editing the lowering never reuses
stale code.

An entry is ``MAGIC + sha256(object) + object``: a truncated or corrupt entry
(a crash mid-write, a full disk, a flipped bit) fails the digest, or the
structural check of :func:`plausible_object`, and is ignored, removed and
rebuilt, because LLVM's object loader aborts the process on garbage. Writes go to a temporary file in the same directory and are
renamed into place, so concurrent processes see either no entry or a whole one.
The cache is as trusted as the user's own home directory (as Python's
``__pycache__`` is): it guards against accidents, not against someone who can
write crafted object files there.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

ENV_VAR = "EBPFLITE_JIT_CACHE"
MAGIC = b"EBPFLITE-JIT-OBJ-1\n"
_DIGEST = 32
_OFF = {"off", "0", "no", "false", "none", ""}


def default_directory() -> Path | None:
    """The cache directory the environment asks for, or None when it is turned off."""
    value = os.environ.get(ENV_VAR)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ebpflite" / "jit"


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """ebpflite's version and a hash of every module that shapes the emitted code: the
    ``jit`` and ``vm`` packages, the map layouts and the helper registry (computed once per
    process; found beside this package, as both the source tree and an installed
    ``ebpflite`` lay them out, without importing them)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(str(getattr(sys.modules.get("ebpflite"), "__version__", "?")).encode())
    files = [root / "helpers" / "registry.py"]
    for package in ("jit", "vm", "helpers/maps"):
        files += sorted((root / package).glob("*.py"))
    for path in files:
        h.update(path.name.encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def toolchain_fingerprint() -> str:
    """What of the host and of LLVM changes the machine code for the same IR."""
    return repr((llvmlite.__version__, llvm.llvm_version_info, llvm.get_process_triple(),
                 llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()))


def plausible_object(obj: bytes) -> bool:
    """Does ``obj`` look like an object file LLVM wrote on this host? LLVM aborts the process
    on a malformed object, so nothing else reaches it: on ELF hosts, the ELF magic, 64-bit
    class, this byte order and a section header table inside the file (other hosts: not
    empty). The digest already rules out accidents; this guards against an entry written by
    something other than this module."""
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return bool(obj)
    if len(obj) < 64 or obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != (1 if sys.byteorder == "little" else 2):
        return False
    order = sys.byteorder
    shoff = int.from_bytes(obj[0x28:0x30], order)
    shentsize, shnum = int.from_bytes(obj[0x3A:0x3C], order), int.from_bytes(obj[0x3C:0x3E], order)
    return shnum > 0 and shentsize >= 64 and shoff + shentsize * shnum <= len(obj)


class DiskCache:
    """Object files by key in one directory; every failure reads as a miss."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.o"

    def load(self, key: str) -> bytes | None:
        """The object file stored under ``key``, or None (absent, unreadable or corrupt;
        a corrupt entry is removed so that the rebuilt one replaces it)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        head = len(MAGIC)
        obj = data[head + _DIGEST:]
        if data[:head] != MAGIC or hashlib.sha256(obj).digest() != data[head:head + _DIGEST] \
                or not plausible_object(obj):
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return obj

    def store(self, key: str, obj: bytes) -> bool:
        """Write an entry atomically; False if the directory cannot take it (a read-only or
        full cache only costs a compile next time)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(MAGIC + hashlib.sha256(obj).digest() + obj)
                os.replace(tmp, self.path(key))
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return False
        return True
