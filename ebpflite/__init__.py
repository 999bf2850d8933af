"""ebpflite: a userspace eBPF virtual machine.

The public API lives here; the subsystems are ``ebpflite.vm`` (ISA,
assembler, interpreter), ``ebpflite.loader`` (ELF/BTF), ``ebpflite.verifier``,
``ebpflite.helpers`` (maps, helpers, contexts), ``ebpflite.jit`` and
``ebpflite.runtime`` (running programs).

Importing the package is cheap: the exceptions (which import nothing else)
are here at once, and the API names (``load``, ``Object``...) and the
subpackages the API layer stands on are imported on first use (PEP 562
``__getattr__``), so a command like ``ebpflite --help`` does not pay for
numpy, the verifier or the JIT. ``ebpflite.jit`` is below the runtime, not
part of the API's face: ``import ebpflite.jit`` to use it directly.
"""

import importlib

from ebpflite.errors import *  # noqa: F401,F403

__version__ = "0.1.0"

#: names ``ebpflite`` offers from ``ebpflite.api``, imported when first used
_API_NAMES = ("BindRequest", "Clock", "Object", "Process", "ProgramHandle", "Replay", "Result", "load")
#: attribute -> module, written out (tests/test_layering.py checks these names against the layering)
_SUBPACKAGES = {"api": "ebpflite.api", "engines": "ebpflite.engines", "errors": "ebpflite.errors",
                "helpers": "ebpflite.helpers", "loader": "ebpflite.loader", "packets": "ebpflite.packets",
                "runtime": "ebpflite.runtime", "testing": "ebpflite.testing", "verifier": "ebpflite.verifier",
                "vm": "ebpflite.vm"}


def __getattr__(name: str):
    if name in _API_NAMES:
        value = getattr(importlib.import_module("ebpflite.api"), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(_SUBPACKAGES[name])
    else:
        raise AttributeError(f"module 'ebpflite' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API_NAMES) | set(_SUBPACKAGES))
