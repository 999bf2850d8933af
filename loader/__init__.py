"""ebpflite.loader: ELF objects, BTF, relocations, map specifications, `ebpflite cc`.

``load_object(path_or_bytes, platform=None, prog_type=None) -> ObjectFile`` is
the entry point; see ``loader/objfile.py`` for the conventions it follows.
"""

from ebpflite.loader.maps import MapSpec
from ebpflite.loader.objfile import ObjectFile, load_object

__all__ = ["MapSpec", "ObjectFile", "load_object"]
