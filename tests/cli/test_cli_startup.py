"""Start-up: the CLI imports only what a command needs (speed itself is measured in bench/, not here).

``ebpflite --help`` and ``ebpflite sections X`` must not pay for numpy, the verifier or the
JIT: these tests check, in a fresh interpreter, which modules such a run leaves imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PROBE = """
import json, sys
from ebpflite.cli import main
sys.argv = ["ebpflite", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("ebpflite", "numpy", "llvmlite", "rich"))))
"""


def imported_by(*args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_imports_no_engine_no_numpy():
    modules = imported_by("--help")
    heavy = {m for m in modules if m.split(".")[0] in ("numpy", "llvmlite", "rich")
             or m.startswith(("ebpflite.verifier", "ebpflite.jit", "ebpflite.helpers", "ebpflite.runtime",
                              "ebpflite.api", "ebpflite.loader.objfile"))}
    assert not heavy, sorted(heavy)
    assert "ebpflite.cli.world" in modules  # every command is registered


def test_importing_ebpflite_is_lazy():
    out = subprocess.run([sys.executable, "-c", "import sys, ebpflite; print('numpy' in sys.modules, "
                          "'ebpflite.api' in sys.modules); print(ebpflite.load.__module__, "
                          "ebpflite.MemoryFault.__module__)"], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False", "ebpflite.api", "ebpflite.errors"]


def test_sections_loads_no_verifier_and_no_jit(tmp_path, ebpf_cache_dir):
    from ebpflite.loader.cc import compile_c

    obj = compile_c(EXAMPLES / "xdp_firewall" / "firewall.c", tmp_path / "fw.o", cache_dir=ebpf_cache_dir / "cc")
    modules = imported_by("sections", str(obj))
    assert "ebpflite.loader.objfile" in modules
    assert not {m for m in modules if m.startswith(("ebpflite.verifier", "ebpflite.jit", "llvmlite",
                                                    "ebpflite.runtime"))}
