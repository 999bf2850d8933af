"""Batch execution: one XDP program over many packets in a single native call.

Replaying a capture one ``run()`` at a time costs a Python round trip per
packet (microseconds). Here the compiled ``ebpf_batch`` loop (built by
:func:`build_batch`) takes a *batch block* (:class:`BatchWord`): packets as
offsets and lengths into a source buffer (a chunk read from a capture, or a
:class:`PacketBatch`), and runs the program on each one the way
``BPF_PROG_TEST_RUN`` does (helpers/contexts.py ``XdpContext``):

- the packet is copied into one 4096-byte *frame* after 256 bytes of
  headroom (the last 320 are the kernel's reserved tailroom), so
  ``bpf_xdp_adjust_head/tail/meta`` have the kernel's limits; the headroom
  is zeroed first when the program can reach it (adjust_head/meta), so
  grown bytes read as in a fresh frame;
- ``xdp_md`` gets data, data_end, data_meta (u32 addresses: the frame comes
  from ``low_alloc``) and the packet's row of the region table is pointed at
  ``[data_meta, data_end)`` (checked mode bounds-checks against it);
- after the run: the verdict (r0, 32 bits), the packet's length afterwards
  (data_meta to data_end; 0 marks a packet the kernel would refuse: shorter
  than an Ethernet header or longer than a linear frame holds), where
  ``bpf_redirect``/``bpf_redirect_map`` sent it, and, when its verdict is in
  the *keep mask*, the packet itself appended to an output buffer as a pcap
  record (so ``--out`` needs no Python per packet).

Native helpers (jit/native.py) that need the packet, the redirect slot, the
simulated clock, the seeded generator or the current CPU find this block
through the run context's ``Ctx.BATCH`` word (0 outside batch runs, where
they decline and the Python helpers run). The clock and the generator are
copied from their Python objects into the block before a call and back
after (:class:`World`), so batch and per-packet runs draw the same values.

Differences from calling ``run()`` per packet, by design: the stack is not
cleared between packets (verified programs never read uninitialised stack),
the instruction budget applies per packet, and the first packet whose run
faults stops the batch; the exception carries ``packet_index``.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from ebpflite.jit.abi import Ctx, Status
from ebpflite.vm.contexts import (
    ETH_HLEN,
    LINUX_XDP,
    XDP_FRAME_SIZE,
    XDP_FRAME_STRUCT,
    XDP_HEADROOM,
    XDP_MAX_DATA,
    XDP_META_MAX,
    XDP_TAILROOM,
)
from ebpflite.vm.errors import ContextError, ExecutionError
from ebpflite.vm.memory import Region, low_alloc

XDP_MD_SIZE = LINUX_XDP.size  #: the Linux xdp_md (vm/contexts.py), which the native loop points at each packet
#: byte offsets of the xdp_md fields the loop and the native XDP helpers read and write
MD_DATA, MD_DATA_END, MD_META = LINUX_XDP.data, LINUX_XDP.data_end, LINUX_XDP.meta
# the kernel's test-run frame, as helpers/contexts.py XdpContext lays it out (vm/contexts.py)
FRAME_SIZE, HEADROOM, TAILROOM, FRAME_STRUCT = XDP_FRAME_SIZE, XDP_HEADROOM, XDP_TAILROOM, XDP_FRAME_STRUCT
META_MAX, MAX_DATA = XDP_META_MAX, XDP_MAX_DATA
#: bytes one output record may take: a pcap record header and the whole usable frame
OUT_RECORD_MAX = 16 + FRAME_SIZE - TAILROOM
_BATCH_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)


class BatchWord(IntEnum):
    """Words of the batch block passed to ``ebpf_batch`` (u64 each)."""

    COUNT = 0  #: packets in the arrays
    START = 1  #: first packet to run (a call resumes here after the output buffer filled)
    SRC = 2  #: base address of the packets' bytes
    OFFSETS = 3  #: i64 array: each packet's offset from SRC
    LENGTHS = 4  #: u32 array: each packet's length
    VERDICTS = 5  #: u32 array, out: r0 of each run (0 for refused packets)
    OUT_LENGTHS = 6  #: u32 array, out: data_meta..data_end after the run; 0 = refused packet
    FRAME = 7  #: the frame's address (FRAME_SIZE bytes below 2 GiB)
    MD = 8  #: the xdp_md's address
    REGION_ROW = 9  #: address of the packet's (start, end, flags) row in the region table
    KEEP = 10  #: bit v set: packets with verdict v < 64 are appended to OUT
    OUT = 11  #: output buffer (pcap records: ts_sec, ts_usec, caplen, len, data), 0 for none
    OUT_POS = 12  #: bytes used in OUT (updated)
    OUT_CAP = 13  #: bytes OUT holds; the loop stops before a packet when OUT_RECORD_MAX would not fit
    TS = 14  #: u64 array: timestamps in ns for the output records
    OUT_OFFSETS = 15  #: i64 array, out: each packet's record offset in OUT (-1 when not kept); 0: none
    REDIRECTS = 16  #: address of 5 x u64 per packet (the REDIRECT slot after its run), 0 for none
    DONE = 17  #: out: packets completed (the failing or waiting one's index when stopped early)
    STOP = 18  #: out: a :class:`Stop`
    CURRENT = 19  #: the packet running now (for callbacks that report per packet)
    REDIRECT = 20  #: the current packet's redirect: kind, a, b, c, flags (5 words, see :class:`Redirect`)
    CLOCK_MODE = 25  #: 0: no clock here (native time helpers decline); 1: host clocks; 2: fixed
    CLOCK_NS = 26  #: the fixed clock's next reading (Clock.fixed_ns), updated
    CLOCK_STEP = 27
    CLOCK_BOOT = 28  #: boot time minus monotonic time (fixed clock)
    CLOCK_TAI = 29  #: TAI minus monotonic time (fixed clock)
    CLOCK_GETTIME = 30  #: address of libc's clock_gettime (host clocks)
    PRANDOM = 31  #: address of the MT19937 state (624 u32 words, then the u32 index); 0: decline
    CPU = 32  #: address of the u32 current CPU (helpers/maps/layout.py CPU_CELL)
    RB_RESERVED = 33  #: ring buffer records reserved and not yet submitted/discarded in this run
    FLAGS = 34  #: :class:`BatchFlag` bits
    TAIL_CALLS = 35  #: tail calls made in this packet's run (native bpf_tail_call)
    TAIL_TABLE = 36  #: address of the tail table (jit/native_tail.py), 0: tail calls go through Python
    PERF = 37  #: perf event staging buffer (jit/native_perf.py records), 0: none
    PERF_POS = 38  #: bytes used in PERF (updated)
    PERF_CAP = 39  #: bytes PERF holds; the loop stops before a packet when PERF_RESERVE would not fit


BLOCK_WORDS = 40
#: room a packet's perf event records may take in the staging buffer before the loop drains it
PERF_RESERVE = 1 << 16


class BatchFlag(IntEnum):
    ZERO_HEADROOM = 1  #: clear the frame's headroom before each packet


class Stop(IntEnum):
    DONE = 0  #: every packet ran
    FAULT = 1  #: a run stopped with a status (the return value); DONE is its index
    OUT_FULL = 2  #: the output buffer needs flushing before packet DONE
    RINGBUF_HELD = 3  #: packet DONE exited holding ring buffer reservations
    PERF_FULL = 4  #: the perf event staging buffer needs draining before packet DONE


class Redirect(IntEnum):
    """``REDIRECT`` slot kinds: word a, b, c meaning."""

    NONE = 0
    IFINDEX = 1  #: bpf_redirect: a = ifindex
    MAP = 2  #: bpf_redirect_map: a = map descriptor, b = key, c = target (all ones: none)


NO_TARGET = (1 << 64) - 1


def build_batch(lowering: Any) -> None:
    """Emit ``u64 ebpf_batch(ctx*, block*) -> status`` into ``lowering.module`` (see the module doc)."""
    import llvmlite.ir as ir

    from ebpflite.jit.lower import BATCH_NAME, ctx_load, ctx_store

    i1, i8, i32, i64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
    ptr = ir.PointerType()

    def c(ty, v):
        return ir.Constant(ty, v & ((1 << ty.width) - 1))

    module = lowering.module
    fn = ir.Function(module, ir.FunctionType(i64, [ptr, ptr]), BATCH_NAME)
    ctx, block = fn.args
    ctx.add_attribute("noalias")
    blocks = {n: fn.append_basic_block(n) for n in ("entry", "loop", "room", "perf_room", "body", "refuse", "run",
                                                     "ran", "keep", "write", "next", "done", "stop", "full", "held",
                                                     "perf_full")}
    b = ir.IRBuilder(blocks["entry"])
    memcpy = module.declare_intrinsic("llvm.memcpy", [ptr, ptr, i64])
    memset = module.declare_intrinsic("llvm.memset", [ptr, i64])

    def word(w):
        return b.load(b.gep(block, [c(i64, int(w))], source_etype=i64), typ=i64)

    def set_word(w, value):
        b.store(value if not isinstance(value, int) else c(i64, value), b.gep(block, [c(i64, int(w))],
                                                                               source_etype=i64))

    def at(base, index, ty):
        return b.gep(b.inttoptr(base, ptr), [index], source_etype=ty)

    def p(addr):
        return b.inttoptr(addr, ptr)

    n, src = word(BatchWord.COUNT), word(BatchWord.SRC)
    offsets, lengths = word(BatchWord.OFFSETS), word(BatchWord.LENGTHS)
    verdicts, out_lengths = word(BatchWord.VERDICTS), word(BatchWord.OUT_LENGTHS)
    frame, md, row = word(BatchWord.FRAME), word(BatchWord.MD), word(BatchWord.REGION_ROW)
    keep, out, cap, ts_arr = word(BatchWord.KEEP), word(BatchWord.OUT), word(BatchWord.OUT_CAP), word(BatchWord.TS)
    out_offsets, redirects = word(BatchWord.OUT_OFFSETS), word(BatchWord.REDIRECTS)
    zero_head = b.icmp_unsigned("!=", b.and_(word(BatchWord.FLAGS), c(i64, BatchFlag.ZERO_HEADROOM)), c(i64, 0))
    start = word(BatchWord.START)
    md_p = p(md)
    data0 = b.add(frame, c(i64, HEADROOM))
    b.branch(blocks["loop"])

    b.position_at_end(blocks["loop"])
    i = b.phi(i64, "i")
    i.add_incoming(start, blocks["entry"])
    b.cbranch(b.icmp_unsigned("<", i, n), blocks["room"], blocks["done"])

    b.position_at_end(blocks["room"])  # stop before a packet whose output might not fit
    pos = word(BatchWord.OUT_POS)
    short = b.icmp_unsigned(">", b.add(pos, c(i64, OUT_RECORD_MAX)), cap)
    b.cbranch(b.and_(b.icmp_unsigned("!=", out, c(i64, 0)), short), blocks["full"], blocks["perf_room"])

    b.position_at_end(blocks["perf_room"])  # and before one whose perf events might not
    perf_short = b.icmp_unsigned(">", b.add(word(BatchWord.PERF_POS), c(i64, PERF_RESERVE)), word(BatchWord.PERF_CAP))
    perf_on = b.icmp_unsigned("!=", word(BatchWord.PERF), c(i64, 0))
    b.cbranch(b.and_(perf_on, perf_short), blocks["perf_full"], blocks["body"])

    b.position_at_end(blocks["body"])
    off = b.load(at(offsets, i, i64), typ=i64)
    length = b.zext(b.load(at(lengths, i, i32), typ=i32), i64)
    valid = b.and_(b.icmp_unsigned(">=", length, c(i64, ETH_HLEN)), b.icmp_unsigned("<=", length, c(i64, MAX_DATA)))
    b.cbranch(valid, blocks["run"], blocks["refuse"])

    b.position_at_end(blocks["refuse"])  # the kernel's EINVAL: counted, never run
    b.store(c(i32, 0), at(verdicts, i, i32))
    b.store(c(i32, 0), at(out_lengths, i, i32))
    with b.if_then(b.icmp_unsigned("!=", out_offsets, c(i64, 0))):
        b.store(c(i64, -1), at(out_offsets, i, i64))
    b.branch(blocks["next"])

    b.position_at_end(blocks["run"])
    with b.if_then(zero_head):
        b.call(memset, [p(frame), c(i8, 0), c(i64, HEADROOM), c(i1, 0)])
    b.call(memcpy, [p(data0), p(b.add(src, off)), length, c(i1, 0)])
    end = b.add(data0, length)
    for offset, value in ((MD_DATA, data0), (MD_DATA_END, end), (MD_META, data0)):
        b.store(b.trunc(value, i32), b.gep(md_p, [c(i64, offset // 4)], source_etype=i32))
    b.store(data0, p(row))
    b.store(end, b.gep(p(row), [c(i64, 1)], source_etype=i64))
    for k in range(5):
        set_word(BatchWord.REDIRECT + k, 0)
    set_word(BatchWord.CURRENT, i)
    set_word(BatchWord.TAIL_CALLS, 0)
    ctx_store(b, ctx, Ctx.COUNT, 0)
    args = [c(i64, 0), md] + [c(i64, 0)] * 8 + [c(i64, 0)]
    res = b.call(lowering.functions[0], [ctx] + args)
    status = ctx_load(b, ctx, Ctx.STATUS)
    b.cbranch(b.icmp_unsigned("==", status, c(i64, 0)), blocks["ran"], blocks["stop"])

    b.position_at_end(blocks["ran"])
    r0 = b.trunc(b.extract_value(res, 0), i32)
    b.store(r0, at(verdicts, i, i32))
    meta = b.zext(b.load(b.gep(md_p, [c(i64, MD_META // 4)], source_etype=i32), typ=i32), i64)
    new_end = b.zext(b.load(b.gep(md_p, [c(i64, MD_DATA_END // 4)], source_etype=i32), typ=i32), i64)
    out_len = b.sub(new_end, meta)
    b.store(b.trunc(out_len, i32), at(out_lengths, i, i32))
    with b.if_then(b.icmp_unsigned("!=", redirects, c(i64, 0))):
        for k in range(5):
            b.store(word(BatchWord.REDIRECT + k), at(redirects, b.add(b.mul(i, c(i64, 5)), c(i64, k)), i64))
    with b.if_then(b.icmp_unsigned("!=", out_offsets, c(i64, 0))):
        b.store(c(i64, -1), at(out_offsets, i, i64))
    held = b.icmp_unsigned("!=", word(BatchWord.RB_RESERVED), c(i64, 0))
    b.cbranch(held, blocks["held"], blocks["keep"])

    b.position_at_end(blocks["keep"])
    r0_64 = b.zext(r0, i64)
    wanted = b.and_(b.icmp_unsigned("<", r0_64, c(i64, 64)),
                    b.icmp_unsigned("!=", b.and_(b.lshr(keep, b.and_(r0_64, c(i64, 63))), c(i64, 1)), c(i64, 0)))
    b.cbranch(b.and_(wanted, b.icmp_unsigned("!=", out, c(i64, 0))), blocks["write"], blocks["next"])

    b.position_at_end(blocks["write"])  # a pcap record: ts_sec, ts_usec, caplen, len, then the bytes
    pos = word(BatchWord.OUT_POS)
    rec = b.add(out, pos)
    ts = b.load(at(ts_arr, i, i64), typ=i64)
    fields = (b.udiv(ts, c(i64, 1_000_000_000)), b.udiv(b.urem(ts, c(i64, 1_000_000_000)), c(i64, 1000)),
              out_len, out_len)
    for k, value in enumerate(fields):
        b.store(b.trunc(value, i32), b.gep(p(rec), [c(i64, k)], source_etype=i32))
    b.call(memcpy, [p(b.add(rec, c(i64, 16))), p(meta), out_len, c(i1, 0)])
    with b.if_then(b.icmp_unsigned("!=", out_offsets, c(i64, 0))):
        b.store(pos, at(out_offsets, i, i64))
    set_word(BatchWord.OUT_POS, b.add(pos, b.add(out_len, c(i64, 16))))
    b.branch(blocks["next"])

    b.position_at_end(blocks["next"])
    i.add_incoming(b.add(i, c(i64, 1)), blocks["next"])
    b.branch(blocks["loop"])

    for name, stop in (("full", Stop.OUT_FULL), ("held", Stop.RINGBUF_HELD), ("perf_full", Stop.PERF_FULL)):
        b.position_at_end(blocks[name])
        set_word(BatchWord.DONE, i)
        set_word(BatchWord.STOP, int(stop))
        b.ret(c(i64, 0))
    b.position_at_end(blocks["stop"])
    set_word(BatchWord.DONE, i)
    set_word(BatchWord.STOP, int(Stop.FAULT))
    b.ret(status)
    b.position_at_end(blocks["done"])
    set_word(BatchWord.DONE, n)
    set_word(BatchWord.STOP, int(Stop.DONE))
    b.ret(c(i64, 0))


# --- the world native helpers read: clock, generator, CPU ------------------------------------

_MT_N = 624


class World:
    """The simulated clock, the seeded generator and the current CPU, as the batch block holds them
    (the native copy of those fields of ``env.world``, vm/world.py).

    :meth:`load` copies them from the environment's Python objects (creating
    the generator the way ``bpf_get_prandom_u32`` would) before a batch call;
    :meth:`store` copies what native helpers changed back after it, so runs
    before, between and after batches continue the same sequences.
    """

    def __init__(self, block: np.ndarray, generator: bool = True):
        """``generator=False``: the program cannot draw random numbers, so the generator's
        624-word state is not copied in and out around every call (the native helper would
        decline and the Python one run, should it be called after all)."""
        self.block = block
        self.generator = generator
        self.mt = np.zeros(_MT_N + 1, dtype=np.uint32)
        libc = ctypes.CDLL(None)
        self._gettime = ctypes.cast(libc.clock_gettime, ctypes.c_void_p).value or 0

    def load(self, env: Any) -> None:
        from ebpflite.helpers.maps import layout

        block = self.block
        clock = env.world.clock
        # not a fixed clock: the Python helpers would read the host clocks (vm/world.py Clock)
        if clock.fixed_ns is None:
            block[BatchWord.CLOCK_MODE] = 1 if self._gettime else 0
            block[BatchWord.CLOCK_GETTIME] = self._gettime
        else:
            block[BatchWord.CLOCK_MODE] = 2
            block[BatchWord.CLOCK_NS] = clock.fixed_ns & (1 << 64) - 1
            block[BatchWord.CLOCK_STEP] = clock.step_ns & (1 << 64) - 1
            block[BatchWord.CLOCK_BOOT] = clock.boot_offset_ns & (1 << 64) - 1
            block[BatchWord.CLOCK_TAI] = clock.tai_offset_ns & (1 << 64) - 1
        block[BatchWord.CPU] = layout.CPU_CELL.ctypes.data
        self._clock = clock
        if not self.generator:
            block[BatchWord.PRANDOM] = 0
            return
        rng = env.world.generator()
        version, internal, _gauss = rng.getstate()
        self.mt[:] = internal
        self._loaded = self.mt.copy()
        block[BatchWord.PRANDOM] = self.mt.ctypes.data
        self._rng, self._version = rng, version

    def store(self) -> None:
        if self.block[BatchWord.CLOCK_MODE] == 2 and self._clock is not None:
            ns = int(self.block[BatchWord.CLOCK_NS])
            self._clock.fixed_ns = ns - (1 << 64) if ns >> 63 else ns
        if not self.generator or np.array_equal(self.mt, self._loaded):  # no packet drew a number
            return
        _version, _internal, gauss = self._rng.getstate()
        self._rng.setstate((self._version, tuple(self.mt.tolist()), gauss))


# --- tail calls: every prog_array target compiled and ready -----------------------------------


class TailTable:
    """The tail table native ``bpf_tail_call`` reads (layout in jit/native_tail.py): each
    prog_array of the environment's object, each filled slot's compiled target with a run
    context of its own (its maps in its lddw table, the batch block in ``Ctx.BATCH``)."""

    def __init__(self, jit: Any, block: np.ndarray):
        self.jit = jit
        self.targets: list[Any] = []  # JitPrograms holding a prepared context (released in close)
        env = jit.env
        arrays = [m for m in env.world.maps_by_address.values() if getattr(m, "type", "") == "prog_array"]
        arrays += [m for m in env.maps if getattr(m, "type", "") == "prog_array" and m not in arrays]
        self.slot_tables: list[np.ndarray] = []
        rows = []
        program_maps = env.world.program_maps
        own_maps = env.maps
        try:
            for live in arrays:
                slots = np.zeros(2 * live.max_entries, dtype=np.uint64)
                for index in range(live.max_entries):
                    program = live.get_program(index)
                    if program is None or isinstance(program, str) or not getattr(program, "verified", False):
                        continue
                    target = jit.for_tail_call(program)
                    if target.checked or getattr(program, "platform", "linux") != "linux":
                        continue
                    env.maps = program_maps.get(id(program), own_maps)  # its lddw table is filled from these
                    ctx = target.prepare(0, 0)
                    ctx[Ctx.BATCH] = block.ctypes.data
                    self.targets.append(target)
                    slots[2 * index:2 * index + 2] = (target.code.entry, ctx.ctypes.data)
                self.slot_tables.append(slots)
                rows.append((live.address, slots.ctypes.data))
        finally:
            env.maps = own_maps
        self.table = np.zeros(1 + 2 * len(rows), dtype=np.uint64)
        self.table[0] = len(rows)
        for i, (address, slots_address) in enumerate(rows):
            self.table[1 + 2 * i:3 + 2 * i] = (address, slots_address)

    @property
    def address(self) -> int:
        return self.table.ctypes.data if self.table[0] else 0

    def close(self) -> None:
        for target in reversed(self.targets):
            target.release()
        self.targets = []


# --- perf events: staged natively, handed to the maps in order ---------------------------------


class PerfStaging:
    """The staging buffer native ``bpf_perf_event_output`` writes records to (jit/native_perf.py:
    u64 map descriptor, u32 index, u32 length, the bytes, padded to 8), and their delivery to
    the ``perf_event_array`` maps and ``env.world.perf_events``, as the Python helper does.

    Delivery happens after each batch call, whenever the buffer nears full, and before any
    Python call of the helper during the batch (the native one declines when a record does
    not fit): the maps see the records in the order the program made them."""

    NUMBER = 25  #: bpf_perf_event_output

    def __init__(self, block: np.ndarray, size: int = 1 << 20):
        self.block = block
        self.buf = np.zeros(size, dtype=np.uint8)
        self.env: Any = None
        self._python: Any = None

    def attach(self, env: Any) -> None:
        self.env = env
        self.block[BatchWord.PERF] = self.buf.ctypes.data
        self.block[BatchWord.PERF_POS] = 0
        self.block[BatchWord.PERF_CAP] = len(self.buf)
        self._python = env.helpers.get(self.NUMBER)
        if self._python is not None:
            python = self._python

            def drained_first(env: Any, *regs: int) -> int:
                self.drain()
                return python(env, *regs)

            env.helpers[self.NUMBER] = drained_first

    def detach(self) -> None:
        self.drain()
        if self._python is not None:
            self.env.helpers[self.NUMBER] = self._python
        self.block[BatchWord.PERF] = 0

    def drain(self) -> None:
        used = int(self.block[BatchWord.PERF_POS])
        if not used:
            return
        by_address = self.env.world.maps_by_address
        events = self.env.world.perf_events
        raw = self.buf[:used].tobytes()
        at = 0
        while at < used:
            desc, index, length = struct.unpack_from("<QII", raw, at)
            data = raw[at + 16:at + 16 + length]
            live = by_address[desc]
            live.append_record(index, data)
            events.append({"map": live.name, "data": data})
            at += 16 + (length + 7) // 8 * 8
        self.block[BatchWord.PERF_POS] = 0


# --- trace_printk: lines by packet ------------------------------------------------------------


class TraceLines:
    """``bpf_trace_printk`` stays a Python helper in batch runs (formatting is not worth native
    code); this wraps it for the batch's duration to note which packet printed each line
    (``BatchWord.CURRENT``), so per-packet records carry their own lines."""

    NAMES = frozenset({"bpf_trace_printk", "bpf_trace_vprintk"})

    def __init__(self, block: np.ndarray):
        self.block = block
        self.lines: dict[int, list[str]] = {}
        self.saved: dict[int, Any] = {}

    def attach(self, env: Any) -> None:
        from ebpflite.helpers import registry

        self.env, self.lines, self.saved = env, {}, {}
        for name in self.NAMES:
            try:
                number = registry.by_name(name, "linux").number
            except KeyError:
                continue
            python = env.helpers.get(number)
            if python is None:
                continue
            self.saved[number] = python

            def noted(env: Any, *regs: int, python: Any = python) -> int:
                before = len(env.trace_output)
                r0 = python(env, *regs)
                if len(env.trace_output) > before:
                    index = int(self.block[BatchWord.CURRENT])
                    self.lines.setdefault(index, []).extend(env.trace_output[before:])
                return r0

            env.helpers[number] = noted

    def detach(self) -> None:
        self.env.helpers.update(self.saved)


# --- running a batch -----------------------------------------------------------------------


@dataclass
class BatchOutput:
    """Where kept packets go: a buffer of pcap records, flushed (or grown) when it fills."""

    buf: np.ndarray
    keep: int  #: bit mask of verdicts to keep
    #: called with the used part when the buffer fills; None: the buffer doubles instead
    flush: Callable[[memoryview], None] | None = None
    used: int = 0  #: bytes of ``buf`` holding records after the run


@dataclass
class BatchRun:
    """Per-packet results of one :meth:`BatchRunner.run` (arrays owned by the runner)."""

    verdicts: np.ndarray  #: uint32
    out_lengths: np.ndarray  #: uint32; 0 marks a packet the kernel would refuse
    redirects: np.ndarray | None  #: (n, 5) uint64 REDIRECT slots, when the program redirects
    out_offsets: np.ndarray | None = None  #: int64 record offsets in the output (-1: not kept)
    #: bpf_trace_printk lines by packet index (the helper stays Python; see :class:`TraceLines`)
    traces: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class BatchRunner:
    """Runs one JIT-compiled Linux XDP program over batches of packets (see the module doc).

    The frame, ``xdp_md`` and their regions are added to the program's
    environment for the runner's lifetime (:meth:`close` removes them).
    """

    jit: Any
    capacity: int = 1 << 15
    redirects: bool = False  #: record where each packet was redirected
    ingress_ifindex: int = 1  #: XdpContext's default
    rx_queue_index: int = 0
    block: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        env = self.jit.env
        self.block = np.zeros(BLOCK_WORDS, dtype=np.uint64)
        self.frame = low_alloc(FRAME_SIZE)
        self.md = low_alloc(XDP_MD_SIZE)
        self.md[:] = np.frombuffer(LINUX_XDP.layout.pack(0, 0, 0, self.ingress_ifindex, self.rx_queue_index, 0),
                                   np.uint8)
        self.frame_region = env.memory.add(Region("packet", self.frame, "packet"))
        self.md_region = env.memory.add(Region("ctx xdp_md", self.md, "ctx", writable=False))
        self._alloc(self.capacity)
        from ebpflite.helpers import registry

        calls = {insn.imm for insn in self.jit.program.insns if insn.kind.name == "CALL"}
        names = {spec.name for number, spec in registry.profile("linux").items() if number in calls}
        # a tail call's target may draw random numbers too
        self.world = World(self.block, generator=bool(names & {"bpf_get_prandom_u32", "bpf_tail_call"}))
        self._tail_calls = "bpf_tail_call" in names
        self.perf = PerfStaging(self.block) if "bpf_perf_event_output" in names else None
        self.trace = TraceLines(self.block) if names & TraceLines.NAMES else None
        # a tail call's target may grow the head: clear the headroom for it too
        if names & {"bpf_xdp_adjust_head", "bpf_xdp_adjust_meta", "bpf_tail_call"}:
            self.block[BatchWord.FLAGS] = int(self.block[BatchWord.FLAGS]) | BatchFlag.ZERO_HEADROOM
        self.block[BatchWord.FRAME] = self.frame.ctypes.data
        self.block[BatchWord.MD] = self.md_region.start
        self._closed = False

    def _alloc(self, capacity: int) -> None:
        self.capacity = capacity
        self.verdicts = np.zeros(capacity, dtype=np.uint32)
        self.out_lengths = np.zeros(capacity, dtype=np.uint32)
        self._no_times = np.zeros(capacity, dtype=np.uint64)
        self.redirect_slots = np.zeros((capacity, 5), dtype=np.uint64) if self.redirects else None

    def close(self) -> None:
        if not self._closed:
            memory = self.jit.env.memory
            for region in (self.frame_region, self.md_region):
                if region in memory.regions:
                    memory.remove(region)
            self._closed = True

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(self, src: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, *, ts: np.ndarray | None = None,
            output: BatchOutput | None = None, out_offsets: np.ndarray | None = None) -> BatchRun:
        """Run every packet ``src[offsets[i]:offsets[i] + lengths[i]]`` (offsets int64, lengths uint32)."""
        count = len(offsets)
        if count > self.capacity:
            self._alloc(count)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        lengths = np.ascontiguousarray(lengths, dtype=np.uint32)
        block, jit, env = self.block, self.jit, self.jit.env
        block[BatchWord.COUNT] = count
        block[BatchWord.SRC] = src.ctypes.data
        block[BatchWord.OFFSETS] = offsets.ctypes.data
        block[BatchWord.LENGTHS] = lengths.ctypes.data
        block[BatchWord.VERDICTS] = self.verdicts.ctypes.data
        block[BatchWord.OUT_LENGTHS] = self.out_lengths.ctypes.data
        block[BatchWord.REDIRECTS] = self.redirect_slots.ctypes.data if self.redirect_slots is not None else 0
        ts = np.ascontiguousarray(ts, dtype=np.uint64) if ts is not None else self._no_times[:count]
        block[BatchWord.TS] = ts.ctypes.data
        block[BatchWord.OUT_OFFSETS] = out_offsets.ctypes.data if out_offsets is not None else 0
        if output is not None:
            block[BatchWord.OUT] = output.buf.ctypes.data
            block[BatchWord.OUT_CAP] = len(output.buf)
            block[BatchWord.KEEP] = output.keep
            if len(output.buf) < OUT_RECORD_MAX:
                raise ContextError(f"the output buffer must hold at least {OUT_RECORD_MAX} bytes")
        else:
            block[BatchWord.OUT] = 0
        block[BatchWord.START] = 0
        block[BatchWord.OUT_POS] = 0
        block[BatchWord.RB_RESERVED] = 0
        table = env.memory.table()
        row = env.memory.regions.index(self.frame_region) + 1
        block[BatchWord.REGION_ROW] = table.ctypes.data + row * table.strides[0]
        env.reset_run()
        env.stack.clear()
        self.world.load(env)
        if self.perf is not None:
            self.perf.attach(env)
        if self.trace is not None:
            self.trace.attach(env)
        ctx = jit.prepare(count=0, depth=0)
        ctx[Ctx.BATCH] = block.ctypes.data
        tails = TailTable(jit, block) if self._tail_calls else None
        block[BatchWord.TAIL_TABLE] = tails.address if tails is not None else 0
        batch_fn = _BATCH_TYPE(jit.code.batch)
        try:
            while True:
                status = batch_fn(ctx.ctypes.data, block.ctypes.data)
                stop = Stop(int(block[BatchWord.STOP]))
                if stop is Stop.PERF_FULL:
                    self.perf.drain()
                    block[BatchWord.START] = block[BatchWord.DONE]
                    continue
                if stop is not Stop.OUT_FULL:
                    break
                used = int(block[BatchWord.OUT_POS])
                if output.flush is not None:
                    output.flush(memoryview(output.buf)[:used])
                    block[BatchWord.OUT_POS] = 0
                else:
                    bigger = np.zeros(2 * len(output.buf), dtype=np.uint8)
                    bigger[:used] = output.buf[:used]
                    output.buf = bigger
                    block[BatchWord.OUT] = bigger.ctypes.data
                    block[BatchWord.OUT_CAP] = len(bigger)
                block[BatchWord.START] = block[BatchWord.DONE]
            index = int(block[BatchWord.DONE])
            if stop is Stop.FAULT:
                exc = jit.error(Status(status), ctx)
                raise _at_packet(exc, index)
            if stop is Stop.RINGBUF_HELD:
                n = int(block[BatchWord.RB_RESERVED])
                raise _at_packet(ExecutionError(f"the program exited with {n} ring buffer record(s) reserved "
                                                "but neither submitted nor discarded"), index)
        finally:
            if self.perf is not None:
                self.perf.detach()
            if self.trace is not None:
                self.trace.detach()
            if tails is not None:
                tails.close()
            ctx[Ctx.BATCH] = 0
            jit.release()
            self.world.store()
            if output is not None:
                output.used = int(block[BatchWord.OUT_POS])
        return BatchRun(self.verdicts[:count], self.out_lengths[:count],
                        self.redirect_slots[:count] if self.redirect_slots is not None else None, out_offsets,
                        self.trace.lines if self.trace is not None else {})


def _at_packet(exc: BaseException, index: int) -> BaseException:
    exc.packet_index = index
    if hasattr(exc, "add_note"):
        exc.add_note(f"while running packet {index} of the batch")
    return exc


# --- in-memory batches (the API, benchmarks, tests) -------------------------------------------


@dataclass
class PacketBatch:
    """Packets packed in one buffer (offsets and lengths beside it)."""

    buf: np.ndarray
    offsets: np.ndarray  #: int64
    lengths: np.ndarray  #: uint32

    @classmethod
    def from_packets(cls, packets: Iterable[bytes], headroom: int = 0) -> PacketBatch:
        """Pack ``packets`` (``headroom`` is accepted for compatibility: runs copy each packet
        into a frame with the kernel's headroom)."""
        if headroom < 0:
            raise ContextError(f"headroom must be >= 0, not {headroom}")
        packets = [bytes(p) for p in packets]
        lengths = np.array([len(p) for p in packets], dtype=np.uint32)
        offsets = np.zeros(len(packets), dtype=np.int64)
        if len(packets) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        buf = np.frombuffer(b"".join(packets) or b"\0", dtype=np.uint8).copy()
        return cls(buf, offsets, lengths)

    def __len__(self) -> int:
        return len(self.offsets)

    def packet(self, i: int) -> bytes:
        start = int(self.offsets[i])
        return self.buf[start:start + int(self.lengths[i])].tobytes()


@dataclass
class BatchResult:
    verdicts: np.ndarray  #: uint32 r0 per packet (0 for packets the kernel would refuse)
    out_lengths: np.ndarray  #: uint32 length of each packet after its run (0: refused)
    out: np.ndarray  #: every packet after its run, as pcap records
    out_offsets: np.ndarray  #: each packet's record offset in ``out``
    batch: PacketBatch
    redirects: np.ndarray | None = None

    def packet(self, i: int) -> bytes | None:
        """Packet ``i`` after its run (data_meta..data_end), None for a refused packet."""
        at = int(self.out_offsets[i])
        if at < 0:
            return None
        return self.out[at + 16:at + 16 + int(self.out_lengths[i])].tobytes()


def run_batch(jit: Any, packets: PacketBatch | Iterable[bytes], *, ingress_ifindex: int = 1,
              rx_queue_index: int = 0) -> BatchResult:
    """Run ``jit`` (a :class:`~ebpflite.jit.compiler.JitProgram` of a Linux XDP program) on every packet.

    As before frames existed, the batch is rewritten "in place" from the caller's view: on
    return ``batch.packet(i)`` is packet ``i`` after its run (its buffer, offsets and lengths
    now describe the outputs; a refused packet reads as empty), and so is
    :meth:`BatchResult.packet`."""
    batch = packets if isinstance(packets, PacketBatch) else PacketBatch.from_packets(packets)
    n = len(batch)
    output = BatchOutput(np.zeros(int(batch.lengths.sum(dtype=np.int64)) + 16 * n + OUT_RECORD_MAX, dtype=np.uint8),
                         keep=(1 << 64) - 1)
    out_offsets = np.full(n, -1, dtype=np.int64)
    with BatchRunner(jit, capacity=max(1, n), redirects=True, ingress_ifindex=ingress_ifindex,
                     rx_queue_index=rx_queue_index) as runner:
        run = runner.run(batch.buf, batch.offsets, batch.lengths, output=output, out_offsets=out_offsets)
        result = BatchResult(run.verdicts.copy(), run.out_lengths.copy(), output.buf[:output.used], out_offsets,
                             batch, run.redirects.copy() if run.redirects is not None else None)
    batch.buf = result.out
    batch.offsets = np.where(out_offsets >= 0, out_offsets + 16, 0)
    batch.lengths = result.out_lengths.copy()
    return result
