"""ebpflite.loader: ELF objects, BTF, relocations, map specifications, `ebpflite cc`.

``load_object(path_or_bytes, platform=None, prog_type=None) -> ObjectFile`` is
the entry point; see ``loader/objfile.py`` for the conventions it follows.
``load_program(path, section=None)`` reads one program from a file of any
format (ELF, assembly, hex text, raw bytecode; ``loader/files.py``).
The names below are imported on first use (PEP 562), so a light module of the
package (``loader.progtypes``, the section-name table the CLI's ``--type``
choices come from) does not pull in ELF parsing and numpy.
"""

import importlib

__all__ = ["MapSpec", "ObjectFile", "load_object", "load_program"]
_HOMES = {"MapSpec": "ebpflite.loader.maps", "ObjectFile": "ebpflite.loader.objfile",
          "load_object": "ebpflite.loader.objfile", "load_program": "ebpflite.loader.files"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'ebpflite.loader' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
