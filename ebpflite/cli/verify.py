"""The ``verify`` verb: will this program load, and if not, why?

``ebpflite verify FILE.o [SECTION] [--type TYPE] [--btf FILE] [--platform linux|windows]
[-v] [--all] [--json]`` prints ``Verification succeeded`` or ``Verification
failed`` and the report for each selected program (like ``netsh ebpf show
verification``); ``-v`` adds the pre- and post-invariants of every
instruction and the program statistics. The exit status is 1 when any
program fails, so scripts and CI can use it as a gate.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ebpflite.cli.loadopts import BTF_OPTION, TYPE_OPTION


def _select(obj, section: str | None):
    programs = obj.programs
    if section is None:
        return list(programs.values())
    chosen = [p for name, p in programs.items() if section in (name, p.section)]
    if not chosen:
        known = ", ".join(f"{p.section} ({name})" for name, p in programs.items()) or "none"
        raise click.ClickException(f"no program or section named {section!r} (programs: {known})")
    return chosen


@click.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("section", required=False)
@TYPE_OPTION
@BTF_OPTION
@click.option("--platform", type=click.Choice(["linux", "windows"]), default=None,
              help="Helper numbering and contexts (default: guessed from the object).")
@click.option("-v", "--verbose", is_flag=True, help="Print invariants per instruction and statistics.")
@click.option("--all", "all_errors", is_flag=True, help="Report every error, not only the first.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def verify_cmd(path: Path, section: str | None, prog_type: str | None, btf: Path | None, platform: str | None,
               verbose: bool, all_errors: bool, as_json: bool) -> None:
    """Verify the programs of an object file (or one SECTION / program name)."""
    from ebpflite import verifier
    from ebpflite.loader import load_object
    from ebpflite.verifier.stats import stats_text

    obj = load_object(path, platform=platform, prog_type=prog_type, btf=btf)
    programs = _select(obj, section)
    if not programs:
        raise click.ClickException(f"{path} contains no programs")
    reports = [verifier.verify(p, prog_type=prog_type, platform=platform, all_errors=all_errors,
                               verbose=verbose and not as_json) for p in programs]
    if as_json:
        click.echo(json.dumps({"file": str(path), "programs": [r.to_dict() for r in reports]}, indent=2))
    else:
        for n, (prog, report) in enumerate(zip(programs, reports, strict=True)):
            if len(programs) > 1:
                click.echo(("\n" if n else "") + f"== {prog.section} ({prog.name}, {prog.prog_type})")
            click.echo(report.text(verbose=verbose))
            if verbose:
                click.echo("")
                click.echo(stats_text(report.stats))
    if not all(r.ok for r in reports):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(verify_cmd)
