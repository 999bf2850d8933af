"""One program from whatever file a user has: an ELF object, assembly, hex text or raw bytecode.

Why here: the loader is where bytes become :class:`~ebpflite.vm.program.Program`
objects (docs/architecture.md). :func:`~ebpflite.loader.objfile.load_object`
reads objects with their maps; tools that take "a program file"
(``ebpflite run``, ``disasm``, ``bench``; scripts) also meet assembly,
the conformance suite's hex text and raw bytecode, and need one rule for
telling them apart (:func:`file_format`) rather than one per command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ebpflite.vm.errors import AssemblerError, LoaderError
from ebpflite.vm.program import Program

ELF_MAGIC = b"\x7fELF"
ASSEMBLY_SUFFIXES = (".s", ".asm")
RAW_SUFFIX = ".bin"  #: never read as assembly (hex text in it is still hex)
#: hex bytes, optionally 0x-prefixed, separated by white space or commas (the suite's ``-- raw``)
_HEX_TEXT_RE = re.compile(r"(?:0x)?[0-9a-fA-F]+(?:[\s,]+(?:0x)?[0-9a-fA-F]+)*")


def file_format(path: str | os.PathLike, data: bytes) -> str:
    """``"elf"``, ``"asm"``, ``"hex"`` or ``"raw"``: how :func:`load_program` reads ``data``.

    ELF by its magic; a ``.s``/``.asm`` file is assembly; other text (``#``
    comments aside) is hex bytes when it is nothing but an even number of hex
    digits, else assembly, except in a ``.bin`` file; the rest (not text, or
    text in a ``.bin`` file) is raw bytecode."""
    suffix = Path(path).suffix
    if data.startswith(ELF_MAGIC):
        return "elf"
    if suffix in ASSEMBLY_SUFFIXES:
        return "asm"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return "raw"
    stripped = "\n".join(line.split("#", 1)[0] for line in text.splitlines()).strip()
    digits = re.sub(r"0x|[\s,]", "", stripped)
    if stripped and _HEX_TEXT_RE.fullmatch(stripped) and len(digits) % 2 == 0:
        return "hex"
    return "asm" if suffix != RAW_SUFFIX and stripped else "raw"


def load_program(path: str | os.PathLike, *, section: str | None = None, prog_type: str | None = None,
                 btf: str | os.PathLike | bytes | None = None, check_targets: bool = True) -> Program:
    """The program in the file at ``path``, whatever its :func:`file_format`.

    Of an ELF object, the program named ``section`` (a program or section
    name), or its first; ``prog_type``/``btf`` as for ``load_object``. Other
    formats hold one program, named after the file. ``check_targets=False``
    decodes bytecode whose jumps leave the program (to disassemble it, not to
    run it). Errors are :class:`~ebpflite.errors.LoaderError`,
    ``AssemblerError`` or ``DecodeError`` naming the problem."""
    path = Path(path)
    data = path.read_bytes()
    kind = file_format(path, data)
    if kind == "elf":
        return _object_program(path, section, prog_type, btf)
    if section is not None:
        raise LoaderError(f"not an ELF object, so it has no section {section!r}", str(path))
    from ebpflite.vm.insn import decode

    if kind == "hex":
        text = "\n".join(line.split("#", 1)[0] for line in data.decode("ascii").splitlines())
        return Program(decode(bytes.fromhex(re.sub(r"0x|[\s,]", "", text)), check_targets=check_targets),
                       name=path.stem)
    if kind == "asm":
        from ebpflite.vm.asm import assemble_program

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AssemblerError(f"{path} is not a text file ({exc.reason} at byte {exc.start}), so it "
                                 "cannot be assembly") from None
        return assemble_program(text, name=path.stem, file=str(path))
    return Program(decode(data, check_targets=check_targets), name=path.stem)


def _object_program(path: Path, section: str | None, prog_type: str | None, btf) -> Program:
    from ebpflite.loader.objfile import load_object

    obj = load_object(str(path), prog_type=prog_type, btf=btf)
    if not obj.programs:
        raise LoaderError("the object holds no programs", str(path))
    if section is None:
        return next(iter(obj.programs.values()))
    for program in obj.programs.values():
        if section in (program.name, program.section):
            return program
    raise LoaderError(f"no program or section {section!r} (it has {', '.join(obj.programs)})", str(path))
