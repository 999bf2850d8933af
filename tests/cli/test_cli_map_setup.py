"""`ebpflite xdp ... --map NAME KEY VALUE`: the README's firewall demo, checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ebpflite
from ebpflite.cli import cli
from ebpflite.loader.cc import compile_c

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "data" / "sample.pcap"


@pytest.fixture(scope="module")
def firewall(tmp_path_factory, ebpf_cache_dir):
    out = tmp_path_factory.mktemp("fw") / "firewall.o"
    try:
        return compile_c(REPO / "examples" / "xdp_firewall" / "firewall.c", out, cache_dir=ebpf_cache_dir / "cc")
    except ebpflite.CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def _counts(firewall, *extra):
    result = CliRunner().invoke(cli, ["xdp", str(firewall), "--pcap", str(SAMPLE), "--json", *extra])
    assert result.exit_code == 0, result.output
    actions = [json.loads(line).get("action") for line in result.output.splitlines() if line.startswith("{")]
    return actions


def test_map_entries_change_the_verdicts(firewall):
    # without entries the firewall passes everything; a /24 block list entry and a port rule drop some
    assert set(_counts(firewall)) == {"XDP_PASS"}
    actions = _counts(firewall, "--map", "blocklist_v4", "10.0.1.0/24", "0",
                      "--map", "port_policy", "6 0 22 0", "1")
    assert 0 < actions.count("XDP_DROP") < len(actions)


@pytest.mark.parametrize(("args", "message"), [
    (["--map", "nosuch", "1", "1"], "no map named 'nosuch'"),
    (["--map", "blocklist_v4", "10.0.1.0/24", "banana"], "value 'banana': expected an integer"),
    (["--map", "port_policy", "1.2.3.4/8", "1"], "prefixes are only for LPM trie maps"),
])
def test_bad_map_entries_are_named(firewall, args, message):
    result = CliRunner().invoke(cli, ["xdp", str(firewall), "--pcap", str(SAMPLE), *args])
    assert result.exit_code != 0
    assert message in result.output
