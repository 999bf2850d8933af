"""The ``ebpflite`` command line: one module per group of verbs.

Each module in :data:`COMMAND_MODULES` defines click commands and a
``register(group)`` function that adds them to the main group.
"""

from __future__ import annotations

import importlib

import click

from ebpflite.errors import EbpfError

COMMAND_MODULES = ("asm", "run", "objects", "mapcmd", "world", "verify", "bench")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ebpflite")
def cli() -> None:
    """ebpflite: load, verify, run, compare and test eBPF programs without a kernel."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"ebpflite.cli.{_name}")
    except ModuleNotFoundError as exc:  # a group not written yet
        if exc.name != f"ebpflite.cli.{_name}":
            raise
        continue
    _module.register(cli)


def main() -> None:
    """Entry point: typed ebpflite errors become one clear line and exit code 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except EbpfError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    except SystemExit:
        raise
