"""Native record walkers for the streaming capture reader (helpers/pcap.py).

Finding the records of a capture is a sequential walk (each record's length
says where the next one starts), which costs about a microsecond per packet
in Python: as much as running the program. So the walk over one chunk of
the file is a small native loop, built with llvmlite the first time a
capture is streamed (about 20 ms of CPU) and shared by the process; with
:data:`object_cache` set (the runtime gives it the JIT's disk cache) later
processes load the machine code instead (about 2 ms). It
writes, per packet, the data's offset in the chunk, the captured and wire
lengths, the timestamp and the interface into numpy arrays, and stops at the
first record it cannot finish in this chunk or must leave to Python:

- ``NEED_MORE``: the next record runs past the end of the chunk (the reader
  moves it to the front of the buffer and reads on);
- ``CORRUPT``: a length no valid record has (the reader raises a
  :class:`~ebpflite.errors.PcapError` naming the record and its offset);
- ``OTHER`` (pcapng only): a block that is not an enhanced or simple packet
  block on an Ethernet interface the walker was told about (section and
  interface headers, obsolete packet blocks, statistics, other link types):
  the reader handles that one block in Python and calls the walker again;
- ``FULL``: ``max_packets`` packets were indexed.

Both walkers follow helpers/pcap.py's per-packet reader exactly (the
differential tests in tests/test_pcap_stream.py compare the two), with
timestamps in nanoseconds for pcap and in interface units for pcapng (the
reader converts them with the interface's resolution).
"""

from __future__ import annotations

import ctypes
import threading
from enum import IntEnum

import numpy as np


class Scan(IntEnum):
    """Why a walker stopped (``state[1]``)."""

    NEED_MORE = 0
    CORRUPT = 1
    OTHER = 2
    FULL = 3


#: flags word
SWAP = 1  #: the file's byte order is not the host's (big-endian file on x86)
NANO = 2  #: pcap timestamps are in nanoseconds
#: set in a pcapng packet's interface word for simple packet blocks (interface 0, no timestamp)
SPB_MARK = 1 << 31

PCAP_NAME = "pcap_walk"
PCAPNG_NAME = "pcapng_walk"
# u64 walk(buf, len, pos, flags, max_n, limit, offsets*, caplen*, origlen*, ts*, iface*, state*, ifaces*, n_ifaces)
_ARGS = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
         ctypes.c_void_p, ctypes.c_uint64]
WALK_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, *_ARGS)

_lock = threading.Lock()
_compiled: dict[str, object] = {}

#: where the walkers' machine code may be kept between processes: an object with
#: ``load(key) -> bytes | None`` and ``store(key, bytes)`` (the runtime sets the JIT's disk cache,
#: jit/diskcache.py, which checks entries before LLVM sees them), with the toolchain's
#: fingerprint for the key; None builds them in every process (about 20 ms of CPU)
object_cache: tuple[object, str] | None = None


def _build(module):
    """Both walkers in one module."""
    import llvmlite.ir as ir

    i1, i8, i32, i64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
    ptr = ir.PointerType()
    fnty = ir.FunctionType(i64, [ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64])
    bswap32 = module.declare_intrinsic("llvm.bswap", [i32])

    def c(ty, v):
        return ir.Constant(ty, v)

    def walker(name: str, body):
        fn = ir.Function(module, fnty, name)
        (buf, length, pos0, flags, max_n, limit, offs, caps, origs, tss, ifs, state, ifaces, n_ifaces) = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        b = ir.IRBuilder(entry)
        swap = b.icmp_unsigned("!=", b.and_(flags, c(i64, 1)), c(i64, 0))
        nano = b.icmp_unsigned("!=", b.and_(flags, c(i64, 2)), c(i64, 0))
        b.branch(loop)
        b.position_at_end(loop)
        pos = b.phi(i64, "pos")
        n = b.phi(i64, "n")
        pos.add_incoming(pos0, entry)
        n.add_incoming(c(i64, 0), entry)

        def u32(at):
            raw = b.load(b.gep(buf, [at], source_etype=i8), typ=i32, align=1)
            return b.zext(b.select(swap, b.call(bswap32, [raw]), raw), i64)

        def stop(status) -> ir.Block:
            block = fn.append_basic_block(f"stop_{int(status)}")
            saved = b.block
            b.position_at_end(block)
            b.store(pos, state)
            b.store(c(i64, int(status)), b.gep(state, [c(i64, 1)], source_etype=i64))
            b.ret(n)
            b.position_at_end(saved)
            return block

        def check(cond, status, name: str) -> None:
            """Stop with ``status`` when ``cond`` holds."""
            cont = fn.append_basic_block(name)
            b.cbranch(cond, stop(status), cont)
            b.position_at_end(cont)

        def emit(data_at, caplen, origlen, ts, iface, next_pos) -> None:
            for array, value, ty in ((offs, data_at, i64), (caps, caplen, i32), (origs, origlen, i32),
                                     (tss, ts, i64), (ifs, iface, i32)):
                v = value if ty is i64 else b.trunc(value, ty)
                b.store(v, b.gep(array, [n], source_etype=ty))
            pos.add_incoming(next_pos, b.block)
            n.add_incoming(b.add(n, c(i64, 1)), b.block)
            b.branch(loop)

        check(b.icmp_unsigned(">=", n, max_n), Scan.FULL, "room")
        body(b, c, u32, check, emit, dict(buf=buf, length=length, pos=pos, nano=nano, limit=limit,
                                            ifaces=ifaces, n_ifaces=n_ifaces, i1=i1, i8=i8, i32=i32, i64=i64))
        return fn

    def pcap_body(b, c, u32, check, emit, v):
        i64, pos, length = v["i64"], v["pos"], v["length"]
        remain = b.sub(length, pos)
        check(b.icmp_unsigned("<", remain, c(i64, 16)), Scan.NEED_MORE, "header")
        caplen = u32(b.add(pos, c(i64, 8)))
        check(b.icmp_unsigned(">", caplen, v["limit"]), Scan.CORRUPT, "sane")
        check(b.icmp_unsigned(">", caplen, b.sub(remain, c(i64, 16))), Scan.NEED_MORE, "whole")
        sec, frac = u32(pos), u32(b.add(pos, c(i64, 4)))
        ts = b.add(b.mul(sec, c(i64, 1_000_000_000)), b.mul(frac, b.select(v["nano"], c(i64, 1), c(i64, 1000))))
        data = b.add(pos, c(i64, 16))
        emit(data, caplen, u32(b.add(pos, c(i64, 12))), ts, c(i64, 0), b.add(data, caplen))

    def pcapng_body(b, c, u32, check, emit, v):
        i64, pos, length = v["i64"], v["pos"], v["length"]
        remain = b.sub(length, pos)
        check(b.icmp_unsigned("<", remain, c(i64, 12)), Scan.NEED_MORE, "header")
        btype, blen = u32(pos), u32(b.add(pos, c(i64, 4)))
        is_epb = b.icmp_unsigned("==", btype, c(i64, 6))
        check(b.not_(b.or_(is_epb, b.icmp_unsigned("==", btype, c(i64, 3)))), Scan.OTHER, "packet_block")
        bad_len = b.or_(b.icmp_unsigned("<", blen, c(i64, 12)),
                        b.icmp_unsigned("!=", b.and_(blen, c(i64, 3)), c(i64, 0)))
        check(b.or_(bad_len, b.icmp_unsigned(">", blen, v["limit"])), Scan.OTHER, "block_length")
        check(b.icmp_unsigned(">", blen, remain), Scan.NEED_MORE, "whole")
        end = b.add(pos, blen)
        check(b.icmp_unsigned("!=", u32(b.sub(end, c(i64, 4))), blen), Scan.OTHER, "trailer")
        # interface table: per interface a u64 (snaplen << 1 | Ethernet?)
        fixed = b.select(is_epb, c(i64, 20), c(i64, 4))
        body_len = b.sub(blen, c(i64, 12))
        check(b.icmp_unsigned("<", body_len, fixed), Scan.OTHER, "long_enough")
        iface = b.select(is_epb, u32(b.add(pos, c(i64, 8))), c(i64, 0))
        check(b.icmp_unsigned(">=", iface, v["n_ifaces"]), Scan.OTHER, "known_iface")
        entry = b.load(b.gep(v["ifaces"], [iface], source_etype=i64), typ=i64)
        check(b.icmp_unsigned("==", b.and_(entry, c(i64, 1)), c(i64, 0)), Scan.OTHER, "ethernet")
        room = b.sub(body_len, fixed)
        ts = b.select(is_epb, b.or_(b.shl(u32(b.add(pos, c(i64, 12))), c(i64, 32)), u32(b.add(pos, c(i64, 16)))),
                      c(i64, 0))
        origlen = b.select(is_epb, u32(b.add(pos, c(i64, 24))), u32(b.add(pos, c(i64, 8))))
        epb_cap = u32(b.add(pos, c(i64, 20)))
        # an EPB whose captured length exceeds its block goes to Python, which names it
        check(b.and_(is_epb, b.icmp_unsigned(">", epb_cap, room)), Scan.OTHER, "fits")
        spb_cap = b.select(b.icmp_unsigned("<", origlen, room), origlen, room)
        snaplen = b.lshr(entry, c(i64, 1))
        spb_cap = b.select(b.and_(b.icmp_unsigned("!=", snaplen, c(i64, 0)), b.icmp_unsigned("<", snaplen, spb_cap)),
                           snaplen, spb_cap)
        caplen = b.select(is_epb, epb_cap, spb_cap)
        # simple packet blocks are marked in the interface word (they have no timestamp)
        iface_word = b.select(is_epb, iface, c(i64, SPB_MARK))
        emit(b.add(b.add(pos, c(i64, 8)), fixed), caplen, origlen, ts, iface_word, end)

    walker(PCAP_NAME, pcap_body)
    walker(PCAPNG_NAME, pcapng_body)


def walkers() -> dict[str, object]:
    """``{name: ctypes function}`` of the compiled walkers (compiled once per process)."""
    with _lock:
        if _compiled:
            return _compiled
        import llvmlite.binding as llvm
        import llvmlite.ir as ir

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        cache, key = _cache_key()
        obj = cache.load(key) if cache is not None else None
        if obj is not None:  # a later process: the machine code as a first one built it
            tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                              features=llvm.get_host_cpu_features().flatten(), opt=1, jit=True)
            empty = llvm.parse_assembly("")
            empty.triple = tm.triple
            engine = llvm.create_mcjit_compiler(empty, tm)
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            return _keep(engine)
        module = ir.Module(name="ebpflite_pcap")
        _build(module)
        # The walkers are built in SSA form already (phis, no allocas) and their loops are
        # bound by copying the file: the IR optimiser and codegen -O2 change nothing measurable
        # in the walk (1M records: 0.06-0.08 s of CPU either way) but triple the build time
        # every process pays (0.06 s vs 0.02 s), so the IR is not optimised and codegen is -O1.
        tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                          features=llvm.get_host_cpu_features().flatten(), opt=1, jit=True)
        parsed = llvm.parse_assembly(str(module))
        parsed.triple = tm.triple
        parsed.data_layout = str(tm.target_data)
        if cache is not None:
            cache.store(key, tm.emit_object(parsed))
        engine = llvm.create_mcjit_compiler(parsed, tm)
        engine.finalize_object()
        return _keep(engine)


def _keep(engine) -> dict[str, object]:
    _compiled["engine"] = engine  # keeps the code alive
    for name in (PCAP_NAME, PCAPNG_NAME):
        _compiled[name] = WALK_TYPE(engine.get_function_address(name))
    return _compiled


def _cache_key() -> tuple[object | None, str]:
    """(the cache, the key of this module's walkers: its source and the toolchain)."""
    if object_cache is None:
        return None, ""
    import hashlib
    from pathlib import Path

    cache, toolchain = object_cache
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(toolchain.encode())
    return cache, "pcapscan-" + h.hexdigest()


class Walker:
    """Output arrays for up to ``capacity`` packets and a call into one native walker."""

    def __init__(self, name: str, capacity: int):
        self.fn = walkers()[name]
        self.capacity = capacity
        self.offsets = np.zeros(capacity, dtype=np.int64)
        self.caplens = np.zeros(capacity, dtype=np.uint32)
        self.origlens = np.zeros(capacity, dtype=np.uint32)
        self.ts = np.zeros(capacity, dtype=np.uint64)
        self.ifaces = np.zeros(capacity, dtype=np.uint32)
        self.state = np.zeros(2, dtype=np.uint64)
        self.iface_table = np.zeros(1, dtype=np.uint64)

    def set_interfaces(self, entries: list[tuple[bool, int]]) -> None:
        """(Ethernet?, snaplen) per interface of the current pcapng section."""
        table = np.zeros(max(1, len(entries)), dtype=np.uint64)
        for i, (ethernet, snaplen) in enumerate(entries):
            table[i] = (snaplen << 1) | int(ethernet)
        self.iface_table = table
        self._n_ifaces = len(entries)

    def walk(self, buf: np.ndarray, length: int, pos: int, flags: int, start: int, limit: int) -> tuple[int, int, Scan]:
        """Index records from ``pos`` into the arrays from slot ``start``: (packets, stop position, why)."""
        n = self.fn(buf.ctypes.data, length, pos, flags, self.capacity - start, limit,
                    self.offsets.ctypes.data + 8 * start, self.caplens.ctypes.data + 4 * start,
                    self.origlens.ctypes.data + 4 * start, self.ts.ctypes.data + 8 * start,
                    self.ifaces.ctypes.data + 4 * start, self.state.ctypes.data, self.iface_table.ctypes.data,
                    getattr(self, "_n_ifaces", 0))
        return int(n), int(self.state[0]), Scan(int(self.state[1]))
