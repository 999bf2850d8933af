"""Helpers emitted natively in IR instead of calling back into Python.

Only ``bpf_map_lookup_elem`` is native for now, for the map types whose
storage layout docs/maps.md fixes and whose lookup has no side effect in
Python: ``array`` and ``percpu_array`` (index into the values) and ``hash``
and ``percpu_hash`` (FNV-1a over the key, linear probing of the slot table).
The native code reads the map's type from the descriptor the program passes
in r1 and falls back to the Python callback for every other type (LRU maps
touch their recency stamps, map-in-map lookups return descriptors, ...) and
for a per-CPU lookup on a CPU the map does not have (Python raises there).
The result is the same pointer the Python helper returns.

Native helpers are used only in unchecked mode (verified code), where the
verifier has proved that r1 is a map and r2 points at ``key_size`` readable
bytes; checked mode keeps the callback, which validates both. And only when
the environment's helper of that number *is* the registry's implementation
(tests and the conformance suite install their own helpers under the same
numbers), which :func:`native_helper_numbers` decides before compiling.

Still callbacks (see bench/jit_results.md): update/delete (free lists,
value checks, backward-shift deletion), ``bpf_ktime_get_ns`` (the runtime's
clock may be a simulated one advanced in Python), ``bpf_get_prandom_u32``
(a Python RNG state), ``bpf_csum_diff``, ``bpf_redirect_map`` and
``bpf_xdp_adjust_head/tail`` (they update Python-side packet state).
"""

from __future__ import annotations

from collections.abc import Mapping

import llvmlite.ir as ir

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
#: {handled, r0}: handled = 0 means "call the Python helper instead"
RESULT_T = ir.LiteralStructType([I1, I64])

MAP_LOOKUP_NAME = "ebpf_native_map_lookup"

# descriptor offsets (docs/maps.md, helpers/maps/layout.py DESCRIPTOR)
_TYPE, _KEY_SIZE, _MAX_ENTRIES, _NCPUS, _VALUE_STRIDE, _ENTRY_STRIDE = 4, 8, 16, 24, 28, 32
_SLOT_SIZE, _CAPACITY, _HASH_SEED, _VALUES, _SLOTS, _CPU_PTR = 36, 40, 44, 48, 56, 72
# Linux BPF_MAP_TYPE_* numbers handled natively
HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 5, 6
FNV_PRIME = 0x01000193


def native_helper_numbers(helpers: Mapping[int, object], platform: str = "linux") -> frozenset[int]:
    """Helper numbers whose environment implementation is the registry's own
    ``bpf_map_lookup_elem``, so a native version gives the same result."""
    try:
        from ebpflite.helpers import registry
        spec = registry.by_name("bpf_map_lookup_elem", platform)
    except Exception:  # noqa: BLE001 - no helpers package or unknown platform: nothing native
        return frozenset()
    impl = getattr(spec, "impl", None)
    if impl is None:
        return frozenset()
    return frozenset(n for n, fn in helpers.items() if fn is impl and n == spec.number)


def _field(b: ir.IRBuilder, desc, offset: int, ty: ir.IntType):
    return b.load(b.gep(desc, [ir.Constant(I64, offset)], source_etype=I8), typ=ty, align=4)


def build_map_lookup(module: ir.Module) -> ir.Function:
    """``{i1, i64} ebpf_native_map_lookup(u64 map, u64 key)``."""
    fn = ir.Function(module, ir.FunctionType(RESULT_T, [I64, I64]), MAP_LOOKUP_NAME)
    fn.linkage = "internal"
    map_addr, key_addr = fn.args
    blocks = {n: fn.append_basic_block(n) for n in (
        "entry", "array", "array_in", "hash", "fnv", "fnv_done", "probe", "cmp_hash", "cmp_key",
        "cmp_key_next", "next_slot", "found", "cpu", "null", "fallback")}
    b = ir.IRBuilder(blocks["entry"])
    desc = b.inttoptr(map_addr, PTR)
    key = b.inttoptr(key_addr, PTR)
    mtype = _field(b, desc, _TYPE, I32)
    switch = b.switch(mtype, blocks["fallback"])
    for t, name in ((ARRAY, "array"), (PERCPU_ARRAY, "array"), (HASH, "hash"), (PERCPU_HASH, "hash")):
        switch.add_case(ir.Constant(I32, t), blocks[name])

    def value_at(vidx):
        return b.add(_field(b, desc, _VALUES, I64), b.mul(vidx, b.zext(_field(b, desc, _ENTRY_STRIDE, I32), I64)))

    # array: index = *(u32 *)key
    b.position_at_end(blocks["array"])
    index = b.load(key, typ=I32, align=1)
    b.cbranch(b.icmp_unsigned("<", index, _field(b, desc, _MAX_ENTRIES, I32)), blocks["array_in"], blocks["null"])
    b.position_at_end(blocks["array_in"])
    array_value = value_at(b.zext(index, I64))
    b.branch(blocks["found"])

    # hash: h = fnv1a(key bytes), then probe from h & (capacity - 1)
    b.position_at_end(blocks["hash"])
    key_size = b.zext(_field(b, desc, _KEY_SIZE, I32), I64)
    seed = _field(b, desc, _HASH_SEED, I32)
    b.branch(blocks["fnv"])
    b.position_at_end(blocks["fnv"])
    i = b.phi(I64)
    h = b.phi(I32)
    i.add_incoming(ir.Constant(I64, 0), blocks["hash"])
    h.add_incoming(seed, blocks["hash"])
    fnv_body = fn.append_basic_block("fnv_body")
    b.cbranch(b.icmp_unsigned("<", i, key_size), fnv_body, blocks["fnv_done"])
    b.position_at_end(fnv_body)
    byte = b.zext(b.load(b.gep(key, [i], source_etype=I8), typ=I8), I32)
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), fnv_body)
    h.add_incoming(b.mul(b.xor(h, byte), ir.Constant(I32, FNV_PRIME)), fnv_body)
    b.branch(blocks["fnv"])
    b.position_at_end(blocks["fnv_done"])
    mask = b.sub(b.zext(_field(b, desc, _CAPACITY, I32), I64), ir.Constant(I64, 1))
    slot_size = b.zext(_field(b, desc, _SLOT_SIZE, I32), I64)
    slots = _field(b, desc, _SLOTS, I64)
    hash_value = h
    start = b.and_(b.zext(hash_value, I64), mask)
    b.branch(blocks["probe"])

    b.position_at_end(blocks["probe"])
    slot_i = b.phi(I64)
    slot_i.add_incoming(start, blocks["fnv_done"])
    slot = b.inttoptr(b.add(slots, b.mul(slot_i, slot_size)), PTR)
    vidx1 = b.load(b.gep(slot, [ir.Constant(I64, 4)], source_etype=I8), typ=I32, align=4)
    b.cbranch(b.icmp_unsigned("==", vidx1, ir.Constant(I32, 0)), blocks["null"], blocks["cmp_hash"])
    b.position_at_end(blocks["cmp_hash"])
    same_hash = b.icmp_unsigned("==", b.load(slot, typ=I32, align=4), hash_value)
    b.cbranch(same_hash, blocks["cmp_key"], blocks["next_slot"])
    b.position_at_end(blocks["cmp_key"])
    j = b.phi(I64)
    j.add_incoming(ir.Constant(I64, 0), blocks["cmp_hash"])
    done = b.icmp_unsigned(">=", j, key_size)
    hash_found = fn.append_basic_block("hash_found")
    b.cbranch(done, hash_found, blocks["cmp_key_next"])
    b.position_at_end(blocks["cmp_key_next"])
    a = b.load(b.gep(slot, [b.add(j, ir.Constant(I64, 8))], source_etype=I8), typ=I8)
    k = b.load(b.gep(key, [j], source_etype=I8), typ=I8)
    j.add_incoming(b.add(j, ir.Constant(I64, 1)), blocks["cmp_key_next"])
    b.cbranch(b.icmp_unsigned("==", a, k), blocks["cmp_key"], blocks["next_slot"])
    b.position_at_end(blocks["next_slot"])
    slot_i.add_incoming(b.and_(b.add(slot_i, ir.Constant(I64, 1)), mask), blocks["next_slot"])
    b.branch(blocks["probe"])
    b.position_at_end(hash_found)
    hash_entry = value_at(b.sub(b.zext(vidx1, I64), ir.Constant(I64, 1)))
    b.branch(blocks["found"])

    # found: add the current CPU's offset for per-CPU types
    b.position_at_end(blocks["found"])
    entry = b.phi(I64)
    entry.add_incoming(array_value, blocks["array_in"])
    entry.add_incoming(hash_entry, hash_found)
    percpu = b.or_(b.icmp_unsigned("==", mtype, ir.Constant(I32, PERCPU_ARRAY)),
                   b.icmp_unsigned("==", mtype, ir.Constant(I32, PERCPU_HASH)))
    shared = fn.append_basic_block("shared")
    b.cbranch(percpu, blocks["cpu"], shared)
    b.position_at_end(shared)
    b.ret(b.insert_value(b.insert_value(ir.Constant(RESULT_T, ir.Undefined), ir.Constant(I1, 1), 0),
                         entry, 1))
    b.position_at_end(blocks["cpu"])
    cpu = b.load(b.inttoptr(_field(b, desc, _CPU_PTR, I64), PTR), typ=I32, align=4)
    in_range = b.icmp_unsigned("<", cpu, _field(b, desc, _NCPUS, I32))
    cpu_ok = fn.append_basic_block("cpu_ok")
    b.cbranch(in_range, cpu_ok, blocks["fallback"])  # Python raises the out-of-range error
    b.position_at_end(cpu_ok)
    offset = b.mul(b.zext(cpu, I64), b.zext(_field(b, desc, _VALUE_STRIDE, I32), I64))
    b.ret(b.insert_value(b.insert_value(ir.Constant(RESULT_T, ir.Undefined), ir.Constant(I1, 1), 0),
                         b.add(entry, offset), 1))

    b.position_at_end(blocks["null"])
    b.ret(ir.Constant(RESULT_T, [1, 0]))
    b.position_at_end(blocks["fallback"])
    b.ret(ir.Constant(RESULT_T, [0, 0]))
    return fn
