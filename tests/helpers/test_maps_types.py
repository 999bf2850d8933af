"""The special map types: LPM trie, queue/stack, ring buffer, perf event array,
bloom filter, redirect maps, prog_array and maps of maps."""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebpflite.errors import MapError
from ebpflite.helpers import maps as M
from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps import ringbuf as R
from ebpflite.helpers.maps.lpm import mask_data
from ebpflite.vm.program import Program


@pytest.fixture(autouse=True)
def _cpu0():
    M.set_current_cpu(0)
    yield
    M.set_current_cpu(0)


def spec(type_, key_size=4, value_size=4, max_entries=4, **kw):
    return M.MapSpec(type_, type_, key_size, value_size, max_entries, **kw)


def value_at(address: int, size: int = 4) -> int:
    return int.from_bytes(ctypes.string_at(address, size), "little")


# --- LPM trie ---------------------------------------------------------------------------------

def lpm_key(prefixlen: int, ip: str) -> bytes:
    return prefixlen.to_bytes(4, "little") + bytes(int(p) for p in ip.split("."))


def lpm() -> M.Map:
    return M.create(spec("lpm_trie", 8, 4, 8, flags=L.BPF_F_NO_PREALLOC))


def test_lpm_longest_prefix_wins():
    m = lpm()
    assert m.update(lpm_key(8, "10.0.0.0"), 8) == 0
    assert m.update(lpm_key(16, "10.1.0.0"), 16) == 0
    assert m.update(lpm_key(24, "10.1.2.0"), 24) == 0
    assert m.update(lpm_key(0, "0.0.0.0"), 0) == 0
    for ip, want in [("10.1.2.3", 24), ("10.1.3.3", 16), ("10.2.0.0", 8), ("11.0.0.0", 0)]:
        assert value_at(m.lookup_address(lpm_key(32, ip))) == want
    # the lookup key's prefixlen caps the match
    assert value_at(m.lookup_address(lpm_key(20, "10.1.2.3"))) == 16
    assert m[lpm_key(32, "10.1.2.200")] == 24


def test_lpm_bits_inside_a_byte():
    m = lpm()
    m[lpm_key(9, "10.128.0.0")] = 9
    assert m.lookup(lpm_key(32, "10.200.0.0")) == (9).to_bytes(4, "little")
    assert m.lookup(lpm_key(32, "10.127.0.0")) is None
    assert mask_data(bytes([0xFF, 0xFF]), 9) == bytes([0xFF, 0x80])


def test_lpm_flags_full_and_delete():
    m = M.create(spec("lpm_trie", 8, 4, 2, flags=L.BPF_F_NO_PREALLOC))
    assert m.update(lpm_key(33, "1.2.3.4"), 1) == -L.EINVAL
    assert m.update(lpm_key(8, "1.0.0.0"), 1, L.BPF_EXIST) == -L.ENOENT
    assert m.update(lpm_key(8, "1.0.0.0"), 1) == 0
    assert m.update(lpm_key(8, "1.9.9.9"), 2, L.BPF_NOEXIST) == -L.EEXIST  # same /8
    assert m.update(lpm_key(8, "1.9.9.9"), 2, L.BPF_EXIST) == 0
    assert m.update(lpm_key(16, "1.2.0.0"), 3) == 0
    assert m.update(lpm_key(24, "1.2.3.0"), 4) == -L.ENOSPC
    assert m.update(lpm_key(24, "1.2.3.0"), 4, 7) == -L.EINVAL
    assert m.delete(lpm_key(24, "1.2.3.0")) == -L.ENOENT
    assert m.delete(lpm_key(16, "1.2.0.0")) == 0 and len(m) == 1
    assert value_at(m.lookup_address(lpm_key(32, "1.2.3.4"))) == 2
    assert m.dump() == "key: 08 00 00 00 01 00 00 00  value: 02 00 00 00\nFound 1 element\n"


@given(st.lists(st.tuples(st.integers(0, 16), st.integers(0, 0xFFFF)), max_size=12),
       st.integers(0, 0xFFFF))
def test_lpm_matches_a_brute_force_search(entries, probe):
    m = M.create(spec("lpm_trie", 6, 4, 16, flags=L.BPF_F_NO_PREALLOC))
    model = {}
    for plen, data in entries:
        m.update(plen.to_bytes(4, "little") + data.to_bytes(2, "big"), plen)
        model[(plen, data >> (16 - plen) if plen else 0)] = plen
    best = max((p for (p, prefix) in model if (probe >> (16 - p) if p else 0) == prefix), default=None)
    got = m.lookup((16).to_bytes(4, "little") + probe.to_bytes(2, "big"))
    assert (None if got is None else int.from_bytes(got, "little")) == best


@pytest.mark.parametrize("kw, message", [
    (dict(flags=0), "must include BPF_F_NO_PREALLOC"),
    (dict(key_size=4, flags=1), "key_size must be 5..260"),
    (dict(key_size=261, flags=1), "key_size must be 5..260"),
    (dict(value_size=0, flags=1), "value_size must be at least 1"),
])
def test_lpm_bad_specs(kw, message):
    with pytest.raises(MapError, match=message):
        M.create(spec("lpm_trie", **(dict(key_size=8) | kw)))


# --- queue and stack -------------------------------------------------------------------------------

def test_queue_fifo_full_and_overwrite():
    q = M.create(spec("queue", 0, 4, 3))
    assert q.pop() is None and q.peek() is None
    for v in (1, 2, 3):
        assert q.push(v) == 0
    assert q.push(4) == -L.E2BIG
    assert q.push(4, L.BPF_NOEXIST) == -L.E2BIG
    assert q.push(4, 3) == -L.EINVAL
    assert q.push(4, L.BPF_EXIST) == 0  # drops the oldest (1)
    assert list(q) == [2, 3, 4] and len(q) == 3
    assert q.peek() == (2).to_bytes(4, "little")
    assert q.pop() == (2).to_bytes(4, "little")
    assert q.lookup_and_delete(None) == (3).to_bytes(4, "little")
    assert q.update(None, 5) == 0
    assert [int.from_bytes(q.pop(), "little") for _ in range(2)] == [4, 5]
    assert q.pop() is None
    assert q.delete(None) == -L.EINVAL
    assert q.lookup_address(b"") == 0


def test_stack_lifo_and_overwrite():
    s = M.create(spec("stack", 0, 4, 2))
    s.push(1)
    s.push(2)
    assert s.push(3) == -L.E2BIG
    assert s.push(3, L.BPF_EXIST) == 0  # oldest (1) dropped
    assert list(s) == [3, 2]
    assert s.dump() == "value: 03 00 00 00\nvalue: 02 00 00 00\nFound 2 elements\n"
    assert s.pop() == (3).to_bytes(4, "little") and s.peek() == (2).to_bytes(4, "little")


@pytest.mark.parametrize("kind", ["queue", "stack"])
@given(ops=st.lists(st.one_of(st.integers(0, 255), st.none()), max_size=40))
def test_queue_and_stack_match_a_list(kind, ops):
    m = M.create(spec(kind, 0, 1, 5))
    model: list[int] = []
    for op in ops:
        if op is None:
            want = None if not model else model.pop(0 if kind == "queue" else -1)
            assert m.pop() == (None if want is None else bytes([want]))
        else:
            full = len(model) == 5
            assert m.push(op) == (-L.E2BIG if full else 0)
            if not full:
                model.append(op)
        assert len(m) == len(model)
    assert list(m) == (model if kind == "queue" else model[::-1])


def test_queue_bad_input():
    q = M.create(spec("queue", 0, 4, 2))
    with pytest.raises(MapError, match="queue and stack maps have no keys"):
        q[0]
    with pytest.raises(MapError, match="have no keys \\(pass None\\)"):
        q.update(1, 2)
    with pytest.raises(MapError, match="value is 2 bytes, the map's value size is 4"):
        q.push(b"ab")
    with pytest.raises(MapError, match="key_size must be 0, not 4"):
        M.create(spec("queue", 4, 4, 2))


# --- ring buffer -------------------------------------------------------------------------------------

def rb(size=4096) -> M.Map:
    return M.create(spec("ringbuf", 0, 0, size))


def test_ringbuf_record_layout_and_consume():
    m = rb()
    assert m.output(b"hello") == 0
    data = m.views["values"]
    assert int.from_bytes(data[:4].tobytes(), "little") == 5  # len, no busy/discard bits
    assert data[8:13].tobytes() == b"hello"
    assert m.query(R.BPF_RB_PROD_POS) == 16 and m.query(R.BPF_RB_AVAIL_DATA) == 16
    assert m.query(R.BPF_RB_RING_SIZE) == 4096 and m.query(99) == 0
    sample = m.reserve(3)
    assert sample == m.regions()[0].start + 16 + 8
    hdr = int.from_bytes(data[16:20].tobytes(), "little")
    assert hdr == 3 | R.BUSY_BIT
    ctypes.memmove(sample, b"abc", 3)
    assert m.records() == [b"hello"]  # busy record blocks the ones behind it
    m.submit(sample)
    d = m.reserve(1)
    m.discard(d)
    assert int.from_bytes(data[32:36].tobytes(), "little") == 1 | R.DISCARD_BIT
    got = []
    assert m.consume(got.append) == [b"hello", b"abc"] and got == [b"hello", b"abc"]
    assert m.query(R.BPF_RB_CONS_POS) == m.query(R.BPF_RB_PROD_POS) == 48
    assert m.consume() == [] and len(m) == 0


def test_ringbuf_full_and_wrap():
    m = rb()
    assert m.output(bytes(4000)) == 0
    assert m.output(bytes(100)) == -L.EAGAIN  # would exceed size - 1 bytes in flight
    assert m.reserve(100) == 0
    assert m.consume() == [bytes(4000)]
    payload = bytes(range(200))
    assert m.output(payload) == 0  # starts at 4008, wraps past 4096
    assert m.records() == [payload]
    assert m.views["values"][:200 + 8 - 88].tobytes() == payload[80:]
    assert m.consume() == [payload]


def test_ringbuf_bad_use():
    m = rb()
    assert m.reserve(8, flags=1) == 0
    assert m.reserve(5000) == 0
    assert m.output(b"x", flags=4) == -L.EINVAL
    assert m.output(b"x", flags=R.BPF_RB_FORCE_WAKEUP) == 0
    with pytest.raises(MapError, match="is not a record reserved in this ring buffer"):
        m.submit(12345)
    s = m.reserve(4)
    m.submit(s)
    with pytest.raises(MapError, match="already submitted or discarded"):
        m.discard(s)
    with pytest.raises(MapError, match="ring buffers have no keys"):
        m[0]
    with pytest.raises(MapError, match="must be a power of two and a multiple of 4096"):
        rb(6000)
    with pytest.raises(MapError, match="value_size must be 0"):
        M.create(spec("ringbuf", 0, 4, 4096))


# --- perf event array ------------------------------------------------------------------------------------

def test_perf_event_output_per_cpu():
    from ebpflite.helpers.maps.perf import BPF_F_CURRENT_CPU
    m = M.create(spec("perf_event_array", 4, 4, 0), cpus=2)
    assert m.max_entries == 2
    M.set_current_cpu(1)
    assert m.output(b"a", BPF_F_CURRENT_CPU) == 0
    assert m.output(b"b", 0) == 0
    assert m.output(b"c", 2) == -L.E2BIG
    assert m.output(b"c", 1 << 60) == -L.EINVAL
    assert m.output(b"c", (5 << 32) | 1) == 0  # ctx length bits are allowed
    assert m.records(1) == [b"a", b"c"] and m.records() == [b"b", b"a", b"c"]
    assert m.records_by_cpu() == {0: [b"b"], 1: [b"a", b"c"]}
    assert m.delete(0) == 0 and m.output(b"x", 0) == -L.ENOENT
    assert m.delete(0) == -L.ENOENT and m.delete(5) == -L.E2BIG
    assert m.update(0, 3) == 0 and m.output(b"y", 0) == 0
    assert m.consume() == [(0, b"b"), (0, b"y"), (1, b"a"), (1, b"c")]
    assert m.records() == []


# --- bloom filter ----------------------------------------------------------------------------------------

def test_bloom_filter():
    m = M.create(spec("bloom_filter", 0, 4, 100, map_extra=3))
    assert m.nr_hash_funcs == 3 and m.nr_bits == 512  # 100*3/5*7 = 420 -> 512
    for v in range(0, 100, 2):
        assert m.push(v) == 0
    assert all(m.peek(v) == 0 for v in range(0, 100, 2))
    false_pos = sum(m.peek(v) == 0 for v in range(1000, 2000))
    assert false_pos < 200
    assert 12345 not in m or m.peek(12345) == 0
    assert m.push(1, L.BPF_EXIST) == -L.EINVAL
    assert m.pop() == -L.EOPNOTSUPP and m.delete(None) == -L.EOPNOTSUPP
    assert M.create(spec("bloom_filter", 0, 4, 1)).nr_hash_funcs == 5
    with pytest.raises(MapError, match="map_extra 0x10 is invalid"):
        M.create(spec("bloom_filter", 0, 4, 1, map_extra=16))
    with pytest.raises(MapError, match="cannot be iterated"):
        list(m)


# --- redirect maps -----------------------------------------------------------------------------------------

def test_devmap():
    m = M.create(spec("devmap", 4, 4, 4))
    assert m.lookup_address(1) == 0 and m.redirect_target(1) is None
    assert m.update(1, 7, L.BPF_EXIST) == -L.ENOENT
    assert m.update(1, 7) == 0 and m.redirect_target(1) == 7
    assert m.update(1, 8, L.BPF_NOEXIST) == -L.EEXIST
    assert m.update(2, 0) == -L.EINVAL  # no device 0
    assert m.update(4, 3) == -L.E2BIG
    assert value_at(m.lookup_address(1)) == 7
    assert not any(r.writable for r in m.regions())
    assert dict(m.items()) == {1: 7}
    assert m.delete(1) == 0 and m.delete(9) == -L.EINVAL and len(m) == 0
    with pytest.raises(MapError, match="value_size must be 4 or 8"):
        M.create(spec("devmap", 4, 2, 4))


def test_devmap_hash_cpumap_xskmap():
    h = M.create(spec("devmap_hash", 4, 8, 4))
    assert h.update(100, (3).to_bytes(8, "little")) == 0 and h.redirect_target(100) == 3
    assert h.update(5, bytes(8)) == -L.EINVAL
    assert not any(r.writable for r in h.regions())
    c = M.create(spec("cpumap", 4, 4, 8), cpus=2)
    assert c.update(1, 192) == 0 and c.redirect_target(1) == 1
    assert c.lookup_address(1) == 0  # programs cannot look into a cpumap
    assert c.update(3, 192) == -19  # no such CPU: -ENODEV
    assert c.update(0, 20000) == -75  # queue too large: -EOVERFLOW
    assert c.update(1, 0) == 0 and c.redirect_target(1) is None  # qsize 0 removes
    x = M.create(spec("xskmap", 4, 4, 4))
    assert x.update(2, 9, L.BPF_NOEXIST) == 0 and x.update(2, 9, L.BPF_NOEXIST) == -L.EEXIST
    assert x.redirect_target(2) == 2 and x.redirect_target(3) is None


# --- prog_array ----------------------------------------------------------------------------------------------

def prog(name, prog_type="xdp"):
    return Program([], name=name, prog_type=prog_type)


def test_prog_array():
    m = M.create(spec("prog_array", 4, 4, 4))
    a, b = prog("a"), prog("b")
    m.set_program(0, a)
    m[2] = b
    assert m.get_program(0) is a and m[2] is b and m.get_program(1) is None and m.get_program(99) is None
    assert m.lookup_address(0) == 0
    assert len(m) == 2 and [k for k, _ in m.items()] == [0, 2]
    assert m.update(1, prog("c"), L.BPF_NOEXIST) == -L.EINVAL  # fd arrays take BPF_ANY only
    assert m.update(7, prog("c")) == -L.E2BIG
    assert m.update(1, prog("k", "kprobe")) == -L.EINVAL  # one program type per array
    m.set_program(0, None)
    assert m.get_program(0) is None and m.delete(0) == -L.ENOENT and m.delete(9) == -L.E2BIG
    with pytest.raises(MapError, match="prog_array values are programs"):
        m.update(0, 5)
    with pytest.raises(MapError, match="index 9 is past max_entries 4"):
        m.set_program(9, None)
    with pytest.raises(MapError, match="cannot store a program at index 9"):
        m.set_program(9, a)
    with pytest.raises(KeyError):
        m[0]


def test_prog_array_initial_names_resolve():
    m = M.create(spec("prog_array", 4, 4, 4, initial={1: "tail"}))
    assert m.get_program(1) == "tail"
    p = prog("tail")
    m.resolve_programs({"tail": p})
    assert m.get_program(1) is p
    m2 = M.create(spec("prog_array", 4, 4, 4, initial={1: "missing"}))
    with pytest.raises(MapError, match="slot 1 names program 'missing'"):
        m2.resolve_programs({})


# --- maps of maps ------------------------------------------------------------------------------------------------

INNER = M.MapSpec("inner", "hash", 4, 8, 16)


@pytest.mark.parametrize("outer_type, key", [("array_of_maps", 1), ("hash_of_maps", 0xABCD)])
def test_map_in_map(outer_type, key):
    outer = M.create(spec(outer_type, 4, 4, 4, inner=INNER))
    assert outer.value_size == 4
    inner = M.create(INNER)
    inner[5] = 55
    outer[key] = inner
    addr = outer.lookup_address(key)
    assert addr == inner.address  # the inner descriptor itself, ready for the next helper call
    found = M.by_address(addr)
    assert found is inner and found.lookup(5) == (55).to_bytes(8, "little")
    assert outer[key] is inner and outer.items() == [(key, inner)]
    assert outer.dump() == (f"key: {' '.join(f'{b:02x}' for b in key.to_bytes(4, 'little'))}  "
                            f"value: {' '.join(f'{b:02x}' for b in inner.map_id.to_bytes(4, 'little'))}\n"
                            "Found 1 element\n")
    wrong = M.create(M.MapSpec("x", "hash", 4, 8, 32))  # max_entries differs
    assert outer.update(key, wrong) == -L.EINVAL
    with pytest.raises(MapError, match="does not match the inner map template"):
        outer[key] = M.create(M.MapSpec("y", "array", 4, 8, 16))
    with pytest.raises(MapError, match="are live maps, not 5"):
        outer.update(key, 5)
    del outer[key]
    assert outer.lookup_address(key) == 0
    with pytest.raises(KeyError):
        outer[key]


def test_map_in_map_inner_flag_and_specs():
    tmpl = M.MapSpec("t", "array", 4, 4, 1, flags=L.BPF_F_INNER_MAP)
    outer = M.create(spec("array_of_maps", 4, 4, 2, inner=tmpl))
    assert outer.update(0, M.create(M.MapSpec("big", "array", 4, 4, 99, flags=L.BPF_F_INNER_MAP))) == 0
    assert outer.update(1, M.create(M.MapSpec("f", "array", 4, 4, 1)), L.BPF_NOEXIST) == -L.EINVAL
    with pytest.raises(MapError, match="needs an inner map template"):
        M.create(spec("hash_of_maps", 4, 4, 2))
    with pytest.raises(MapError, match="value_size must be 4 \\(an inner map fd\\)"):
        M.create(spec("array_of_maps", 4, 8, 2, inner=tmpl))
    with pytest.raises(MapError, match="cannot itself hold maps"):
        M.create(spec("array_of_maps", 4, 4, 2, inner=spec("array_of_maps", inner=tmpl)))
    built = M.create(spec("hash_of_maps", 4, 4, 2, inner=tmpl, initial={3: tmpl}))
    assert built[3].type == "array"


def test_maps_survive_only_while_referenced():
    outer = M.create(spec("array_of_maps", 4, 4, 2, inner=INNER))
    outer[0] = M.create(INNER)  # only the outer map holds it
    import gc
    gc.collect()
    assert outer[0].type == "hash"
    assert np.all(outer.views["values"][8:16] == 0)


def test_every_type_in_the_table_is_creatable():
    for name in M.TYPES:
        kw = dict(key_size=4, value_size=4, max_entries=8)
        if name in ("queue", "stack", "bloom_filter"):
            kw["key_size"] = 0
        if name == "ringbuf":
            kw = dict(key_size=0, value_size=0, max_entries=4096)
        if name == "lpm_trie":
            kw = dict(key_size=8, value_size=4, max_entries=8, flags=1)
        m = M.create(M.MapSpec(name, name, inner=INNER if "of_maps" in name else None, **kw))
        assert m.type == name and M.by_address(m.address) is m
        assert re.match(r"(Found \d+ (element|record)s?|bloom filter)", m.dump().splitlines()[-1])


def test_map_in_map_initial_names_resolve():
    outer = M.create(spec("array_of_maps", 4, 4, 4, inner=INNER, initial={2: "inner"}))
    assert outer.lookup_address(2) == 0
    inner = M.create(INNER)
    outer.resolve_maps({"inner": inner})
    assert outer[2] is inner and outer.pending == {}
    other = M.create(spec("hash_of_maps", 4, 4, 4, inner=INNER, initial={2: "gone"}))
    with pytest.raises(MapError, match="slot 2 names map 'gone', which the object lacks"):
        other.resolve_maps({})


def test_loader_style_spec_fields():
    class LoaderSpec:  # the loader's MapSpec keeps map_extra in `extra` and BTF ids as ints
        name, type, key_size, value_size, max_entries, flags = "b", "bloom_filter", 0, 8, 10, 0
        pinning, btf_key_type, btf_value_type, initial, inner = 0, 3, 4, None, None
        extra = {"map_extra": 2}
    m = M.create(LoaderSpec())
    assert m.nr_hash_funcs == 2 and m.value_dtype is None
    h = M.create(spec("hash"))
    h[1] = 1
    assert h.raw_keys() == [(1).to_bytes(4, "little")]


BTF_SOURCE = r"""
typedef unsigned int __u32;
typedef unsigned long long __u64;
struct flow { __u32 saddr; __u32 daddr; unsigned short sport, dport; };
struct stats { __u64 packets; __u64 bytes; int last; char tag[4]; };
struct {
    int (*type)[1];            /* BPF_MAP_TYPE_HASH */
    int (*max_entries)[16];
    struct flow *key;
    struct stats *value;
} flows __attribute__((section(".maps"), used));
char _license[] __attribute__((section("license"), used)) = "GPL";
"""


def test_values_as_records_from_clang_btf(tmp_path, clang):
    import subprocess

    from ebpflite.loader import load_object

    src = tmp_path / "flows.c"
    src.write_text(BTF_SOURCE)
    obj = tmp_path / "flows.o"
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(src), "-o", str(obj)], check=True)
    loaded = load_object(str(obj))
    (s,) = [m for m in loaded.maps if m.name == "flows"]
    m = M.create(s)
    m.use_btf(loaded.btf)
    assert m.key_dtype.names == ("saddr", "daddr", "sport", "dport")
    assert m.value_dtype.names == ("packets", "bytes", "last", "tag")
    key = np.zeros(1, m.key_dtype)[0]
    key["saddr"], key["dport"] = 0x0A000001, 80
    value = np.zeros(1, m.value_dtype)[0]
    value["packets"], value["bytes"], value["last"] = 2, 1500, -1
    m[key] = value
    ((k, v),) = m.items()
    assert k["saddr"] == 0x0A000001 and k["dport"] == 80
    assert (v["packets"], v["bytes"], v["last"]) == (2, 1500, -1)
    assert v["tag"].tolist() == [0, 0, 0, 0]


def test_btf_dtype_falls_back_quietly():
    from ebpflite.helpers.maps.btftypes import btf_dtype

    class Broken:
        def resolve(self, tid):
            raise ValueError("bad BTF")
    assert btf_dtype(Broken(), 5) is None
    assert btf_dtype(None, 5) is None and btf_dtype(Broken(), 0) is None
    m = M.create(spec("hash", 4, 8, 2))
    m.use_btf(Broken())
    assert m.key_dtype is None and m.value_dtype is None


@given(st.lists(st.one_of(st.integers(0, 1500), st.none()), max_size=60))
def test_ringbuf_matches_a_byte_budget_model(ops):
    m = rb()
    pending: list[bytes] = []
    used = 0  # bytes between consumer and producer
    for n, op in enumerate(ops):
        if op is None:
            assert m.consume() == pending
            pending, used = [], 0
            continue
        data = bytes([n & 0xFF]) * op
        need = (op + 8 + 7) // 8 * 8
        fits = used + need <= 4095
        assert m.output(data) == (0 if fits else -L.EAGAIN)
        if fits:
            pending.append(data)
            used += need
        assert m.query(R.BPF_RB_AVAIL_DATA) == used
    assert m.records() == pending


def _all_maps():
    out = []
    for name in M.TYPES:
        kw = dict(key_size=4, value_size=4, max_entries=8)
        if name in ("queue", "stack", "bloom_filter"):
            kw["key_size"] = 0
        if name == "ringbuf":
            kw = dict(key_size=0, value_size=0, max_entries=4096)
        if name == "lpm_trie":
            kw = dict(key_size=8, value_size=4, max_entries=8, flags=1)
        out.append(M.create(M.MapSpec(name, name, inner=INNER if "of_maps" in name else None, **kw)))
    return out


_FUZZ_MAPS = None
ANY_INPUT = st.one_of(st.none(), st.integers(-2**70, 2**70), st.binary(max_size=12), st.text(max_size=3),
                      st.floats(allow_nan=False), st.lists(st.integers(0, 3), max_size=5))


@given(key=ANY_INPUT, value=ANY_INPUT, flags=st.integers(0, 2**64 - 1))
def test_untrusted_input_gives_errno_or_maperror_never_a_crash(key, value, flags):
    global _FUZZ_MAPS
    if _FUZZ_MAPS is None:
        _FUZZ_MAPS = _all_maps()  # shared across examples: state left behind is more input
    for m in _FUZZ_MAPS:
        calls = [(m.update, (key, value, flags)), (m.delete, (key,)), (m.lookup_address, (key,)),
                 (m.lookup_and_delete, (key,)), (m.get_next_key, (key,)), (m.__contains__, (key,))]
        for fn, args in calls:
            try:
                result = fn(*args)
            except MapError as exc:
                assert exc.errno is not None and str(exc).startswith(f"map {m.name}")
            else:
                assert result is None or isinstance(result, (int, bytes, bool))
        for fn in ("push", "peek"):
            if hasattr(m, fn) and m.type != "prog_array":
                try:
                    getattr(m, fn)(value) if fn == "push" or m.type == "bloom_filter" else getattr(m, fn)()
                except MapError:
                    pass
