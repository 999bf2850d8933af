"""`--map NAME KEY VALUE`: map entries written the way people write them."""

from __future__ import annotations

import click
import pytest

from ebpflite.cli.mapargs import apply, parse_bytes
from ebpflite.helpers import maps
from ebpflite.loader.maps import MapSpec


@pytest.mark.parametrize(("text", "size", "lpm", "expected"), [
    ("23", 4, False, (23).to_bytes(4, "little")),
    ("0x17", 2, False, b"\x17\x00"),
    ("-1", 4, False, b"\xff\xff\xff\xff"),
    ("10.0.1.7", 4, False, bytes([10, 0, 1, 7])),
    ("10.0.1.0/24", 8, True, (24).to_bytes(4, "little") + bytes([10, 0, 1, 0])),
    ("10.0.1.7", 8, True, (32).to_bytes(4, "little") + bytes([10, 0, 1, 7])),
    ("2001:db8::/32", 20, True, (32).to_bytes(4, "little") + bytes.fromhex("20010db8") + bytes(12)),
    ("hex:06001700", 4, False, bytes([6, 0, 0x17, 0])),
    ("0x06 0 23 0", 4, False, bytes([6, 0, 23, 0])),
])
def test_forms(text, size, lpm, expected):
    assert parse_bytes(text, size, lpm=lpm) == expected


@pytest.mark.parametrize(("text", "size", "lpm", "message"), [
    ("70000", 2, False, "does not fit in 2 bytes"),
    ("hex:0g", 4, False, "must be followed by hex digits"),
    ("hex:0102", 4, False, "is 2 bytes, but the map's keys are 4"),
    ("1 2 300 4", 4, False, "every byte must be a number from 0 to 255"),
    ("10.0.0.0/8", 4, False, "prefixes are only for LPM trie maps"),
    ("10.0.0.0/40", 8, True, "not an address prefix"),
    ("10.0.0.999", 4, False, "not an IP address"),
    ("banana", 4, False, "expected an integer, an IP address or prefix"),
])
def test_bad_input_is_named(text, size, lpm, message):
    with pytest.raises(click.BadParameter, match=message):
        parse_bytes(text, size, lpm=lpm)


def _maps():
    lpm = maps.create(MapSpec(name="block", type="lpm_trie", key_size=8, value_size=8, max_entries=8,
                              flags=1))
    array = maps.create(MapSpec(name="small", type="array", key_size=4, value_size=4, max_entries=2))
    return {"block": lpm, "small": array}


def test_apply_updates_live_maps():
    live = _maps()
    apply(live, [("block", "10.0.1.0/24", "5"), ("small", "1", "0xffffffff")])
    assert live["block"].lookup_address((32).to_bytes(4, "little") + bytes([10, 0, 1, 9])) != 0
    assert live["block"].lookup_address((32).to_bytes(4, "little") + bytes([10, 0, 2, 9])) == 0
    assert live["small"][1] == 0xFFFFFFFF


def test_apply_names_the_missing_map_and_failed_update():
    live = _maps()
    with pytest.raises(click.BadParameter, match="no map named 'nope' .*block, small"):
        apply(live, [("nope", "1", "1")])
    with pytest.raises(click.BadParameter, match=r"small\[7\] = 1: the update failed with error -7"):
        apply(live, [("small", "7", "1")])
