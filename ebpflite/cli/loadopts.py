"""Options every command that loads an object shares: ``--type`` and ``--btf``.

Why one place: a section that names no program type (Cilium's ``2/7``, OVS's ``tail-3``) needs
``--type`` wherever the program is verified or run, and a CO-RE object needs ``--btf`` wherever it
is loaded on a machine without ``/sys/kernel/btf/vmlinux``; the same spelling, help and checks
on every command keep them learnable (docs/loader.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from ebpflite.loader.progtypes import PROG_TYPES

TYPE_OPTION = click.option(
    "--type", "prog_type", type=click.Choice(sorted(t for t in PROG_TYPES if t != "unspec")), default=None,
    metavar="TYPE",
    help="Program type of every program (overrides the section's); needed for sections that name none "
         "(tc loads them as sched_cls, ip link as xdp).")
BTF_OPTION = click.option(
    "--btf", "btf", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Target BTF for CO-RE relocations (a kernel's /sys/kernel/btf/vmlinux, or an object with .BTF); "
         "default: this kernel's.")
