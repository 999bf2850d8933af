"""The object verbs: sections, maps, btf, cc, and disasm of an object with source lines."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ebpflite.cli import cli
from ebpflite.cli.listing import object_listing


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_sections_text_and_json(objects):
    out = run("sections", str(objects["subprogs"]))
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split() == ["Section", "Program", "Type", "#", "Maps", "Size", "(insns)"]
    assert any(line.split()[:3] == ["kprobe/do_sys_open", "probe", "kprobe"] for line in lines)
    doc = json.loads(run("sections", "--json", str(objects["subprogs"])).output)
    rows = {r["program"]: r for r in doc["sections"]}
    assert rows["custom"]["type"] == "unspec" and rows["custom"]["maps"] == 1
    assert rows["xdp_first"]["section"] == "xdp" and rows["xdp_first"]["size"] > 0


def test_sections_verbose_adds_program_statistics(objects):
    out = run("sections", "-v", str(objects["subprogs"]))
    assert out.exit_code == 0
    assert "Section: xdp  Program: xdp_first" in out.output
    stats = {}
    for line in out.output.split("Program: xdp_first", 1)[1].splitlines():
        if ":" in line and not line.startswith("Section"):
            key, value = line.split(":")
            stats.setdefault(key.strip(), int(value))
    assert stats["instructions"] > 0 and stats["basic blocks"] >= 1
    assert {"joins", "jumps", "arith64", "load", "store", "call_1", "adjust_head", "other"} <= set(stats)
    doc = json.loads(run("sections", "-v", "--json", str(objects["subprogs"])).output)
    rows = {r["program"]: r for r in doc["sections"]}
    assert rows["xdp_first"]["stats"]["instructions"] == stats["instructions"]


def test_sections_report_programs_that_cannot_load(objects, monkeypatch):
    from ebpflite.loader import core

    monkeypatch.setattr(core, "VMLINUX_BTF", "/nonexistent/vmlinux")  # no target BTF for its CO-RE reads
    out = run("sections", str(objects["core"]))
    assert out.exit_code == 0
    assert "read_pid" in out.output and "CO-RE" in out.output


def test_maps_text_and_json(objects):
    out = run("maps", str(objects["maps_btf"]))
    assert out.exit_code == 0
    assert any(line.split()[:5] == ["hash_map", "hash", "8", "8", "1024"] for line in out.output.splitlines())
    doc = json.loads(run("maps", "--json", str(objects["maps_btf"])).output)
    by_name = {m["name"]: m for m in doc["maps"]}
    assert by_name[".rodata"]["flags"] == 0x80 and by_name[".rodata"]["initial"] == "64000000"
    assert by_name["outer"]["inner"]["type"] == "array"


def test_btf_dump(objects):
    out = run("btf", str(objects["maps_btf"]))
    assert out.exit_code == 0
    assert "DATASEC '.maps'" in out.output and "VAR 'hash_map'" in out.output


def test_cc_and_errors(tmp_path):
    src = tmp_path / "ok.c"
    src.write_text('#include <bpf/bpf_helpers.h>\nSEC("xdp") int f(void *ctx) { return 2; }\n')
    out = run("cc", str(src), "-o", str(tmp_path / "ok.o"))
    assert out.exit_code == 0 and (tmp_path / "ok.o").is_file()
    assert "f" in run("sections", str(tmp_path / "ok.o")).output
    bad = tmp_path / "bad.c"
    bad.write_text("int f( { return; }\n")
    result = CliRunner().invoke(cli, ["cc", str(bad)])
    assert result.exit_code != 0
    assert "compilation failed" in str(result.exception) and "bad.c:1" in str(result.exception)


def test_listing_interleaves_source(objects):
    text = object_listing(str(objects["subprogs"]), "xdp_first", show_source=True)
    lines = text.splitlines()
    i = lines.index(";   return deep(ctx->ingress_ifindex) & 3;")
    assert lines[i - 1].startswith("; ") and lines[i - 1].endswith("subprogs.c:33")
    assert "deep:" in lines and "add:" in lines
    plain = object_listing(str(objects["subprogs"]), "xdp_first")
    assert "subprogs.c" not in plain


def test_listing_names_maps_and_json(objects):
    text = object_listing(str(objects["legacy_maps"]), "socket")
    assert "# packet_count" in text and "# flows" in text
    doc = json.loads(object_listing(str(objects["maps_btf"]), as_json=True))
    prog = next(p for p in doc["programs"] if p["name"] == "use_maps")
    assert "hash_map" in prog["maps"]
    assert any("source" in insn for insn in prog["insns"])


def test_listing_unknown_section(objects):
    result = CliRunner().invoke(cli, ["disasm", str(objects["subprogs"]), "nope"])
    assert result.exit_code != 0
    assert "no program section or program named 'nope'" in str(result.exception)
