"""Map helpers on live maps, on both platforms' numbering."""

from __future__ import annotations

import errno
import struct

import pytest
from helpers_testlib import neg

from ebpflite.errors import HelperError, MemoryFault
from ebpflite.helpers import maps
from ebpflite.helpers.maps import MapSpec


def test_lookup_update_delete(bench):
    m = maps.create(MapSpec("h", "hash", 4, 8, 2), cpus=1)
    bench.add_map(m)
    key, val = bench.put(0, struct.pack("<I", 7)), bench.put(8, struct.pack("<Q", 99))
    assert bench.call("bpf_map_lookup_elem", m.address, key) == 0
    assert bench.call("bpf_map_update_elem", m.address, key, val, 0) == 0
    addr = bench.call("bpf_map_lookup_elem", m.address, key)
    assert bench.env.memory.load(addr, 8) == 99
    bench.env.memory.store(addr, 8, 100)  # in place, as in the kernel
    assert m[7] == 100
    assert bench.call("bpf_map_update_elem", m.address, key, val, 1) == neg(errno.EEXIST)  # BPF_NOEXIST
    k2, k3 = bench.put(16, struct.pack("<I", 8)), bench.put(20, struct.pack("<I", 9))
    assert bench.call("bpf_map_update_elem", m.address, k2, val, 0) == 0
    assert bench.call("bpf_map_update_elem", m.address, k3, val, 0) == neg(errno.E2BIG)  # full
    assert bench.call("bpf_map_delete_elem", m.address, key) == 0
    assert bench.call("bpf_map_delete_elem", m.address, key) == neg(errno.ENOENT)


def test_queue_push_pop_peek(bench):
    q = maps.create(MapSpec("q", "queue", 0, 4, 2), cpus=1)
    bench.add_map(q)
    v = bench.put(0, struct.pack("<I", 5))
    out = bench.base + 64
    assert bench.call("bpf_map_peek_elem", q.address, out) == neg(errno.ENOENT)
    assert bench.call("bpf_map_push_elem", q.address, v, 0) == 0
    assert bench.call("bpf_map_peek_elem", q.address, out) == 0 and bench.get(64, 4) == struct.pack("<I", 5)
    assert bench.call("bpf_map_pop_elem", q.address, out) == 0
    assert bench.call("bpf_map_pop_elem", q.address, out) == neg(errno.ENOENT)


def test_push_on_a_hash_map_is_refused(linux):
    m = maps.create(MapSpec("h", "hash", 4, 4, 2), cpus=1)
    linux.add_map(m)
    with pytest.raises(HelperError, match="only queue and stack maps support push"):
        linux.call("bpf_map_push_elem", m.address, linux.base, 0)


def test_bad_pointers(bench):
    m = maps.create(MapSpec("a", "array", 4, 8, 4), cpus=1)
    bench.add_map(m)
    with pytest.raises(HelperError, match="is not a map"):
        bench.call("bpf_map_lookup_elem", 0x1234, bench.base)
    with pytest.raises(MemoryFault, match="invalid read of 4 bytes"):
        bench.call("bpf_map_lookup_elem", m.address, 0x10)
    with pytest.raises(MemoryFault):  # the value runs past the end of the scratch buffer
        bench.call("bpf_map_update_elem", m.address, bench.base, bench.base + 4092, 0)


def test_windows_lookup_and_delete(windows):
    m = maps.create(MapSpec("h", "hash", 4, 4, 4), cpus=1)
    windows.add_map(m)
    m[1] = 42
    key = windows.put(0, struct.pack("<I", 1))
    addr = windows.call("bpf_map_lookup_and_delete_elem", m.address, key)
    assert addr and windows.env.memory.load(addr, 4) == 42 and 1 not in m
    assert windows.call("bpf_map_lookup_and_delete_elem", m.address, key) == 0


def test_percpu_lookup(linux):
    m = maps.create(MapSpec("p", "percpu_array", 4, 8, 1), cpus=2)
    linux.add_map(m)
    m[0] = [1, 2]
    key = linux.put(0, bytes(4))
    addr = linux.call("bpf_map_lookup_percpu_elem", m.address, key, 1)
    assert linux.env.memory.load(addr, 8) == 2
    assert linux.call("bpf_map_lookup_percpu_elem", m.address, key, 5) == 0
