"""Object-file verbs: ``sections``, ``maps``, ``btf`` and ``cc``.

In the spirit of ``netsh ebpf show sections`` and ``bpftool btf dump file``;
``disasm FILE.o`` lives with the assembler verbs and calls
``ebpflite.cli.listing.object_listing``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ebpflite.cli.loadopts import BTF_OPTION, TYPE_OPTION

_PLATFORM = click.option("--platform", type=click.Choice(["linux", "windows"]), default=None,
                         help="Program/map type numbering (default: guessed from the object).")


@click.command("sections")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("-v", "--verbose", is_flag=True,
              help="Add each program's statistics (as `netsh ebpf show section ... verbose`).")
@_PLATFORM
@TYPE_OPTION
@BTF_OPTION
def sections_cmd(path: Path, as_json: bool, verbose: bool, platform: str | None, prog_type: str | None,
                 btf: Path | None) -> None:
    """List the programs of an object: section, program type, maps used, size."""
    from ebpflite.cli import listing
    from ebpflite.loader import load_object

    obj = load_object(path, platform=platform, partial=True, prog_type=prog_type, btf=btf)
    rows = listing.sections_rows(obj)
    if verbose:
        from ebpflite.verifier.stats import program_stats

        for row in rows:
            if row["program"] in obj.programs:
                row["stats"] = program_stats(obj.programs[row["program"]])
    if as_json:
        click.echo(json.dumps({"file": str(path), "platform": obj.platform, "sections": rows}, indent=2))
        return
    click.echo(listing.sections_text(obj), nl=False)
    if verbose:
        from ebpflite.verifier.stats import stats_text

        for row in rows:
            if "stats" in row:
                click.echo(f"\nSection: {row['section']}  Program: {row['program']}")
                click.echo(stats_text(row["stats"]), nl=False)


@click.command("maps")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@_PLATFORM
@BTF_OPTION
def maps_cmd(path: Path, as_json: bool, platform: str | None, btf: Path | None) -> None:
    """List the map specifications of an object (declared maps and global data)."""
    from ebpflite.cli import listing
    from ebpflite.loader import load_object

    obj = load_object(path, platform=platform, partial=True, btf=btf)
    if as_json:
        click.echo(json.dumps({"file": str(path), "maps": [m.to_dict() for m in obj.maps]}, indent=2))
    else:
        click.echo(listing.maps_text(obj), nl=False)


@click.command("btf")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def btf_cmd(path: Path, as_json: bool) -> None:
    """Dump the object's BTF types, as ``bpftool btf dump file`` does."""
    from ebpflite.loader import load_object

    obj = load_object(path, partial=True)
    if obj.btf is None:
        raise click.ClickException(f"{path} has no .BTF section (compile with -g)")
    if as_json:
        types = [{"id": t.id, "kind": t.kind.name, "name": t.name, "text": obj.btf.dump_type(t)}
                 for t in obj.btf.types[1:] if t is not None]
        click.echo(json.dumps({"file": str(path), "types": types}, indent=2))
    else:
        click.echo(obj.btf.dump(), nl=False)


@click.command("cc")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Object file to write (default: SOURCE with .o).")
@click.option("-I", "include_dirs", multiple=True, help="Extra include directory.")
@click.option("-D", "defines", multiple=True, help="Preprocessor definition NAME[=VALUE].")
@click.option("-O", "opt", default="2", show_default=True, help="Optimisation level.")
@click.option("--no-debug", is_flag=True, help="Do not emit BTF and line info (-g).")
@click.option("--compiler", type=click.Choice(["zig", "clang"]), default=None,
              help="Which compiler (default: zig if the ziglang wheel is installed, else clang).")
@click.option("--platform", type=click.Choice(["linux", "windows"]), default="linux", show_default=True,
              help="Which shipped headers come first (windows: the ebpf-for-windows ones).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cc_cmd(source: Path, output: Path | None, include_dirs: tuple[str, ...], defines: tuple[str, ...],
           opt: str, no_debug: bool, compiler: str | None, platform: str, as_json: bool) -> None:
    """Compile a C file to an eBPF object (via the ziglang wheel or clang)."""
    from ebpflite.loader.cc import compile_c

    out = compile_c(source, output, include_dirs=include_dirs, defines=defines, debug=not no_debug,
                    opt=f"-O{opt}", compiler=compiler, platform=platform)
    if as_json:
        click.echo(json.dumps({"source": str(source), "object": str(out)}))
    else:
        click.echo(f"wrote {out}")


def register(group: click.Group) -> None:
    for cmd in (sections_cmd, maps_cmd, btf_cmd, cc_cmd):
        group.add_command(cmd)
