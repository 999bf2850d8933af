"""``ebpflite map dump DIR/NAME`` and ``ebpflite map list DIR``: read pinned maps.

Maps pinned with ``--pin-dir DIR`` (or ``create(spec, pin_dir=DIR)``) are
files; these commands open them read-only, even while a program in another
process updates them, and print them as ``bpftool map dump``/``map list``
would.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("map")
def map_group() -> None:
    """Inspect maps pinned in a directory."""


@map_group.command("dump")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "-j", "as_json", is_flag=True, help="Print JSON as `bpftool -j map dump` does.")
def dump_command(path: Path, as_json: bool) -> None:
    """Print every entry of the pinned map PATH (DIR/NAME)."""
    if not path.is_file():
        raise click.BadParameter(f"{path} is not a pinned map file", param_hint="PATH")
    from ebpflite.helpers import maps

    m = maps.open_pinned(path)
    click.echo(m.dump_json() if as_json else m.dump(), nl=as_json)


@map_group.command("list")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "-j", "as_json", is_flag=True, help="Print one JSON object per map.")
def list_command(directory: Path, as_json: bool) -> None:
    """List the maps pinned in DIRECTORY."""
    if not directory.is_dir():
        raise click.BadParameter(f"{directory} is not a directory", param_hint="DIRECTORY")
    from ebpflite.helpers import maps

    found = maps.list_pinned(directory)
    if as_json:
        click.echo(json.dumps([{k: h.get(k) for k in ("name", "type", "key_size", "value_size",
                                                      "max_entries", "flags")} | {"file": name}
                               for name, h in found]))
        return
    for name, h in found:
        click.echo(f"{name}: {h.get('type')}  name {h.get('name')}  flags 0x{h.get('flags', 0):x}\n"
                   f"\tkey {h.get('key_size')}B  value {h.get('value_size')}B  "
                   f"max_entries {h.get('max_entries')}")
    if not found:
        click.echo(f"no pinned maps in {directory}")


def register(group: click.Group) -> None:
    group.add_command(map_group)
