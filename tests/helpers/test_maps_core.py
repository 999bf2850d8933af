"""Array and hash maps: kernel update/delete semantics, per-CPU values, LRU eviction,
the native layout (probed with ctypes as the JIT will), conversions and bad input."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebpflite.errors import MapError
from ebpflite.helpers import maps as M
from ebpflite.helpers.maps import layout as L
from ebpflite.vm.memory import AddressSpace

DOCS = Path(__file__).resolve().parents[2] / "docs" / "maps.md"


def make(type_: str, key_size: int = 4, value_size: int = 4, max_entries: int = 4, cpus: int = 4,
         **kw) -> M.Map:
    return M.create(M.MapSpec(type_, type_, key_size, value_size, max_entries, **kw), cpus=cpus)


@pytest.fixture(autouse=True)
def _cpu0():
    M.set_current_cpu(0)
    yield
    M.set_current_cpu(0)


# --- the native view ---------------------------------------------------------------------

def descriptor(m: M.Map) -> np.void:
    """Read the descriptor from its address, as native code would."""
    return np.frombuffer(ctypes.string_at(m.address, L.DESCRIPTOR.itemsize), L.DESCRIPTOR)[0]


def native_hash_lookup(address: int, key: bytes) -> int:
    """docs/maps.md's probe loop, on raw memory only."""
    d = np.frombuffer(ctypes.string_at(address, 128), L.DESCRIPTOR)[0]
    h = L.fnv1a(key, int(d["hash_seed"]))
    mask = int(d["capacity"]) - 1
    i = h & mask
    cpu = int.from_bytes(ctypes.string_at(int(d["cpu_ptr"]), 4), "little")
    cpu_off = cpu * int(d["value_stride"]) if int(d["ncpus"]) > 1 else 0
    while True:
        slot = ctypes.string_at(int(d["slots"]) + i * int(d["slot_size"]), int(d["slot_size"]))
        vidx1 = int.from_bytes(slot[4:8], "little")
        if vidx1 == 0:
            return 0
        if int.from_bytes(slot[:4], "little") == h and slot[8:8 + len(key)] == key:
            return int(d["values"]) + (vidx1 - 1) * int(d["entry_stride"]) + cpu_off
        i = (i + 1) & mask


def test_descriptor_matches_the_documented_table():
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\w+) \|", DOCS.read_text(), re.M)
    documented = {name: (int(off), int(size)) for off, size, name in rows}
    actual = {name: (L.DESCRIPTOR.fields[name][1], L.DESCRIPTOR.fields[name][0].itemsize)
              for name in L.DESCRIPTOR.names}
    assert documented == actual


def test_descriptor_fields_point_at_storage():
    m = make("percpu_hash", 6, 12, 10, cpus=3)
    d = descriptor(m)
    assert d["magic"] == L.DESCRIPTOR_MAGIC and d["type"] == M.TYPES["percpu_hash"].linux
    assert (d["key_size"], d["value_size"], d["max_entries"], d["ncpus"]) == (6, 12, 10, 3)
    assert d["value_stride"] == 16 and d["entry_stride"] == 48
    assert d["capacity"] == 32 and d["slot_size"] == 16
    assert d["values"] == m.regions()[0].start
    assert d["cpu_ptr"] == L.CPU_CELL.ctypes.data
    assert M.by_address(m.address) is m
    assert M.by_address(m.address + 8) is None


def test_fnv1a_known_vectors():
    # published FNV-1a 32-bit test vectors
    assert L.fnv1a(b"") == 0x811C9DC5
    assert L.fnv1a(b"a") == 0xE40C292C
    assert L.fnv1a(b"foobar") == 0xBF9CF968


@given(st.lists(st.tuples(st.sampled_from(["set", "del"]), st.integers(0, 40), st.integers(0, 2**32 - 1)),
                max_size=80))
def test_hash_matches_a_dict_and_the_native_probe(ops):
    m = make("hash", 1, 4, 6)  # capacity 16: collisions and wrap-around
    model: dict[int, int] = {}
    for op, k, v in ops:
        if op == "set":
            rc = m.update(k, v)
            if k in model or len(model) < 6:
                assert rc == 0
                model[k] = v
            else:
                assert rc == -L.E2BIG
        else:
            assert m.delete(k) == (0 if model.pop(k, None) is not None else -L.ENOENT)
        assert len(m) == len(model)
    assert dict(m.items()) == model
    for k in range(41):
        assert native_hash_lookup(m.address, bytes([k])) == m.lookup_address(bytes([k]))
        assert (m.lookup_address(bytes([k])) != 0) == (k in model)


# --- arrays ---------------------------------------------------------------------------------

def test_array_semantics():
    m = make("array", max_entries=3)
    assert len(m) == 3 and m[2] == 0
    assert m.update(1, 7, L.BPF_EXIST) == 0 and m[1] == 7
    assert m.update(1, 8, L.BPF_NOEXIST) == -L.EEXIST and m[1] == 7
    assert m.update(3, 1) == -L.E2BIG
    assert m.update(0, 1, 3) == -L.EINVAL
    assert m.update(0, 1, L.BPF_F_LOCK) == 0
    assert m.delete(0) == -L.EINVAL
    assert m.lookup_address(3) == 0
    assert list(m) == [0, 1, 2]
    assert m.get_next_key(None) == b"\0\0\0\0"
    assert m.get_next_key(1) == (2).to_bytes(4, "little")
    assert m.get_next_key(2) is None
    assert m.get_next_key(99) == b"\0\0\0\0"
    with pytest.raises(MapError, match="delete failed") as exc:
        del m[0]
    assert exc.value.errno == L.EINVAL


def test_lookup_pointer_updates_in_place():
    m = make("array", value_size=8, max_entries=4)
    space = AddressSpace()
    for r in m.regions():
        space.add(r)
    addr = m.lookup_address(2)
    space.store(addr, 8, space.load(addr, 8) + 41)
    space.store(addr, 8, space.load(addr, 8) + 1)
    assert m[2] == 42
    assert m.value_address(4) == m.value_address(0) + 4
    with pytest.raises(MapError, match="value offset 8 is outside"):
        m.value_address(8)


def test_array_key_region_is_read_only_and_holds_indexes():
    m = make("array", max_entries=5)
    values, keys = m.regions()
    assert values.writable and not keys.writable
    pairs = list(m.iter_addresses())
    assert [int.from_bytes(ctypes.string_at(k, 4), "little") for k, _ in pairs] == [0, 1, 2, 3, 4]
    assert pairs[3][1] == m.lookup_address(3)


def test_rdonly_prog_makes_values_read_only():
    m = make("array", flags=L.BPF_F_RDONLY_PROG)
    assert not m.regions()[0].writable


def test_global_data_initial_bytes():
    m = M.create(M.MapSpec(".data", "array", 4, 6, 1, initial=b"\x01\x02\x03"))
    assert m.lookup(0) == b"\x01\x02\x03\0\0\0"
    with pytest.raises(MapError, match="initial data of 7 bytes exceeds value_size 6"):
        M.create(M.MapSpec(".data", "array", 4, 6, 1, initial=b"1234567"))


def test_initial_dict_and_bad_initial():
    m = M.create(M.MapSpec("h", "hash", 4, 4, 4, initial={1: 10, b"\2\0\0\0": 20}))
    assert dict(m.items()) == {1: 10, 2: 20}
    with pytest.raises(MapError, match="initial contents of type list are not supported"):
        M.create(M.MapSpec("h", "hash", 4, 4, 4, initial=[1]))


def test_percpu_array_program_and_user_views():
    m = make("percpu_array", value_size=4, max_entries=2, cpus=3)
    m[1] = [10, 11, 12]
    assert m[1] == [10, 11, 12]
    M.set_current_cpu(2)
    assert int.from_bytes(ctypes.string_at(m.lookup_address(1), 4), "little") == 12
    assert m.update(1, (99).to_bytes(4, "little")) == 0  # a program's update: this CPU only
    assert m[1] == [10, 11, 99]
    m[0] = 5  # one value for every CPU
    assert m[0] == [5, 5, 5]
    full = b"".join(v.to_bytes(8, "little") for v in (1, 2, 3))
    assert m.update(0, full) == 0 and m[0] == [1, 2, 3]
    M.set_current_cpu(3)
    with pytest.raises(MapError, match="CPU 3 is out of range: the map has 3 CPUs"):
        m.lookup_address(0)
    with pytest.raises(MapError, match="per-CPU value needs 3 entries, got 2"):
        m[0] = [1, 2]
    with pytest.raises(MapError, match="per-CPU arrays have no direct value address"):
        m.value_address(0)


def test_percpu_dump_lists_each_cpu_like_bpftool():
    m = make("percpu_array", value_size=4, max_entries=1, cpus=2)
    m[0] = [1, 2]
    assert m.dump() == ("key:\n00 00 00 00\nvalue (CPU 00): 01 00 00 00\n"
                        "value (CPU 01): 02 00 00 00\nFound 1 element\n")


def test_dump_formats_like_bpftool():
    m = make("hash", 4, 4, 4)
    m[1] = 0x0403
    assert m.dump() == "key: 01 00 00 00  value: 03 04 00 00\nFound 1 element\n"
    big = make("hash", 20, 4, 2)
    big[bytes(range(20))] = 7
    assert big.dump() == ("key:\n00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13\n"
                          "value:\n07 00 00 00\nFound 1 element\n")
    mid = make("hash", 12, 16, 2)  # neither over 16 bytes, together over 24: two lines
    mid[1] = bytes(16)
    assert mid.dump().startswith("key: 01 00 00 00 00 00 00 00  00 00 00 00\nvalue: 00")
    small = make("hash", 8, 16, 2)  # 24 bytes together: one line
    small[1] = bytes(16)
    assert small.dump().startswith("key: 01 00 00 00 00 00 00 00  value: 00")
    assert make("hash").dump() == "Found 0 elements\n"


# --- hash maps --------------------------------------------------------------------------------

def test_hash_update_flags_and_errors():
    m = make("hash", 4, 8, 2)
    assert m.update(1, 5, L.BPF_EXIST) == -L.ENOENT
    assert m.update(1, 5, L.BPF_NOEXIST) == 0
    assert m.update(1, 6, L.BPF_NOEXIST) == -L.EEXIST and m[1] == 5
    assert m.update(1, 6, L.BPF_EXIST) == 0 and m[1] == 6
    assert m.update(2, 1) == 0
    assert m.update(3, 1) == -L.E2BIG and 3 not in m and len(m) == 2
    assert m.update(1, 1, 4 | 8) == -L.EINVAL
    with pytest.raises(MapError, match="update failed: Argument list too long") as exc:
        m[4] = 1
    assert exc.value.errno == L.E2BIG
    assert m.delete(9) == -L.ENOENT
    with pytest.raises(KeyError):
        del m[9]
    with pytest.raises(KeyError):
        m[9]
    assert m.lookup_and_delete(1) == (6).to_bytes(8, "little") and 1 not in m
    assert m.lookup_and_delete(1) is None


def test_hash_values_stay_put_when_others_move():
    m = make("hash", 1, 4, 8)
    for k in range(8):
        m[k] = k
    addr = m.lookup_address(bytes([7]))
    for k in range(7):
        del m[k]
    assert m.lookup_address(bytes([7])) == addr and m[7] == 7


def test_hash_get_next_key_walks_every_key():
    m = make("hash", 4, 4, 8)
    for k in (5, 9, 13):
        m[k] = k
    seen, key = [], m.get_next_key(None)
    while key is not None:
        seen.append(int.from_bytes(key, "little"))
        key = m.get_next_key(key)
    assert sorted(seen) == [5, 9, 13]
    assert m.get_next_key(12345) == m.get_next_key(None)  # absent key: start over, as the kernel
    assert make("hash").get_next_key(None) is None


def test_hash_iter_addresses_give_key_and_value_pointers():
    m = make("hash", 4, 4, 4)
    m[3] = 30
    ((k, v),) = list(m.iter_addresses())
    assert ctypes.string_at(k, 4) == (3).to_bytes(4, "little")
    assert v == m.lookup_address(3)


def test_percpu_hash_new_entry_from_program_zeroes_other_cpus():
    m = make("percpu_hash", 4, 4, 4, cpus=2)
    M.set_current_cpu(1)
    assert m.update(1, (7).to_bytes(4, "little")) == 0
    assert m[1] == [0, 7]
    assert m.lookup(1) == (7).to_bytes(4, "little")
    assert m.lookup(1, cpu=0) == bytes(4)
    m[2] = [3, 4]
    assert native_hash_lookup(m.address, (2).to_bytes(4, "little")) == m.lookup_address(2)
    assert int.from_bytes(ctypes.string_at(m.lookup_address(2), 4), "little") == 4


def test_lru_evicts_least_recently_used():
    m = make("lru_hash", 4, 4, 3)
    for k in (1, 2, 3):
        assert m.update(k, k) == 0
    m.lookup_address(1)  # a program touches 1: 2 is now the oldest
    assert m.update(4, 4) == 0
    assert sorted(m.keys()) == [1, 3, 4]
    assert m.update(3, 33) == 0  # updating refreshes too
    assert m.update(5, 5, L.BPF_NOEXIST) == 0  # evicts 1
    assert sorted(m.keys()) == [3, 4, 5]
    assert m.update(9, 9, L.BPF_EXIST) == -L.ENOENT


def test_lru_percpu_hash():
    m = make("lru_percpu_hash", 4, 8, 2, cpus=2)
    m[1] = [1, 2]
    m[2] = [3, 4]
    m[3] = [5, 6]
    assert len(m) == 2 and 1 not in m and m[3] == [5, 6]


# --- specs and bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("type_, kw, message", [
    ("array", dict(key_size=8), "key_size must be 4, not 8"),
    ("array", dict(value_size=0), "value_size must be at least 1"),
    ("array", dict(max_entries=0), "max_entries must be at least 1"),
    ("array", dict(flags=L.BPF_F_NO_PREALLOC), "map_flags 0x1 are not valid for a array map"),
    ("percpu_array", dict(flags=L.BPF_F_MMAPABLE), "map_flags 0x400 are not valid"),
    ("hash", dict(key_size=0), "key_size must be at least 1"),
    ("hash", dict(value_size=0), "value_size must be at least 1"),
    ("hash", dict(max_entries=0), "max_entries must be at least 1"),
    ("lru_hash", dict(flags=L.BPF_F_NO_PREALLOC), "map_flags 0x1 are not valid for a lru_hash map"),
    ("hash", dict(max_entries=-1), "max_entries -1 is out of range"),
    ("hash", dict(key_size="4"), "key_size must be an integer, not '4'"),
])
def test_bad_specs_are_einval(type_, kw, message):
    spec = dict(key_size=4, value_size=4, max_entries=4) | kw
    with pytest.raises(MapError, match=re.escape(message)) as exc:
        M.create(M.MapSpec("m", type_, **spec))
    assert exc.value.errno == L.EINVAL


def test_oversized_specs():
    with pytest.raises(MapError, match="key_size 600 exceeds 512") as exc:
        make("hash", 600)
    assert exc.value.errno == L.E2BIG
    with pytest.raises(MapError, match="exceeds the 1073741824 byte limit") as exc:
        make("array", 4, 1 << 20, 1 << 12)
    assert exc.value.errno == L.ENOMEM
    with pytest.raises(MapError, match="per-CPU value_size 40000 exceeds 32768"):
        make("percpu_hash", 4, 40000, 1)


def test_unknown_type_and_cpus():
    with pytest.raises(MapError, match="unsupported map type 'sockmap'"):
        M.create(M.MapSpec("m", "sockmap"))
    assert M.create(M.MapSpec("m", "BPF_MAP_TYPE_HASH")).type == "hash"
    with pytest.raises(MapError, match="cpus must be between 1 and 1024, not 0"):
        M.create(M.MapSpec("m", "array"), cpus=0)
    with pytest.raises(MapError, match="current CPU -1 is out of range"):
        M.set_current_cpu(-1)
    assert M.type_by_number(13, "windows") == "ringbuf" and M.type_by_number(27) == "ringbuf"
    with pytest.raises(MapError, match="unknown windows map type number 99"):
        M.type_by_number(99, "windows")


@pytest.mark.parametrize("type_", ["array", "hash", "percpu_hash", "lru_hash"])
def test_wrong_sizes_raise_einval_and_leave_the_map_alone(type_):
    m = make(type_, 4, 4, 4)
    m[1] = 1
    before = m.dump()
    for key, value, message in [
        (b"\1\0\0", 1, "key is 3 bytes, the map's key size is 4"),
        (1, b"\1\0\0\0\0", "value is 5 bytes, the map's value size is 4"),
        (2**32, 1, "key 4294967296 does not fit in 4 bytes"),
        (1, 2**40, "value 1099511627776 does not fit in 4 bytes"),
        ("1", 1, "key must be an int, bytes or a numpy record, not str"),
        (1, 1.5, "value must be an int, bytes or a numpy record, not float"),
    ]:
        with pytest.raises(MapError, match=re.escape(message)) as exc:
            m.update(key, value)
        assert exc.value.errno == L.EINVAL
    with pytest.raises(MapError, match="key is 2 bytes"):
        m.lookup_address(b"\0\0")
    with pytest.raises(MapError, match="key is 2 bytes"):
        m.delete(b"\0\0")
    assert m.dump() == before
    assert b"\0\0" not in m


def test_values_as_ints_bytes_and_numpy_records():
    rec = np.dtype([("packets", "<u4"), ("bytes", "<u8")], align=False)
    m = M.create(M.MapSpec("stats", "hash", 4, rec.itemsize, 4, btf_value_type=rec))
    m[np.uint32(7)] = np.array([(3, 1500)], dtype=rec)[0]
    got = m[7]
    assert got["packets"] == 3 and got["bytes"] == 1500
    b = make("hash", 4, 3, 2)
    b[1] = b"abc"
    assert b[1] == b"abc"
    assert make("hash", 2, 2, 2).update(-1, -2) == 0  # negative ints: two's complement


def test_regions_are_stable_objects():
    m = make("hash", 4, 4, 4)
    first, second = m.regions(), m.regions()
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert first[0] in second


@given(st.lists(st.tuples(st.sampled_from(["set", "get", "del"]), st.integers(0, 12)), max_size=60))
def test_lru_matches_a_recency_model(ops):
    from collections import OrderedDict

    m = make("lru_hash", 1, 4, 4)
    model: OrderedDict[int, int] = OrderedDict()
    for n, (op, k) in enumerate(ops):
        key = bytes([k])
        if op == "set":
            assert m.update(key, n) == 0
            if k not in model and len(model) == 4:
                model.popitem(last=False)  # evict the least recently used
            model[k] = n
            model.move_to_end(k)
        elif op == "get":
            assert (m.lookup_address(key) != 0) == (k in model)
            if k in model:
                model.move_to_end(k)
        else:
            assert m.delete(key) == (0 if model.pop(k, None) is not None else -L.ENOENT)
    assert dict(m.items()) == dict(model)
