"""``ebpflite asm`` and ``ebpflite disasm``: between assembly text and bytecode.

``asm FILE.s -o FILE.bin`` assembles (either syntax, see
:mod:`ebpflite.vm.asm_syntax`); without ``-o``, or with ``--hex``, it writes
the bytecode as hex text, one 8-byte slot a line (the suite's ``-- raw`` form).

``disasm FILE`` lists a program. FILE may be an ELF object (the listing
then comes from :func:`ebpflite.cli.listing.object_listing`), raw
bytecode, hex text, or assembly (listed as it assembles, with ``-l``
showing each instruction's source line); the loader tells them apart
(``ebpflite.loader.load_program``).

``--xlated``, ``--ir`` and ``--jited`` ask the JIT for its views of the
program, through ``ebpflite.cli.stages.render(program, kind) -> str``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ebpflite.cli.loadopts import BTF_OPTION, TYPE_OPTION

if TYPE_CHECKING:
    from ebpflite.vm.program import Program

ELF_MAGIC = b"\x7fELF"


def _hex_lines(code: bytes) -> str:
    return "".join(code[i:i + 8].hex(" ") + "\n" for i in range(0, len(code), 8))


@click.command("asm")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the bytecode here (raw bytes unless --hex).")
@click.option("--hex", "as_hex", is_flag=True, help="Write hex text, one instruction slot a line.")
@click.option("--platform", type=click.Choice(["linux", "windows"]), default="linux", show_default=True,
              help="Whose helper numbers `call NAME` uses.")
def asm_cmd(source: Path, output: Path | None, as_hex: bool, platform: str) -> None:
    """Assemble SOURCE (llvm or conformance syntax) into bytecode."""
    from ebpflite.vm.asm import assemble_program

    text = _read_text(source)
    code = assemble_program(text, name=source.stem, file=str(source), platform=platform).bytecode
    if output is None:
        click.echo(_hex_lines(code), nl=False)
    elif as_hex:
        output.write_text(_hex_lines(code))
    else:
        output.write_bytes(code)


@click.command("disasm")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("section", required=False)
@click.option("-l", "--line", "show_source", is_flag=True, help="Show the source line of each instruction.")
@click.option("--syntax", type=click.Choice(["llvm", "conformance"]), default="llvm", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per instruction.")
@click.option("--plain", is_flag=True, help="Instructions only, without the pc and bytes columns.")
@click.option("--labels/--no-labels", default=None, help="Jump targets as labels (default: conformance syntax).")
@click.option("--platform", type=click.Choice(["linux", "windows"]), default="linux", show_default=True,
              help="Whose helper names to show.")
@click.option("--xlated", "view", flag_value="xlated", help="The verifier's rewritten program (needs the JIT).")
@click.option("--ir", "view", flag_value="ir", help="The LLVM IR the JIT generates.")
@click.option("--jited", "view", flag_value="jited", help="The native code the JIT generates.")
@TYPE_OPTION
@BTF_OPTION
def disasm_cmd(path: Path, section: str | None, show_source: bool, syntax: str, as_json: bool, plain: bool,
               labels: bool | None, platform: str, view: str | None, prog_type: str | None,
               btf: Path | None) -> None:
    """Disassemble PATH: an ELF object, raw bytecode, hex text or assembly."""
    data = path.read_bytes()
    if data.startswith(ELF_MAGIC) and view is None:
        click.echo(_object_listing(path, section, show_source, as_json, btf), nl=False)
        return
    if section is not None and not data.startswith(ELF_MAGIC):
        raise click.UsageError(f"{path} is not an ELF object, so it has no section {section!r}")
    from ebpflite.loader import load_program

    program = load_program(path, section=section, prog_type=prog_type, btf=btf, check_targets=False)
    if view is not None:
        click.echo(_jit_view(program, view), nl=False)
        return
    from ebpflite.vm.disasm import disassemble, helper_names, to_json

    names = helper_names(platform)
    if as_json:
        click.echo(json.dumps(to_json(program, syntax, helper_name=names, platform=platform), indent=2))
        return
    lines = disassemble(program, syntax, labels=labels, listing=not plain, helper_name=names,
                        platform=platform)
    if show_source:
        lines = _with_source(program, lines, plain)
    click.echo("\n".join(lines))


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"{path} is not a text file ({exc.reason})") from None


def _with_source(program: Program, lines: list[str], plain: bool) -> list[str]:
    """Put each instruction's source line (``; text``) above it, as llvm-objdump -S does."""
    if not program.line_info:
        return lines
    out: list[str] = []
    by_pc = {insn.pc: insn for insn in program.insns}
    pcs = iter(sorted(by_pc))
    last = None
    for line in lines:
        if line.endswith(":") and not line.startswith(" "):
            out.append(line)
            continue
        pc = next(pcs)
        source = program.line_info.get(pc)
        if source is not None and source != last:
            out.append(f"; {source.text}" if plain else f"; {source}: {source.text}")
            last = source
        out.append(line)
    return out


def _object_listing(path: Path, section: str | None, show_source: bool, as_json: bool, btf: Path | None) -> str:
    from ebpflite.cli.listing import object_listing

    text = object_listing(str(path), section=section, show_source=show_source, as_json=as_json, btf=btf)
    return text if text.endswith("\n") else text + "\n"


def _jit_view(program: Program, kind: str) -> str:
    from ebpflite.cli.stages import render

    text = render(program, kind)
    return text if text.endswith("\n") else text + "\n"


def register(group: click.Group) -> None:
    """Add ``asm`` and ``disasm`` to the main command group."""
    group.add_command(asm_cmd)
    group.add_command(disasm_cmd)

