"""Pinned maps: file-backed storage that persists between runs and is shared with
other processes, and the `ebpflite map dump/list` commands that read it."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.errors import MapError
from ebpflite.helpers import maps as M
from ebpflite.helpers.maps import layout as L


def test_contents_persist_between_runs(tmp_path):
    s = M.MapSpec("counts", "hash", 4, 8, 16, initial={1: 100})
    m = M.create(s, pin_dir=tmp_path)
    m[2] = 200
    del m
    again = M.create(s, pin_dir=tmp_path)  # reused: initial values are not re-applied
    again[1] = 111
    assert dict(again.items()) == {1: 111, 2: 200}
    third = M.create(s, pin_dir=tmp_path)
    assert dict(third.items()) == {1: 111, 2: 200}
    assert third.lookup_address(2) and third.address != again.address


def test_every_numpy_backed_type_pins(tmp_path):
    q = M.create(M.MapSpec("q", "queue", 0, 4, 4), pin_dir=tmp_path)
    q.push(7)
    rb = M.create(M.MapSpec("rb", "ringbuf", 0, 0, 4096), pin_dir=tmp_path)
    rb.output(b"event")
    lpm = M.create(M.MapSpec("lpm", "lpm_trie", 8, 4, 4, flags=1), pin_dir=tmp_path)
    lpm[(8).to_bytes(4, "little") + bytes([10, 0, 0, 0])] = 8
    pa = M.create(M.MapSpec("pa", "percpu_array", 4, 4, 2), cpus=2, pin_dir=tmp_path)
    pa[1] = [3, 4]
    assert M.open_pinned(tmp_path / "q").peek() == (7).to_bytes(4, "little")
    assert M.open_pinned(tmp_path / "q", readonly=False).pop() == (7).to_bytes(4, "little")
    assert q.pop() is None  # the creator sees the other handle's pop
    assert M.open_pinned(tmp_path / "rb").records() == [b"event"]
    reopened = M.open_pinned(tmp_path / "lpm")
    assert reopened.lookup((32).to_bytes(4, "little") + bytes([10, 1, 2, 3])) == (8).to_bytes(4, "little")
    assert M.open_pinned(tmp_path / "pa")[1] == [3, 4]
    assert [name for name, _ in M.list_pinned(tmp_path)] == ["lpm", "pa", "q", "rb"]


def test_another_process_sees_updates_while_the_map_is_live(tmp_path):
    m = M.create(M.MapSpec("live", "array", 4, 8, 4), pin_dir=tmp_path)
    reader = textwrap.dedent(f"""
        from ebpflite.helpers import maps
        m = maps.open_pinned({str(tmp_path / "live")!r})
        print(m[3])
    """)
    m[3] = 41
    out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "41"
    m[3] = 42  # still mapped: the next reader sees the new value without any save step
    out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42"


def test_incompatible_pinned_file_is_refused(tmp_path):
    M.create(M.MapSpec("m", "hash", 4, 8, 16), pin_dir=tmp_path)
    with pytest.raises(MapError, match="pinned map .* has value_size=8, the program wants 4") as exc:
        M.create(M.MapSpec("m", "hash", 4, 4, 16), pin_dir=tmp_path)
    assert exc.value.errno == L.EINVAL
    with pytest.raises(MapError, match="has cpus=4, the program wants 2"):
        M.create(M.MapSpec("m", "hash", 4, 8, 16), cpus=2, pin_dir=tmp_path)


def test_bad_pin_files_and_names(tmp_path):
    (tmp_path / "junk").write_bytes(b"not a map")
    with pytest.raises(MapError, match="is not an ebpflite pinned map"):
        M.open_pinned(tmp_path / "junk")
    (tmp_path / "corrupt").write_bytes(L.PIN_MAGIC + b"{nope\n")
    with pytest.raises(MapError, match="corrupt pinned map header"):
        M.open_pinned(tmp_path / "corrupt")
    (tmp_path / "short").write_bytes(L.PIN_MAGIC + b'{"name": "x"}\n')
    with pytest.raises(MapError, match="pinned map header lacks fields"):
        M.open_pinned(tmp_path / "short")
    with pytest.raises(MapError, match="cannot read pinned map"):
        M.open_pinned(tmp_path / "absent")
    with pytest.raises(MapError, match="cannot be used as a pinned file name"):
        M.create(M.MapSpec("a/b", "array"), pin_dir=tmp_path)
    with pytest.raises(MapError, match="is not a directory"):
        M.list_pinned(tmp_path / "junk")
    # a file truncated behind our back
    M.create(M.MapSpec("t", "array", 4, 4, 1024), pin_dir=tmp_path)
    with open(tmp_path / "t", "r+b") as f:
        f.truncate(5000)
    with pytest.raises(MapError, match="has the wrong size for its layout"):
        M.create(M.MapSpec("t", "array", 4, 4, 1024), pin_dir=tmp_path)


def test_readonly_open_cannot_write(tmp_path):
    M.create(M.MapSpec("ro", "array", 4, 4, 2), pin_dir=tmp_path)
    m = M.open_pinned(tmp_path / "ro")
    with pytest.raises(MapError, match="update: the map was opened read-only") as exc:
        m[0] = 1
    assert exc.value.errno == errno.EPERM
    with pytest.raises(MapError, match="delete: the map was opened read-only"):
        del m[0]
    M.open_pinned(tmp_path / "ro", readonly=False)[0] = 5
    assert M.open_pinned(tmp_path / "ro")[0] == 5


# --- the CLI -----------------------------------------------------------------------------------

def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_dump_and_list(tmp_path):
    m = M.create(M.MapSpec("flows", "hash", 4, 4, 8), pin_dir=tmp_path)
    m[1] = 2
    res = run("map", "dump", str(tmp_path / "flows"))
    assert res.exit_code == 0 and res.output == "key: 01 00 00 00  value: 02 00 00 00\nFound 1 element\n"
    res = run("map", "dump", "--json", str(tmp_path / "flows"))
    assert json.loads(res.output) == [{"key": ["0x01", "0x00", "0x00", "0x00"],
                                       "value": ["0x02", "0x00", "0x00", "0x00"]}]
    res = run("map", "list", str(tmp_path))
    assert res.exit_code == 0 and "flows: hash" in res.output and "max_entries 8" in res.output
    res = run("map", "list", "-j", str(tmp_path))
    assert json.loads(res.output)[0]["type"] == "hash"


def test_cli_errors(tmp_path):
    res = run("map", "dump", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "is not a pinned map file" in res.output
    res = run("map", "list", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "is not a directory" in res.output
    assert run("map", "list", str(tmp_path)).output == f"no pinned maps in {tmp_path}\n"
    (tmp_path / "junk").write_text("hello")
    out = subprocess.run(["ebpflite", "map", "dump", str(tmp_path / "junk")], capture_output=True, text=True)
    assert out.returncode == 1 and "is not an ebpflite pinned map (bad magic)" in out.stderr
