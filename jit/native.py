"""Helpers emitted natively in IR instead of calling back into Python.

Native helpers exist for the calls hot programs make per packet, and each
must give *bit for bit* what the Python implementation gives (r0, map
storage, counters). Every native helper has the same shape::

    {i1 handled, i64 r0} ebpf_native_<name>(ctx*, r1, r2, r3, r4, r5)

``handled = 0`` means "call the Python helper instead": the native code
declines every case it does not reproduce exactly, *before* it changes
anything, so the callback then runs on untouched state.

* ``bpf_map_lookup_elem``: ``array``/``percpu_array`` (index into the
  values) and ``hash``/``percpu_hash`` (FNV-1a over the key, linear probing),
  following docs/maps.md. Other types (LRU recency stamps, map-in-map
  descriptors, ...) and a per-CPU map without the current CPU decline.
* ``bpf_map_update_elem`` / ``bpf_map_delete_elem``: the same four types,
  as ``helpers/maps/array.py`` and ``hashmap.py`` do it: flags ``BPF_ANY``,
  ``BPF_NOEXIST``, ``BPF_EXIST`` and their ``-EEXIST``/``-ENOENT``, an index
  past an array's end ``-E2BIG``, a full hash ``-E2BIG``, array deletion
  ``-EINVAL``, hash insertion from the free list and deletion with the
  backward shift. Any other flag (``BPF_F_LOCK``, invalid ones) declines.
  Writing needs the hash map's free list, which the descriptor does not
  give, so the JIT passes a *map table* in the run context (``Ctx.MAPS``,
  :func:`map_table_rows`): one row ``(descriptor, free list)`` per map of
  the environment that native code may write. A map not in the table
  (inner maps of map-in-map, maps opened read-only, subclasses with their
  own rules) declines.
* ``bpf_csum_diff`` (Linux): ``helpers/impl/csum.py``'s x86-64
  ``csum_partial`` with end-around carry, the one-sided forms and the fold
  to 16 bits; sizes that are not multiples of 4 give ``-EINVAL``.

Native helpers are used only in unchecked mode (verified code), where the
verifier has proved that r1 is a map and the pointers cover their sizes;
checked mode keeps the callbacks, which validate both. And only when the
environment's helper of that number *is* the registry's implementation
(tests and the conformance suite install their own helpers under the same
numbers), which :func:`native_helper_numbers` decides before compiling.

The ``__sk_buff`` helpers of tc programs (``bpf_skb_load_bytes``,
``bpf_skb_store_bytes``, ``bpf_l3/l4_csum_replace``) are in
:mod:`ebpflite.jit.native_skb`, registered in the same table.

Still callbacks (see bench/jit_results.md): ``bpf_ktime_get_ns`` (the
runtime's clock may be a simulated one advanced in Python),
``bpf_get_prandom_u32`` (a Python RNG state), ``bpf_redirect_map`` (it
records the redirect in ``env.world`` with the Python map object) and
``bpf_xdp_adjust_head/tail`` (they move the Python ``XdpContext``'s packet
view, which the runtime reads back after the run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import llvmlite.ir as ir

from ebpflite.jit import native_perf, native_ringbuf, native_skb, native_tail, native_world, native_xdp
from ebpflite.jit.abi import Ctx
from ebpflite.jit.native_ir import (  # noqa: F401 - NATIVE_FN_T and RESULT_T are part of this API
    I1,
    I8,
    I32,
    I64,
    NATIVE_FN_T,
    PTR,
    RESULT_T,
    Emitter,
    _c,
)

# descriptor offsets (docs/maps.md, helpers/maps/layout.py DESCRIPTOR)
_TYPE, _KEY_SIZE, _VALUE_SIZE, _MAX_ENTRIES, _NCPUS, _VALUE_STRIDE, _ENTRY_STRIDE = 4, 8, 12, 16, 24, 28, 32
_SLOT_SIZE, _CAPACITY, _HASH_SEED, _VALUES, _SLOTS, _META, _CPU_PTR = 36, 40, 44, 48, 56, 64, 72
_META_COUNT, _META_FREE_TOP = 0, 1  # u64 indexes into meta
_AUX = 80  # LRU: u64 stamps; slot arrays: presence bytes
_META_CLOCK = 2  # LRU: the last stamp handed out
# Linux BPF_MAP_TYPE_* numbers handled natively
HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 5, 6
LRU_HASH, LRU_PERCPU_HASH, LPM_TRIE, ARRAY_OF_MAPS, HASH_OF_MAPS = 9, 10, 11, 12, 13
DEVMAP, CPUMAP, XSKMAP, DEVMAP_HASH = 14, 16, 17, 25
#: map types whose values are per CPU (a program sees the current CPU's copy)
PERCPU_TYPES = (PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH)
FNV_PRIME = 0x01000193
BPF_NOEXIST, BPF_EXIST = 1, 2
EINVAL, ENOENT, EEXIST, E2BIG = 22, 2, 17, 7
M32 = 0xFFFFFFFF


# --- shared pieces: hashing, probing, the current CPU, the map table ----------------------


def _build_fnv(module: ir.Module) -> ir.Function:
    """``i32 fnv(desc, key)``: FNV-1a of the key's ``key_size`` bytes from ``hash_seed``."""
    e = Emitter(module, "ebpf_native_fnv", ir.FunctionType(I32, [I64, I64]))
    desc, key = e.fn.args
    b = e.b
    entry = b.block
    key_size = e.field(desc, _KEY_SIZE)
    seed = e.load(desc, I32, _HASH_SEED)
    loop, body, done = e.block("loop"), e.block("body"), e.block("done")
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    h = e.loop_phi(I32, seed, entry)
    b.cbranch(b.icmp_unsigned("<", i, key_size), body, done)
    e.at(body)
    byte = b.zext(e.load(key, I8, i), I32)
    i.add_incoming(b.add(i, _c(I64, 1)), body)
    h.add_incoming(b.mul(b.xor(h, byte), _c(I32, FNV_PRIME)), body)
    b.branch(loop)
    e.at(done)
    b.ret(h)
    return e.fn


def _build_find(module: ir.Module) -> ir.Function:
    """``i64 find(desc, key, h)``: the slot index holding the key, or ``-1 - i`` where
    ``i`` is the empty slot that ended the probe (where an insertion goes)."""
    e = Emitter(module, "ebpf_native_find", ir.FunctionType(I64, [I64, I64, I32]))
    desc, key, h = e.fn.args
    b = e.b
    entry = b.block
    key_size = e.field(desc, _KEY_SIZE)
    mask = b.sub(e.field(desc, _CAPACITY), _c(I64, 1))
    slot_size = e.field(desc, _SLOT_SIZE)
    slots = e.field(desc, _SLOTS, I64)
    probe, cmp_hash, cmp_key, cmp_byte, next_slot, empty, found = (e.block(n) for n in (
        "probe", "cmp_hash", "cmp_key", "cmp_byte", "next_slot", "empty", "found"))
    home = b.and_(b.zext(h, I64), mask)
    b.branch(probe)
    e.at(probe)
    i = e.loop_phi(I64, home, entry)
    slot = b.add(slots, b.mul(i, slot_size))
    b.cbranch(b.icmp_unsigned("==", e.load(slot, I32, 4), _c(I32, 0)), empty, cmp_hash)
    e.at(cmp_hash)
    b.cbranch(b.icmp_unsigned("==", e.load(slot, I32, 0), h), cmp_key, next_slot)
    e.at(cmp_key)
    j = e.loop_phi(I64, _c(I64, 0), cmp_hash)
    b.cbranch(b.icmp_unsigned(">=", j, key_size), found, cmp_byte)
    e.at(cmp_byte)
    same = b.icmp_unsigned("==", e.load(slot, I8, b.add(j, _c(I64, 8))), e.load(key, I8, j))
    j.add_incoming(b.add(j, _c(I64, 1)), cmp_byte)
    b.cbranch(same, cmp_key, next_slot)
    e.at(next_slot)
    i.add_incoming(b.and_(b.add(i, _c(I64, 1)), mask), next_slot)
    b.branch(probe)
    e.at(empty)
    b.ret(b.sub(_c(I64, -1), i))
    e.at(found)
    b.ret(i)
    return e.fn


def _build_map_row(module: ir.Module) -> ir.Function:
    """``{i1 found, i64 freelist} row(ctx, desc)``: the map's row in the map table."""
    e = Emitter(module, "ebpf_native_map_row", ir.FunctionType(RESULT_T, [PTR, I64]))
    ctx, desc = e.fn.args
    b = e.b
    entry = b.block
    table = b.load(b.gep(ctx, [_c(I64, int(Ctx.MAPS))], source_etype=I64), typ=I64)
    count = e.load(table, I64)
    loop, body, hit, miss = e.block("loop"), e.block("body"), e.block("hit"), e.block("miss")
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    b.cbranch(b.icmp_unsigned("<", i, count), body, miss)
    e.at(body)
    row = b.add(table, b.add(_c(I64, 8), b.mul(i, _c(I64, 16))))
    i.add_incoming(b.add(i, _c(I64, 1)), body)
    b.cbranch(b.icmp_unsigned("==", e.load(row, I64), desc), hit, loop)
    e.at(hit)
    e.ret(e.load(row, I64, 8))
    e.at(miss)
    e.decline()
    return e.fn


def _cpu_offset(e: Emitter, desc, mtype, decline: ir.Block):
    """``cpu * value_stride`` for per-CPU types (declining for a CPU the map lacks), else 0."""
    b = e.b
    percpu = _c(ir.IntType(1), 0)
    for t in PERCPU_TYPES:
        percpu = b.or_(percpu, b.icmp_unsigned("==", mtype, _c(I32, t)))
    cpu = b.zext(b.load(e.ptr(e.field(desc, _CPU_PTR, I64)), typ=I32, align=4), I64)
    e.branch_if(b.and_(percpu, b.icmp_unsigned(">=", cpu, e.field(desc, _NCPUS))), decline, "cpu_ok")
    return b.select(percpu, b.mul(cpu, e.field(desc, _VALUE_STRIDE)), _c(I64, 0))


class _MapHelper:
    """Entry of a map helper: the shared functions, the type switch, the decline block."""

    def __init__(self, module: ir.Module, name: str, shared: dict[str, ir.Function]):
        self.e = e = Emitter(module, name)
        self.shared = shared
        self.ctx, self.map, self.key, self.r3, self.r4, _ = e.fn.args
        self.declined = e.block("decline")
        e.at(self.declined)
        e.decline()
        e.at(e.fn.entry_basic_block)
        self.type = e.load(self.map, I32, _TYPE)

    def switch(self, cases: dict[int, ir.Block]) -> None:
        """Branch on the map type; types not in ``cases`` (or not among the program's) decline.
        The blocks of types left out stay, unreachable, for LLVM to drop."""
        sw = self.e.b.switch(self.type, self.declined)
        allowed = getattr(self.shared, "types", None)
        for t, block in cases.items():
            if allowed is None or t in allowed:
                sw.add_case(_c(I32, t), block)

    def touch(self, vidx) -> None:
        """LRU recency (HashMap._touch): a new stamp from the map's clock for value ``vidx``."""
        e, b = self.e, self.e.b
        meta = e.field(self.map, _META, I64)
        stamp = b.add(e.load(meta, I64, 8 * _META_CLOCK), _c(I64, 1))
        e.store(stamp, meta, 8 * _META_CLOCK)
        e.store(stamp, e.field(self.map, _AUX, I64), b.mul(vidx, _c(I64, 8)))

    def vidx_of(self, slot):
        """The value index a used slot points at."""
        b = self.e.b
        return b.sub(b.zext(self.e.load(self.slot_at(slot), I32, 4), I64), _c(I64, 1))

    def present(self, index):
        """Slot arrays (devmap, xskmap, maps of maps...): is ``index`` in range and filled?"""
        e, b = self.e, self.e.b
        in_range = b.icmp_unsigned("<", index, e.field(self.map, _MAX_ENTRIES))
        at = b.add(e.field(self.map, _AUX, I64), b.select(in_range, index, _c(I64, 0)))
        return b.and_(in_range, b.icmp_unsigned("!=", e.load(at, I8), _c(I8, 0)))

    def find(self):
        """(slot index or -1 - empty slot, hash) of the key."""
        b = self.e.b
        h = b.call(self.shared["fnv"], [self.map, self.key])
        return b.call(self.shared["find"], [self.map, self.key, h]), h

    def value_at(self, vidx, cpu_off=None):
        b, e = self.e.b, self.e
        entry = b.add(e.field(self.map, _VALUES, I64), b.mul(vidx, e.field(self.map, _ENTRY_STRIDE)))
        return entry if cpu_off is None else b.add(entry, cpu_off)

    def slot_at(self, index):
        b, e = self.e.b, self.e
        return b.add(e.field(self.map, _SLOTS, I64), b.mul(index, e.field(self.map, _SLOT_SIZE)))

    def writable_row(self):
        """The map's free list (0 for arrays); declines for a map not in the map table."""
        b = self.e.b
        row = b.call(self.shared["row"], [self.ctx, self.map])
        self.e.branch_if(b.not_(b.extract_value(row, 0)), self.declined, "writable")
        return b.extract_value(row, 1)


def build_map_lookup(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_map_lookup_elem(map, key)``: the value pointer Python's ``lookup_address`` gives:
    arrays and hashes (per-CPU too), LRU hashes (the entry's stamp renewed), LPM tries (the
    longest stored prefix), device/socket maps (a filled slot's value; cpumap gives NULL)
    and maps of maps (the inner map's descriptor)."""
    h = _MapHelper(module, "ebpf_native_map_lookup", shared)
    e, b = h.e, h.e.b
    names = ("array", "hash", "lru", "lpm", "slots", "slot_inner", "hash_inner", "null")
    array, hash_, lru, lpm, slots, slot_inner, hash_inner, null = (e.block(n) for n in names)
    cpu_off = _cpu_offset(e, h.map, h.type, h.declined)
    h.switch({ARRAY: array, PERCPU_ARRAY: array, HASH: hash_, PERCPU_HASH: hash_, DEVMAP_HASH: hash_,
              LRU_HASH: lru, LRU_PERCPU_HASH: lru, LPM_TRIE: lpm, DEVMAP: slots, XSKMAP: slots, CPUMAP: null,
              ARRAY_OF_MAPS: slot_inner, HASH_OF_MAPS: hash_inner})
    e.at(array)
    index = b.zext(e.load(h.key, I32), I64)
    e.branch_if(b.icmp_unsigned(">=", index, e.field(h.map, _MAX_ENTRIES)), null, "array_in")
    e.ret(h.value_at(index, cpu_off))

    e.at(hash_)
    slot, _ = h.find()
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), null, "hash_found")
    e.ret(h.value_at(h.vidx_of(slot), cpu_off))

    e.at(lru)  # renewing the stamp writes the map: only maps in the map table
    h.writable_row()
    slot, _ = h.find()
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), null, "lru_found")
    vidx = h.vidx_of(slot)
    h.touch(vidx)
    e.ret(h.value_at(vidx, cpu_off))

    e.at(lpm)
    best = b.call(shared["lpm"], [h.map, h.key])
    e.branch_if(b.icmp_signed("<", best, _c(I64, 0)), null, "lpm_found")
    e.ret(h.value_at(best))

    e.at(slots)
    index = b.zext(e.load(h.key, I32), I64)
    e.branch_if(b.not_(h.present(index)), null, "slot_filled")
    e.ret(h.value_at(index))

    e.at(slot_inner)  # the value's first 8 bytes are the inner map's descriptor address
    index = b.zext(e.load(h.key, I32), I64)
    e.branch_if(b.not_(h.present(index)), null, "inner_filled")
    e.ret(e.load(h.value_at(index), I64))

    e.at(hash_inner)
    slot, _ = h.find()
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), null, "inner_found")
    e.ret(e.load(h.value_at(h.vidx_of(slot)), I64))

    e.at(null)
    e.ret(0)
    return e.fn


def _build_lpm(module: ir.Module) -> ir.Function:
    """``i64 lpm(desc, key)``: the LPM trie slot with the longest prefix (not above the key's) whose
    bits equal the key's, or -1 (LpmTrieMap._match; slots are scanned until every used one was seen)."""
    e = Emitter(module, "ebpf_native_lpm", ir.FunctionType(I64, [I64, I64]))
    desc, key = e.fn.args
    b = e.b
    entry = b.block
    key_plen = b.zext(e.load(key, I32), I64)
    count = e.load(e.field(desc, _META, I64), I64, 8 * _META_COUNT)
    slots, slot_size = e.field(desc, _SLOTS, I64), e.field(desc, _SLOT_SIZE)
    limit = e.field(desc, _MAX_ENTRIES)
    loop, body, used, candidate, bytes_loop, bytes_body, tail, match, nxt, done = (e.block(n) for n in (
        "loop", "body", "used", "candidate", "bytes", "bytes_body", "tail", "match", "next", "done"))
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    seen = e.loop_phi(I64, _c(I64, 0), entry)
    best = e.loop_phi(I64, _c(I64, -1), entry)
    best_plen = e.loop_phi(I64, _c(I64, -1), entry)
    b.cbranch(b.and_(b.icmp_unsigned("<", seen, count), b.icmp_unsigned("<", i, limit)), body, done)
    e.at(body)
    slot = b.add(slots, b.mul(i, slot_size))
    is_used = b.icmp_unsigned("!=", e.load(slot, I32, 0), _c(I32, 0))
    b.cbranch(is_used, used, nxt)
    e.at(used)
    plen = b.zext(e.load(slot, I32, 4), I64)
    better = b.and_(b.icmp_unsigned("<=", plen, key_plen), b.icmp_signed(">", plen, best_plen))
    b.cbranch(better, candidate, nxt)
    e.at(candidate)  # compare the first plen bits: whole bytes, then the top bits of one more
    full = b.lshr(plen, _c(I64, 3))
    b.branch(bytes_loop)
    e.at(bytes_loop)
    j = e.loop_phi(I64, _c(I64, 0), candidate)
    b.cbranch(b.icmp_unsigned("<", j, full), bytes_body, tail)
    e.at(bytes_body)
    same = b.icmp_unsigned("==", e.load(slot, I8, b.add(j, _c(I64, 8))), e.load(key, I8, b.add(j, _c(I64, 4))))
    j.add_incoming(b.add(j, _c(I64, 1)), bytes_body)
    b.cbranch(same, bytes_loop, nxt)
    e.at(tail)
    rest = b.and_(plen, _c(I64, 7))
    top_mask = b.trunc(b.shl(_c(I64, 0xFF), b.sub(_c(I64, 8), rest)), I8)  # 0 when rest is 0
    at = b.select(b.icmp_unsigned("==", rest, _c(I64, 0)), _c(I64, 0), full)  # no byte past the prefix
    diff = b.xor(e.load(slot, I8, b.add(at, _c(I64, 8))), e.load(key, I8, b.add(at, _c(I64, 4))))
    bits_same = b.icmp_unsigned("==", b.and_(diff, top_mask), _c(I8, 0))
    b.cbranch(bits_same, match, nxt)
    e.at(match)
    b.branch(nxt)
    e.at(nxt)
    found = b.phi(I64)  # the best slot so far after this one
    found_plen = b.phi(I64)
    for pred, value, value_plen in ((body, best, best_plen), (used, best, best_plen), (bytes_body, best, best_plen),
                                    (tail, best, best_plen), (match, i, plen)):
        found.add_incoming(value, pred)
        found_plen.add_incoming(value_plen, pred)
    seen_now = b.add(seen, b.zext(is_used, I64))
    i.add_incoming(b.add(i, _c(I64, 1)), nxt)
    seen.add_incoming(seen_now, nxt)
    best.add_incoming(found, nxt)
    best_plen.add_incoming(found_plen, nxt)
    b.branch(loop)
    e.at(done)
    b.ret(best)
    return e.fn


def build_map_update(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_map_update_elem(map, key, value, flags)`` as ArrayMap/HashMap.update, LRU hashes
    included (stamps renewed; a full LRU map evicts its least recently used entry)."""
    h = _MapHelper(module, "ebpf_native_map_update", shared)
    e, b = h.e, h.e.b
    value, flags = h.r3, h.r4
    e.branch_if(b.icmp_unsigned(">", flags, _c(I64, BPF_EXIST)), h.declined, "flags_ok")
    freelist = h.writable_row()
    cpu_off = _cpu_offset(e, h.map, h.type, h.declined)
    value_size = e.field(h.map, _VALUE_SIZE)
    noexist = b.icmp_unsigned("==", flags, _c(I64, BPF_NOEXIST))
    is_lru = b.or_(b.icmp_unsigned("==", h.type, _c(I32, LRU_HASH)), b.icmp_unsigned("==", h.type, _c(I32, LRU_PERCPU_HASH)))
    array, hash_ = e.block("array"), e.block("hash")
    h.switch({ARRAY: array, PERCPU_ARRAY: array, HASH: hash_, PERCPU_HASH: hash_, LRU_HASH: hash_,
              LRU_PERCPU_HASH: hash_})
    too_big, exists = e.block("e2big"), e.block("eexist")

    e.at(array)  # every index exists: NOEXIST fails, EXIST and ANY overwrite
    index = b.zext(e.load(h.key, I32), I64)
    e.branch_if(b.icmp_unsigned(">=", index, e.field(h.map, _MAX_ENTRIES)), too_big, "array_in")
    e.branch_if(noexist, exists, "array_write")
    e.memmove(h.value_at(index, cpu_off), value, value_size)
    e.ret(0)

    e.at(hash_)
    slot, hash_value = h.find()
    missing = e.block("missing")
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), missing, "present")
    e.branch_if(noexist, exists, "overwrite")
    vidx = h.vidx_of(slot)
    e.memmove(h.value_at(vidx, cpu_off), value, value_size)
    with b.if_then(is_lru):
        h.touch(vidx)
    e.ret(0)

    e.at(missing)
    absent, evict, alloc = e.block("enoent"), e.block("evict"), e.block("alloc")
    e.branch_if(b.icmp_unsigned("==", flags, _c(I64, BPF_EXIST)), absent, "insert")
    meta = e.field(h.map, _META, I64)
    top = e.load(meta, I64, 8 * _META_FREE_TOP)
    missing_end = b.block
    e.branch_if(b.icmp_unsigned("!=", top, _c(I64, 0)), alloc, "full")
    b.cbranch(is_lru, evict, too_big)

    e.at(evict)  # HashMap._evict: the first smallest stamp, its slot removed, then probe again
    b.call(shared["evict"], [h.map, freelist])
    again = b.call(shared["find"], [h.map, h.key, hash_value])
    evict_end = b.block
    b.branch(alloc)

    e.at(alloc)
    missing_at = b.phi(I64)  # -1 - the empty slot where the key goes
    missing_at.add_incoming(slot, missing_end)
    missing_at.add_incoming(again, evict_end)
    top = b.sub(e.load(meta, I64, 8 * _META_FREE_TOP), _c(I64, 1))
    e.store(top, meta, 8 * _META_FREE_TOP)
    vidx = b.zext(e.load(freelist, I32, b.mul(top, _c(I64, 4))), I64)
    # a fresh entry is zero but for this CPU's copy (memmove first: the value may alias the entry)
    entry = h.value_at(vidx)
    e.memmove(b.add(entry, cpu_off), value, value_size)
    e.memset(entry, cpu_off)
    after = b.add(cpu_off, value_size)
    e.memset(b.add(entry, after), b.sub(e.field(h.map, _ENTRY_STRIDE), after))
    empty = h.slot_at(b.sub(_c(I64, -1), missing_at))
    e.memmove(b.add(empty, _c(I64, 8)), h.key, e.field(h.map, _KEY_SIZE))
    e.store(hash_value, empty, 0)
    e.store(b.trunc(b.add(vidx, _c(I64, 1)), I32), empty, 4)
    e.store(b.add(e.load(meta, I64, 8 * _META_COUNT), _c(I64, 1)), meta, 8 * _META_COUNT)
    with b.if_then(is_lru):
        h.touch(vidx)
    e.ret(0)

    for block, errno in ((too_big, E2BIG), (exists, EEXIST), (absent, ENOENT)):
        e.at(block)
        e.ret(-errno)
    return e.fn


def _build_remove(module: ir.Module) -> ir.Function:
    """``i64 remove(desc, freelist, slot)``: HashMap._remove_slot: empty the slot, shift the rest of
    its probe run back, count one entry less and push its value index on the free list (returned)."""
    e = Emitter(module, "ebpf_native_remove", ir.FunctionType(I64, [I64, I64, I64]))
    desc, freelist, slot = e.fn.args
    b = e.b

    def slot_at(index):
        return b.add(e.field(desc, _SLOTS, I64), b.mul(index, e.field(desc, _SLOT_SIZE)))

    vidx = b.sub(b.zext(e.load(slot_at(slot), I32, 4), I64), _c(I64, 1))
    mask = b.sub(e.field(desc, _CAPACITY), _c(I64, 1))
    slot_size = e.field(desc, _SLOT_SIZE)
    e.memset(slot_at(slot), slot_size)
    start = b.block
    loop, check, keep, shift, done = (e.block(n) for n in ("shift_loop", "check", "keep", "shift", "done"))
    b.branch(loop)
    # the hole is at i; j scans the rest of the probe run
    e.at(loop)
    i = e.loop_phi(I64, slot, start)
    j = e.loop_phi(I64, slot, start)
    j2 = b.and_(b.add(j, _c(I64, 1)), mask)
    at_j = slot_at(j2)
    b.cbranch(b.icmp_unsigned("==", e.load(at_j, I32, 4), _c(I32, 0)), done, check)
    e.at(check)
    home = b.and_(b.zext(e.load(at_j, I32, 0), I64), mask)
    in_run = b.and_(b.icmp_unsigned("<", i, home), b.icmp_unsigned("<=", home, j2))
    wrapped = b.or_(b.icmp_unsigned(">", home, i), b.icmp_unsigned("<=", home, j2))
    stays = b.select(b.icmp_unsigned("<=", i, j2), in_run, wrapped)
    b.cbranch(stays, keep, shift)
    e.at(keep)
    i.add_incoming(i, keep)
    j.add_incoming(j2, keep)
    b.branch(loop)
    e.at(shift)
    e.memmove(slot_at(i), at_j, slot_size)
    e.memset(at_j, slot_size)
    i.add_incoming(j2, shift)
    j.add_incoming(j2, shift)
    b.branch(loop)

    e.at(done)
    meta = e.field(desc, _META, I64)
    e.store(b.sub(e.load(meta, I64, 8 * _META_COUNT), _c(I64, 1)), meta, 8 * _META_COUNT)
    top = e.load(meta, I64, 8 * _META_FREE_TOP)
    e.store(b.trunc(vidx, I32), freelist, b.mul(top, _c(I64, 4)))
    e.store(b.add(top, _c(I64, 1)), meta, 8 * _META_FREE_TOP)
    b.ret(vidx)
    return e.fn


def _build_evict(module: ir.Module, remove: ir.Function) -> ir.Function:
    """``void evict(desc, freelist)``: remove the entry with the first smallest LRU stamp
    (``np.argmin`` over every value index), found by scanning the slots for it."""
    e = Emitter(module, "ebpf_native_evict", ir.FunctionType(ir.VoidType(), [I64, I64]))
    desc, freelist = e.fn.args
    b = e.b
    entry = b.block
    stamps, n = e.field(desc, _AUX, I64), e.field(desc, _MAX_ENTRIES)
    first = e.load(stamps, I64)
    loop, body, scan, scan_body, found = (e.block(x) for x in ("loop", "body", "scan", "scan_body", "found"))
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 1), entry)
    best = e.loop_phi(I64, _c(I64, 0), entry)
    best_stamp = e.loop_phi(I64, first, entry)
    b.cbranch(b.icmp_unsigned("<", i, n), body, scan)
    e.at(body)
    stamp = e.load(stamps, I64, b.mul(i, _c(I64, 8)))
    smaller = b.icmp_unsigned("<", stamp, best_stamp)
    i.add_incoming(b.add(i, _c(I64, 1)), body)
    best.add_incoming(b.select(smaller, i, best), body)
    best_stamp.add_incoming(b.select(smaller, stamp, best_stamp), body)
    b.branch(loop)
    e.at(scan)
    wanted = b.trunc(b.add(best, _c(I64, 1)), I32)
    slots, slot_size = e.field(desc, _SLOTS, I64), e.field(desc, _SLOT_SIZE)
    b.branch(scan_body)
    e.at(scan_body)
    k = e.loop_phi(I64, _c(I64, 0), scan)
    k.add_incoming(b.add(k, _c(I64, 1)), scan_body)
    hit = b.icmp_unsigned("==", e.load(b.add(slots, b.mul(k, slot_size)), I32, 4), wanted)
    b.cbranch(hit, found, scan_body)
    e.at(found)
    b.call(remove, [desc, freelist, k])
    b.ret_void()
    return e.fn


def build_map_delete(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_map_delete_elem(map, key)``: arrays -EINVAL; hashes (LRU too) as HashMap.delete
    (backward-shift deletion, the value index back on the free list, the entry zeroed)."""
    h = _MapHelper(module, "ebpf_native_map_delete", shared)
    e, b = h.e, h.e.b
    freelist = h.writable_row()
    array, hash_ = e.block("array"), e.block("hash")
    h.switch({ARRAY: array, PERCPU_ARRAY: array, HASH: hash_, PERCPU_HASH: hash_, LRU_HASH: hash_,
              LRU_PERCPU_HASH: hash_})
    e.at(array)
    e.ret(-EINVAL)

    e.at(hash_)
    slot, _ = h.find()
    absent = e.block("enoent")
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), absent, "present")
    vidx = b.call(shared["remove"], [h.map, freelist, slot])
    e.memset(h.value_at(vidx), e.field(h.map, _ENTRY_STRIDE))
    e.ret(0)
    e.at(absent)
    e.ret(-ENOENT)
    return e.fn


# --- bpf_csum_diff ------------------------------------------------------------------------


def _build_csum_partial(module: ir.Module) -> ir.Function:
    """``i64 csum_partial(addr, len, seed32)``: x86-64 csum_partial of ``len`` (a multiple of 4)
    bytes: 64-bit one's complement sum of little-endian words, folded to 32 bits."""
    e = Emitter(module, "ebpf_native_csum_partial", ir.FunctionType(I64, [I64, I64, I64]))
    addr, length, seed = e.fn.args
    b = e.b
    entry = b.block

    def add_carry(acc, word):
        total = b.add(acc, word)
        return b.add(total, b.zext(b.icmp_unsigned("<", total, word), I64))

    n8 = b.and_(length, _c(I64, ~7))
    loop, body, tail, fold = e.block("loop"), e.block("body"), e.block("tail"), e.block("fold")
    b.branch(loop)
    e.at(loop)
    i = e.loop_phi(I64, _c(I64, 0), entry)
    acc = e.loop_phi(I64, seed, entry)
    b.cbranch(b.icmp_unsigned("<", i, n8), body, tail)
    e.at(body)
    i.add_incoming(b.add(i, _c(I64, 8)), body)
    acc.add_incoming(add_carry(acc, e.load(addr, I64, i)), body)
    b.branch(loop)
    e.at(tail)
    has_tail = b.icmp_unsigned("!=", n8, length)
    word = b.select(has_tail, b.zext(e.load(addr, I32, b.select(has_tail, n8, _c(I64, 0))), I64), _c(I64, 0))
    b.branch(fold)
    e.at(fold)
    total = add_carry(acc, word)
    folded = b.add(b.lshr(total, _c(I64, 32)), b.and_(total, _c(I64, M32)))
    b.ret(b.add(b.and_(folded, _c(I64, M32)), b.lshr(folded, _c(I64, 32))))
    return e.fn


def build_csum_diff(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_csum_diff(from, from_size, to, to_size, seed)`` as helpers/impl/csum.py (Linux)."""
    e = Emitter(module, "ebpf_native_csum_diff")
    _, frm, from_size, to, to_size, seed = e.fn.args
    b = e.b
    partial = _build_csum_partial(module)
    m32 = _c(I64, M32)
    from_size, to_size, seed = b.and_(from_size, m32), b.and_(to_size, m32), b.and_(seed, m32)
    bad = e.block("einval")
    e.branch_if(b.icmp_unsigned("!=", b.and_(b.or_(from_size, to_size), _c(I64, 3)), _c(I64, 0)), bad, "sizes")

    def fold16(total):  # csum_from32to16
        rotated = b.and_(b.or_(b.lshr(total, _c(I64, 16)), b.shl(total, _c(I64, 16))), m32)
        return b.lshr(b.and_(b.add(total, rotated), m32), _c(I64, 16))

    def not32(x):
        return b.xor(x, m32)

    has_from = b.icmp_unsigned("!=", from_size, _c(I64, 0))
    has_to = b.icmp_unsigned("!=", to_size, _c(I64, 0))
    both, to_only, from_only, neither = (e.block(n) for n in ("both", "to_only", "from_only", "neither"))
    one = e.block("one")
    b.cbranch(b.and_(has_from, has_to), both, one)
    e.at(one)
    either = e.block("either")
    b.cbranch(has_to, to_only, either)
    e.at(either)
    b.cbranch(has_from, from_only, neither)

    e.at(both)  # csum_add(csum_partial(to, seed), ~csum_partial(from, 0))
    a = b.call(partial, [to, to_size, seed])
    c = not32(b.call(partial, [frm, from_size, _c(I64, 0)]))
    res = b.and_(b.add(a, c), m32)
    e.ret(fold16(b.and_(b.add(res, b.zext(b.icmp_unsigned("<", res, c), I64)), m32)))
    e.at(to_only)
    e.ret(fold16(b.call(partial, [to, to_size, seed])))
    e.at(from_only)
    e.ret(fold16(not32(b.call(partial, [frm, from_size, not32(seed)]))))
    e.at(neither)
    e.ret(seed)
    e.at(bad)
    e.ret(-EINVAL)
    return e.fn


# --- the table of native helpers -------------------------------------------------------

Builder = Callable[[ir.Module, dict[str, ir.Function]], ir.Function]


#: helper name -> (builder, platforms it is native on)
NATIVE_HELPERS: dict[str, tuple[Builder, frozenset[str]]] = {
    "bpf_map_lookup_elem": (build_map_lookup, frozenset({"linux", "windows"})),
    "bpf_map_update_elem": (build_map_update, frozenset({"linux", "windows"})),
    "bpf_map_delete_elem": (build_map_delete, frozenset({"linux", "windows"})),
    "bpf_csum_diff": (build_csum_diff, frozenset({"linux"})),  # Windows sums differently
}
# the __sk_buff helpers of tc programs (per-packet runs: they read the run's skb record)
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_skb.HELPERS.items()})
# batch-only helpers (they decline outside batch runs): the XDP frame, redirects, clock, random, CPU
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_xdp.HELPERS.items()})
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_world.HELPERS.items()})
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_ringbuf.HELPERS.items()})
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_tail.HELPERS.items()})
NATIVE_HELPERS.update({name: (builder, frozenset({"linux"})) for name, builder in native_perf.HELPERS.items()})
#: native functions that may end the calling eBPF function (jit/lower.py checks the status after them)
ENDING_NATIVE_FUNCTIONS = native_tail.ENDING


class _Shared(dict):
    """The functions native helpers share, each built into the module the first time one asks;
    ``types`` (when not None) are the map types the map helpers handle natively."""

    BUILDERS: dict[str, Callable[[ir.Module, dict], ir.Function]] = {
        "fnv": lambda module, shared: _build_fnv(module),
        "find": lambda module, shared: _build_find(module),
        "row": lambda module, shared: _build_map_row(module),
        "lpm": lambda module, shared: _build_lpm(module),
        "remove": lambda module, shared: _build_remove(module),
        "evict": lambda module, shared: _build_evict(module, shared["remove"]),
    }

    def __init__(self, module: ir.Module, types: frozenset[int] | None):
        super().__init__()
        self.module = module
        self.types = types

    def __missing__(self, key: str) -> ir.Function:
        if key not in self.BUILDERS:
            raise KeyError(key)
        fn = self[key] = self.BUILDERS[key](self.module, self)
        return fn


def build_native_helpers(module: ir.Module, names: Iterable[str],
                         map_types: Iterable[int] | None = None) -> dict[str, ir.Function]:
    """Emit the native helpers ``names`` (and what they share) into ``module``. ``map_types``
    (the Linux type numbers of the maps the program can reach) limits the map helpers' type
    switch to those types: the others decline, and the module is smaller and faster to build."""
    names = sorted(set(names))
    if not names:
        return {}
    shared = _Shared(module, frozenset(map_types) if map_types is not None else None)
    return {name: NATIVE_HELPERS[name][0](module, shared) for name in names}


def map_types_of(maps: Iterable[Any]) -> tuple[int, ...]:
    """The Linux type numbers of ``maps`` and of the inner maps maps of maps may hold."""
    from ebpflite.helpers.maps import TYPES

    found = set()
    for live in maps:
        found.add(int(live.type_id))
        inner = getattr(live, "inner_spec", None)
        kind = TYPES.get(str(getattr(inner, "type", "")).lower())
        if kind is not None:
            found.add(kind.linux)
    return tuple(sorted(found))


def native_helper_numbers(helpers: Mapping[int, object], platform: str = "linux",
                          calls: Iterable[int] | None = None) -> dict[int, str]:
    """``{helper number: name}`` of the helpers that can be native here: those whose
    environment implementation is the registry's own, under its own number, and (given
    ``calls``, the helper numbers a program calls) that the program calls: every native
    helper costs lowering and LLVM time, and is part of the compile cache's key."""
    wanted = None if calls is None else set(calls)
    from ebpflite.helpers import registry

    found = {}
    for name, (_, platforms) in NATIVE_HELPERS.items():
        if platform not in platforms:
            continue
        try:
            spec = registry.by_name(name, platform)
        except KeyError:
            continue
        impl = getattr(spec, "impl", None)
        if impl is not None and helpers.get(spec.number) is impl and (wanted is None or spec.number in wanted):
            found[spec.number] = name
    return found


def map_table_rows(maps: Iterable[Any], by_address: Mapping[int, Any] | None = None) -> list[tuple[int, int]]:
    """``(descriptor address, free-list address or 0)`` of each map native code may write:
    exactly the array, per-CPU array, hash and per-CPU hash classes (subclasses have their
    own rules), not opened read-only, and the map helpers would find for that address."""
    from ebpflite.helpers.maps.array import ArrayMap, PercpuArrayMap
    from ebpflite.helpers.maps.hashmap import HashMap, LruHashMap, LruPercpuHashMap, PercpuHashMap
    from ebpflite.helpers.maps.ringbuf import RingBufMap

    hashes = (HashMap, PercpuHashMap, LruHashMap, LruPercpuHashMap)
    rows = []
    for live in maps:
        kind = type(live)
        if kind not in (ArrayMap, PercpuArrayMap, RingBufMap, *hashes) or live.readonly:
            continue
        if by_address is not None and by_address.get(live.address, live) is not live:
            continue
        free = live.storage.address("freelist") if kind in hashes else 0
        rows.append((live.address, free))
    return rows
