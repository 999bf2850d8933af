"""Objects built by Debian's clang load like those built by the ziglang wheel,
and our BTF view agrees with bpftool's."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ebpflite.loader import load_object
from ebpflite.loader.btf import parse_btf


def _shape(obj):
    """What must not depend on the compiler: programs, sections, types, functions, maps."""
    progs = {n: (p.section, p.prog_type, sorted(set(p.functions.values())),
                 sorted(p.maps[i].name for i in p.meta["used_maps"]), bool(p.line_info))
             for n, p in obj.programs.items()}
    maps = [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.pinning,
             m.initial if not isinstance(m.initial, bytes) or not m.name.startswith(".rodata.str") else None)
            for m in obj.maps if not m.name.startswith(".rodata.str")]
    return progs, sorted(maps, key=lambda t: t[0]), sorted(obj.failed)


@pytest.mark.clang
def test_clang_objects_load_identically(objects, clang_objects):
    for stem in objects:
        zig = load_object(objects[stem], partial=True)
        clang = load_object(clang_objects[stem], partial=True)
        assert _shape(zig) == _shape(clang), stem


@pytest.mark.parametrize("which", ["objects", "clang_objects"])
def test_bpftool_btf_dump_agrees(which, request):
    bpftool = shutil.which("bpftool") or next((p for p in ("/usr/sbin/bpftool",) if shutil.os.path.exists(p)),
                                              None)
    if bpftool is None:
        pytest.skip("bpftool is not installed (apt-get install bpftool)")
    objs = request.getfixturevalue(which)
    for stem, path in objs.items():
        proc = subprocess.run([bpftool, "btf", "dump", "file", str(path)], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            pytest.skip(f"bpftool cannot dump {path}: {proc.stderr.strip()}")
        ours = load_object(path, partial=True).btf
        assert ours is not None
        assert ours.dump() == proc.stdout, stem


def test_btf_dump_round_trip_matches_type_count(objects):
    obj = load_object(objects["maps_btf"])
    again = parse_btf(obj.sections[".BTF"])
    assert len(again) == len(obj.btf) and again.dump() == obj.btf.dump()
