"""Pinned maps: files that back a map's storage so it outlives the run.

``create(spec, pin_dir=DIR)`` keeps a map's storage in ``DIR/NAME``: a 4 KiB
header (a magic line and the spec as JSON, with the region layout) followed
by the regions, memory-mapped with numpy. Another process opens the same
file with :func:`open_pinned` and sees updates as they happen, as a pinned
map under /sys/fs/bpf would show them. A file that exists already is reused
when its spec matches (and refused with EINVAL when it does not); its
contents then survive, and the spec's initial values are not re-applied.

Only numpy storage is shared: the Python objects some maps hold (programs
in a prog_array, inner maps of a map-in-map, perf records) stay in the
process that created them.
"""

from __future__ import annotations

import os

from ebpflite.helpers.maps import layout as L
from ebpflite.vm.errors import MapError


def pin_path(pin_dir: str | os.PathLike, name: str) -> str:
    """The file for map ``name`` under ``pin_dir`` (names with '/' or NUL are refused)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise MapError(f"map name {name!r} cannot be used as a pinned file name", L.EINVAL)
    return os.path.join(os.fspath(pin_dir), name)


def list_pinned(pin_dir: str | os.PathLike) -> list[tuple[str, dict]]:
    """(name, header) of every pinned map file in ``pin_dir``, sorted by name."""
    path = os.fspath(pin_dir)
    if not os.path.isdir(path):
        raise MapError(f"{path} is not a directory", L.ENOENT)
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if not os.path.isfile(full):
            continue
        try:
            out.append((name, L.read_pin_header(full)))
        except MapError:
            continue  # not one of ours
    return out
