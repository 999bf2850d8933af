"""``ebpflite cc``: compile C to an eBPF object with no system packages.

Why: users should be able to go from a ``.c`` file to a ``.o`` with only
``pip install ebpflite[cc]``. The ``ziglang`` wheel ships a full clang that
targets ``bpfel-freestanding``; when it is missing we fall back to a
``clang`` on PATH (``-target bpf``). Both get the headers in ``include/``
(libbpf-compatible ``bpf/bpf_helpers.h``, ``linux/bpf.h`` ...; with
``platform="windows"`` the ebpf-for-windows ones first). ``-g`` makes the
compiler emit ``.BTF`` and ``.BTF.ext`` (line info), which the loader reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ebpflite.vm.errors import CompileError

INCLUDE_DIR = Path(__file__).resolve().parents[1] / "include"
WINDOWS_INCLUDE_DIR = INCLUDE_DIR / "ebpf-for-windows"
#: flags both compilers need for BPF: no unwind tables, no stack protector, no builtin libc headers
COMMON_FLAGS = ("-ffreestanding", "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
                "-Wno-unused-command-line-argument")
TIMEOUT = 300


def find_compilers() -> list[tuple[str, list[str]]]:
    """Available compilers, preferred first: (name, argv prefix)."""
    found = []
    try:
        import ziglang  # noqa: F401

        found.append(("zig", [sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding"]))
    except ImportError:
        pass
    clang = os.environ.get("EBPFLITE_CLANG") or shutil.which("clang")
    if clang:
        found.append(("clang", [clang, "-target", "bpf"]))
    return found


def compiler_command(src: Path, out: Path, *, compiler: str | None = None, include_dirs: Sequence = (),
                     defines: Sequence[str] = (), debug: bool = True, opt: str = "-O2",
                     platform: str = "linux") -> list[str]:
    compilers = dict(find_compilers())
    if compiler is None:
        if not compilers:
            raise CompileError("no C compiler for eBPF found: install the ziglang wheel "
                               "(pip install ebpflite[cc]) or put clang on PATH")
        argv = list(next(iter(compilers.values())))
    elif compiler in compilers:
        argv = list(compilers[compiler])
    else:
        raise CompileError(f"compiler {compiler!r} is not available (found: {', '.join(compilers) or 'none'})")
    argv += [opt, *COMMON_FLAGS]
    if debug:
        argv.append("-g")
    for d in include_dirs:
        argv += ["-I", str(d)]
    if platform == "windows":
        argv += ["-I", str(WINDOWS_INCLUDE_DIR)]
    argv += ["-I", str(INCLUDE_DIR)]
    for d in defines:
        argv.append(f"-D{d}")
    argv += ["-c", str(src), "-o", str(out)]
    return argv


def compile_c(src: str | os.PathLike, out: str | os.PathLike | None = None, *, include_dirs: Sequence = (),
              defines: Sequence[str] = (), debug: bool = True, opt: str = "-O2", compiler: str | None = None,
              platform: str = "linux", cache_dir: str | os.PathLike | None = None) -> Path:
    """Compile ``src`` to ``out`` (default: ``src`` with ``.o``); returns the object's path.

    ``cache_dir`` keeps objects by a hash of the source, headers and command,
    so test suites do not recompile unchanged files.
    """
    src = Path(src)
    out = Path(out) if out is not None else src.with_suffix(".o")
    if not src.is_file():
        raise CompileError(f"{src}: no such source file")
    argv = compiler_command(src, out, compiler=compiler, include_dirs=include_dirs, defines=defines,
                            debug=debug, opt=opt, platform=platform)
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / (_cache_key(src, argv, out) + ".o")
        if cached.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, out)
            return out
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"{src}: could not run the compiler: {exc}") from None
    if proc.returncode != 0 or not out.is_file():
        output = (proc.stderr + proc.stdout).strip()
        raise CompileError(f"{src}: compilation failed (exit {proc.returncode}):\n{output}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, cached)
    return out


def _cache_key(src: Path, argv: list[str], out: Path) -> str:
    h = hashlib.sha256()
    h.update(src.read_bytes())
    h.update("\0".join(a for a in argv if a != str(out)).encode())
    for header in sorted(INCLUDE_DIR.rglob("*.h")):
        h.update(header.read_bytes())
    return h.hexdigest()[:24]
