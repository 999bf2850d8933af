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
records the redirect in ``env.state`` with the Python map object) and
``bpf_xdp_adjust_head/tail`` (they move the Python ``XdpContext``'s packet
view, which the runtime reads back after the run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
#: {handled, r0}: handled = 0 means "call the Python helper instead"
RESULT_T = ir.LiteralStructType([I1, I64])
NATIVE_FN_T = ir.FunctionType(RESULT_T, [PTR] + [I64] * 5)

# descriptor offsets (docs/maps.md, helpers/maps/layout.py DESCRIPTOR)
_TYPE, _KEY_SIZE, _VALUE_SIZE, _MAX_ENTRIES, _NCPUS, _VALUE_STRIDE, _ENTRY_STRIDE = 4, 8, 12, 16, 24, 28, 32
_SLOT_SIZE, _CAPACITY, _HASH_SEED, _VALUES, _SLOTS, _META, _CPU_PTR = 36, 40, 44, 48, 56, 64, 72
_META_COUNT, _META_FREE_TOP = 0, 1  # u64 indexes into meta
# Linux BPF_MAP_TYPE_* numbers handled natively
HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 5, 6
FNV_PRIME = 0x01000193
BPF_NOEXIST, BPF_EXIST = 1, 2
EINVAL, ENOENT, EEXIST, E2BIG = 22, 2, 17, 7
M32 = 0xFFFFFFFF


def _c(ty: ir.IntType, v: int) -> ir.Constant:
    return ir.Constant(ty, v)


class Emitter:
    """An IRBuilder for one native helper with the few idioms they all use."""

    def __init__(self, module: ir.Module, name: str, fnty: ir.FunctionType = NATIVE_FN_T):
        self.module = module
        self.fn = ir.Function(module, fnty, name)
        self.fn.linkage = "internal"
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    def ptr(self, addr):
        return self.b.inttoptr(addr, PTR)

    def load(self, addr, ty: ir.IntType, offset=0):
        """``*(ty *)(addr + offset)`` (addr an i64 address)."""
        off = offset if isinstance(offset, ir.Value) else _c(I64, offset)
        return self.b.load(self.b.gep(self.ptr(addr), [off], source_etype=I8), typ=ty, align=1)

    def store(self, value, addr, offset=0) -> None:
        off = offset if isinstance(offset, ir.Value) else _c(I64, offset)
        self.b.store(value, self.b.gep(self.ptr(addr), [off], source_etype=I8), align=1)

    def field(self, desc, offset: int, ty: ir.IntType = I32):
        """A descriptor field, zero-extended to i64."""
        value = self.load(desc, ty, offset)
        return value if ty is I64 else self.b.zext(value, I64)

    def memmove(self, dst, src, size) -> None:
        fn = self.module.declare_intrinsic("llvm.memmove", [PTR, PTR, I64])
        self.b.call(fn, [self.ptr(dst), self.ptr(src), size, _c(I1, 0)])

    def memset(self, dst, size) -> None:
        fn = self.module.declare_intrinsic("llvm.memset", [PTR, I64])
        self.b.call(fn, [self.ptr(dst), _c(I8, 0), size, _c(I1, 0)])

    def ret(self, r0) -> None:
        """Return ``{1, r0}`` (handled); an int r0 is a constant (negative: -errno)."""
        if isinstance(r0, int):
            self.b.ret(ir.Constant(RESULT_T, [1, r0]))
            return
        value = self.b.insert_value(ir.Constant(RESULT_T, ir.Undefined), _c(I1, 1), 0)
        self.b.ret(self.b.insert_value(value, r0, 1))

    def decline(self) -> None:
        self.b.ret(ir.Constant(RESULT_T, [0, 0]))

    def branch_if(self, cond, then: ir.Block, name: str) -> None:
        """Go to ``then`` when ``cond`` holds, continue in a new block otherwise."""
        cont = self.block(name)
        self.b.cbranch(cond, then, cont)
        self.at(cont)

    def loop_phi(self, ty: ir.IntType, start, start_block: ir.Block):
        phi = self.b.phi(ty)
        phi.add_incoming(start, start_block)
        return phi


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
    percpu = b.or_(b.icmp_unsigned("==", mtype, _c(I32, PERCPU_ARRAY)),
                   b.icmp_unsigned("==", mtype, _c(I32, PERCPU_HASH)))
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

    def switch(self, array: ir.Block, hash_: ir.Block) -> None:
        sw = self.e.b.switch(self.type, self.declined)
        for t, block in ((ARRAY, array), (PERCPU_ARRAY, array), (HASH, hash_), (PERCPU_HASH, hash_)):
            sw.add_case(_c(I32, t), block)

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
    """``bpf_map_lookup_elem(map, key)``: the value pointer Python's ``lookup_address`` gives."""
    h = _MapHelper(module, "ebpf_native_map_lookup", shared)
    e, b = h.e, h.e.b
    array, hash_ = e.block("array"), e.block("hash")
    cpu_off = _cpu_offset(e, h.map, h.type, h.declined)
    h.switch(array, hash_)
    e.at(array)
    index = b.zext(e.load(h.key, I32), I64)
    null = e.block("null")
    e.branch_if(b.icmp_unsigned(">=", index, e.field(h.map, _MAX_ENTRIES)), null, "array_in")
    e.ret(h.value_at(index, cpu_off))
    e.at(hash_)
    slot, _ = h.find()
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), null, "hash_found")
    vidx = b.sub(b.zext(e.load(h.slot_at(slot), I32, 4), I64), _c(I64, 1))
    e.ret(h.value_at(vidx, cpu_off))
    e.at(null)
    e.ret(0)
    return e.fn


def build_map_update(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_map_update_elem(map, key, value, flags)`` as ArrayMap/HashMap.update."""
    h = _MapHelper(module, "ebpf_native_map_update", shared)
    e, b = h.e, h.e.b
    value, flags = h.r3, h.r4
    e.branch_if(b.icmp_unsigned(">", flags, _c(I64, BPF_EXIST)), h.declined, "flags_ok")
    freelist = h.writable_row()
    cpu_off = _cpu_offset(e, h.map, h.type, h.declined)
    value_size = e.field(h.map, _VALUE_SIZE)
    noexist = b.icmp_unsigned("==", flags, _c(I64, BPF_NOEXIST))
    array, hash_ = e.block("array"), e.block("hash")
    h.switch(array, hash_)
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
    vidx = b.sub(b.zext(e.load(h.slot_at(slot), I32, 4), I64), _c(I64, 1))
    e.memmove(h.value_at(vidx, cpu_off), value, value_size)
    e.ret(0)

    e.at(missing)
    absent = e.block("enoent")
    e.branch_if(b.icmp_unsigned("==", flags, _c(I64, BPF_EXIST)), absent, "insert")
    meta = e.field(h.map, _META, I64)
    top = e.load(meta, I64, 8 * _META_FREE_TOP)
    e.branch_if(b.icmp_unsigned("==", top, _c(I64, 0)), too_big, "alloc")
    top = b.sub(top, _c(I64, 1))
    e.store(top, meta, 8 * _META_FREE_TOP)
    vidx = b.zext(e.load(freelist, I32, b.mul(top, _c(I64, 4))), I64)
    # a fresh entry is zero but for this CPU's copy (memmove first: the value may alias the entry)
    entry = h.value_at(vidx)
    e.memmove(b.add(entry, cpu_off), value, value_size)
    e.memset(entry, cpu_off)
    after = b.add(cpu_off, value_size)
    e.memset(b.add(entry, after), b.sub(e.field(h.map, _ENTRY_STRIDE), after))
    empty = h.slot_at(b.sub(_c(I64, -1), slot))
    e.memmove(b.add(empty, _c(I64, 8)), h.key, e.field(h.map, _KEY_SIZE))
    e.store(hash_value, empty, 0)
    e.store(b.trunc(b.add(vidx, _c(I64, 1)), I32), empty, 4)
    e.store(b.add(e.load(meta, I64, 8 * _META_COUNT), _c(I64, 1)), meta, 8 * _META_COUNT)
    e.ret(0)

    for block, errno in ((too_big, E2BIG), (exists, EEXIST), (absent, ENOENT)):
        e.at(block)
        e.ret(-errno)
    return e.fn


def build_map_delete(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_map_delete_elem(map, key)``: arrays -EINVAL; hashes as HashMap.delete
    (backward-shift deletion, the value index back on the free list, the entry zeroed)."""
    h = _MapHelper(module, "ebpf_native_map_delete", shared)
    e, b = h.e, h.e.b
    freelist = h.writable_row()
    array, hash_ = e.block("array"), e.block("hash")
    h.switch(array, hash_)
    e.at(array)
    e.ret(-EINVAL)

    e.at(hash_)
    slot, _ = h.find()
    absent = e.block("enoent")
    e.branch_if(b.icmp_signed("<", slot, _c(I64, 0)), absent, "present")
    vidx = b.sub(b.zext(e.load(h.slot_at(slot), I32, 4), I64), _c(I64, 1))
    mask = b.sub(e.field(h.map, _CAPACITY), _c(I64, 1))
    slot_size = e.field(h.map, _SLOT_SIZE)
    e.memset(h.slot_at(slot), slot_size)
    start = b.block
    loop, check, keep, shift, done = (e.block(n) for n in ("shift_loop", "check", "keep", "shift", "done"))
    b.branch(loop)
    # the hole is at i; j scans the rest of the probe run (HashMap._remove_slot)
    e.at(loop)
    i = e.loop_phi(I64, slot, start)
    j = e.loop_phi(I64, slot, start)
    j2 = b.and_(b.add(j, _c(I64, 1)), mask)
    at_j = h.slot_at(j2)
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
    e.memmove(h.slot_at(i), at_j, slot_size)
    e.memset(at_j, slot_size)
    i.add_incoming(j2, shift)
    j.add_incoming(j2, shift)
    b.branch(loop)

    e.at(done)
    meta = e.field(h.map, _META, I64)
    e.store(b.sub(e.load(meta, I64, 8 * _META_COUNT), _c(I64, 1)), meta, 8 * _META_COUNT)
    top = e.load(meta, I64, 8 * _META_FREE_TOP)
    e.store(b.trunc(vidx, I32), freelist, b.mul(top, _c(I64, 4)))
    e.store(b.add(top, _c(I64, 1)), meta, 8 * _META_FREE_TOP)
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


def _skb(name: str) -> Builder:
    """A builder of jit/native_skb.py (imported when used: it builds on this module)."""
    def build(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
        from ebpflite.jit import native_skb

        return getattr(native_skb, name)(module, shared)
    return build


#: helper name -> (builder, platforms it is native on)
NATIVE_HELPERS: dict[str, tuple[Builder, frozenset[str]]] = {
    "bpf_map_lookup_elem": (build_map_lookup, frozenset({"linux", "windows"})),
    "bpf_map_update_elem": (build_map_update, frozenset({"linux", "windows"})),
    "bpf_map_delete_elem": (build_map_delete, frozenset({"linux", "windows"})),
    "bpf_csum_diff": (build_csum_diff, frozenset({"linux"})),  # Windows sums differently
    # the __sk_buff helpers of tc programs (jit/native_skb.py)
    "bpf_skb_load_bytes": (_skb("build_skb_load_bytes"), frozenset({"linux"})),
    "bpf_skb_store_bytes": (_skb("build_skb_store_bytes"), frozenset({"linux"})),
    "bpf_l3_csum_replace": (_skb("build_l3_csum_replace"), frozenset({"linux"})),
    "bpf_l4_csum_replace": (_skb("build_l4_csum_replace"), frozenset({"linux"})),
}


def build_native_helpers(module: ir.Module, names: Iterable[str]) -> dict[str, ir.Function]:
    """Emit the native helpers ``names`` (and what they share) into ``module``."""
    names = sorted(set(names))
    if not names:
        return {}
    shared = {"fnv": _build_fnv(module), "find": _build_find(module), "row": _build_map_row(module)}
    return {name: NATIVE_HELPERS[name][0](module, shared) for name in names}


def native_helper_numbers(helpers: Mapping[int, object], platform: str = "linux") -> dict[int, str]:
    """``{helper number: name}`` of the helpers that can be native here: those whose
    environment implementation is the registry's own, under its own number."""
    try:
        from ebpflite.helpers import registry
    except ImportError:  # pragma: no cover - no helpers package: nothing native
        return {}
    found = {}
    for name, (_, platforms) in NATIVE_HELPERS.items():
        if platform not in platforms:
            continue
        try:
            spec = registry.by_name(name, platform)
        except KeyError:
            continue
        impl = getattr(spec, "impl", None)
        if impl is not None and helpers.get(spec.number) is impl:
            found[spec.number] = name
    return found


def map_table_rows(maps: Iterable[Any], by_address: Mapping[int, Any] | None = None) -> list[tuple[int, int]]:
    """``(descriptor address, free-list address or 0)`` of each map native code may write:
    exactly the array, per-CPU array, hash and per-CPU hash classes (subclasses have their
    own rules), not opened read-only, and the map helpers would find for that address."""
    try:
        from ebpflite.helpers.maps.array import ArrayMap, PercpuArrayMap
        from ebpflite.helpers.maps.hashmap import HashMap, PercpuHashMap
    except ImportError:  # pragma: no cover - maps not installed
        return []
    rows = []
    for live in maps:
        kind = type(live)
        if kind not in (ArrayMap, PercpuArrayMap, HashMap, PercpuHashMap) or live.readonly:
            continue
        if by_address is not None and by_address.get(live.address, live) is not live:
            continue
        free = live.storage.address("freelist") if kind in (HashMap, PercpuHashMap) else 0
        rows.append((live.address, free))
    return rows
