"""Replaying packets through one program: the one path ``ebpflite xdp``, ``ebpflite bench --pcap``,
the API (:meth:`ebpflite.api.ProgramHandle.replay`) and the pytest plugin share.

Packets arrive in *chunks*: arrays of offsets, lengths and timestamps over one
buffer. A capture file (a path or a :class:`~ebpflite.helpers.pcap.CaptureStream`)
is read that way straight from the file, a chunk at a time, so memory stays
bounded whatever its size; any other iterable of packets (bytes, captured
:class:`~ebpflite.helpers.pcap.Packet` objects, built frames) is packed into
chunks as it is consumed.

A :class:`Replayer` decides once, for a program and an engine, how a chunk
goes through it:

- **batch**: the JIT's native loop (jit/batch.py ``BatchRunner``) runs the
  whole chunk in one call: each packet in a kernel-sized frame, map and
  helper calls native (jit/native*.py), verdicts, lengths and redirects
  written to arrays and the packets that go on appended to an output
  buffer as pcap records. Allowed when the program type's
  :class:`PacketHook` has a batch loop (the Linux ``xdp_md``), the engine is
  the JIT, the program is verified and every helper it calls is in
  :data:`BATCH_SAFE_HELPERS` (native in batch runs, or harmless as a Python
  callback there).
- **per packet**: one ``run()`` per packet through the program's
  :class:`~ebpflite.runtime.runner.ProgramRunner` (the interpreter, or
  helpers that need the Python context): the same chunks, the same outputs.

Frames the context refuses (shorter than an Ethernet header, longer than a
linear frame) count as ``invalid`` in both. Both give a :class:`Replay`:
action counts, redirect targets, the packets that went on (written to an
``out`` capture as they come, and/or kept in a list), what the capture
reader skipped, and on request one :class:`PacketRecord` per packet (the
``--json`` lines, handed to ``on_record`` as they are made).
"""

from __future__ import annotations

import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

import numpy as np

from ebpflite.helpers import registry
from ebpflite.helpers.contexts import ETH_HLEN, XDP_MAX_DATA, xdp_refusal
from ebpflite.helpers.pcap import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_CHUNK_PACKETS,
    CaptureStream,
    Packet,
    PacketChunk,
)
from ebpflite.helpers.skb import MAX_DATA_IN as SKB_MAX_DATA_IN
from ebpflite.vm.contexts import descriptor
from ebpflite.vm.errors import ContextError, EbpfError
from ebpflite.vm.isa import Kind

if TYPE_CHECKING:
    from ebpflite.runtime.runner import ProgramRunner

#: a packet to replay: raw bytes or a captured :class:`~ebpflite.helpers.pcap.Packet`
PacketLike = Union[bytes, bytearray, memoryview, Packet]
#: what can be replayed: a capture file, an open capture stream, or packets
Source = Union[str, Path, CaptureStream, Iterable[Any]]

#: helpers a batch replay may call. Most are native in batch runs (jit/native*.py); the map
#: helpers fall back to Python callbacks for the map types they do not handle natively, which
#: read no per-packet state; bpf_trace_printk stays Python, its lines noted per packet.
BATCH_SAFE_HELPERS = frozenset({
    "bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem",
    "bpf_map_push_elem", "bpf_map_pop_elem", "bpf_map_peek_elem",
    "bpf_ktime_get_ns", "bpf_ktime_get_boot_ns", "bpf_ktime_get_coarse_ns", "bpf_ktime_get_tai_ns",
    "bpf_jiffies64", "bpf_get_prandom_u32", "bpf_get_smp_processor_id", "bpf_get_numa_node_id",
    "bpf_csum_diff", "bpf_xdp_adjust_head", "bpf_xdp_adjust_tail", "bpf_xdp_adjust_meta",
    "bpf_xdp_get_buff_len", "bpf_xdp_load_bytes", "bpf_xdp_store_bytes", "bpf_redirect", "bpf_redirect_map",
    "bpf_ringbuf_output", "bpf_ringbuf_reserve", "bpf_ringbuf_submit", "bpf_ringbuf_discard",
    "bpf_ringbuf_query", "bpf_tail_call", "bpf_perf_event_output", "bpf_trace_printk",
})

#: packets per chunk (one native call each in batch mode) and bytes read from a capture per chunk:
#: the stream's defaults, sized so a chunk stays in the CPU caches from reading to replaying
CHUNK_SIZE = DEFAULT_CHUNK_PACKETS
CHUNK_BYTES = DEFAULT_CHUNK_BYTES
#: the batch output buffer for a streamed ``out`` capture (flushed to the file when full)
OUT_BUFFER = 4 << 20


#: (result, the frame that went in) -> (label, the frame that goes on, or None)
Verdict = Callable[[Any, bytes], tuple[str, Union[bytes, None]]]


@dataclass(frozen=True)
class PacketHook:
    """How a program type takes packets one after another."""

    keep: frozenset[str]  #: actions after which the packet goes on (written to ``--out``)
    batch: bool = False  #: the JIT batch loop can run it (it rewrites a Linux ``xdp_md`` per packet)
    min_len: int = 0  #: shortest frame the context accepts
    max_len: int | None = None  #: longest frame the context accepts (None: no limit)
    ingress_ifindex: int = 1  #: what the per-packet context reports (XdpContext's default)
    #: how a result becomes a label and an outgoing frame when the action name does not say
    #: it alone (a socket filter's return value is the number of bytes to keep)
    verdict: Verdict | None = None

    def accepts(self, length: int) -> bool:
        return self.min_len <= length and (self.max_len is None or length <= self.max_len)

    def judge(self, res: Any, frame: bytes) -> tuple[str, bytes | None]:
        """(label, the frame that goes on or None) for one run."""
        if self.verdict is not None:
            return self.verdict(res, frame)
        action = res.action or str(res.return_value)
        return action, res.packet if action in self.keep else None


def _socket_verdict(res: Any, frame: bytes) -> tuple[str, bytes | None]:
    """A socket filter keeps the first ``retval`` bytes from the network header (0 drops); the
    frame that goes on is the original Ethernet header and those bytes."""
    network = frame[ETH_HLEN:]
    kept = res.return_value
    if kept == 0:
        return "dropped", None
    if kept >= len(network):
        return "kept", frame
    return "trimmed", frame[:ETH_HLEN] + network[:kept]


def _l3_verdict(res: Any, frame: bytes) -> tuple[str, bytes | None]:
    """cgroup skb: SK_PASS lets the packet on; BPF_PROG_TEST_RUN's data_out carries a zeroed
    Ethernet header in front of the network header, so the frame keeps its original one."""
    action = res.action or str(res.return_value)
    return action, frame[:ETH_HLEN] + res.packet[ETH_HLEN:] if action == "SK_PASS" else None


_XDP_KEEP = frozenset({"XDP_PASS", "XDP_TX"})
#: tc: the packet goes on after OK, UNSPEC (the default action) and PIPE (the next action)
_TC_KEEP = frozenset({"TC_ACT_OK", "TC_ACT_UNSPEC", "TC_ACT_PIPE"})

#: (platform, program type) -> hook; a program type missing here cannot be replayed
PACKET_HOOKS: dict[tuple[str, str], PacketHook] = {
    ("linux", "xdp"): PacketHook(_XDP_KEEP, batch=True, min_len=ETH_HLEN, max_len=XDP_MAX_DATA),
    ("windows", "xdp"): PacketHook(_XDP_KEEP, min_len=ETH_HLEN, max_len=XDP_MAX_DATA),
    ("linux", "sched_cls"): PacketHook(_TC_KEEP, min_len=ETH_HLEN, max_len=SKB_MAX_DATA_IN),
    ("linux", "sched_act"): PacketHook(_TC_KEEP, min_len=ETH_HLEN, max_len=SKB_MAX_DATA_IN),
    ("linux", "socket_filter"): PacketHook(frozenset({"kept", "trimmed"}), min_len=ETH_HLEN,
                                           max_len=SKB_MAX_DATA_IN, verdict=_socket_verdict),
    ("linux", "cgroup_skb"): PacketHook(frozenset({"SK_PASS"}), min_len=ETH_HLEN, max_len=SKB_MAX_DATA_IN,
                                        verdict=_l3_verdict),
}


@dataclass
class PacketRecord:
    """What one packet did: the fields of ``ebpflite xdp --json``."""

    index: int
    retval: int | None = None
    action: str | None = None
    length: int = 0
    insns: int = 0
    redirect: dict | None = None
    trace: list[str] = field(default_factory=list)
    error: str | None = None  #: why the context refused the packet (it counts as ``invalid``)

    def as_dict(self) -> dict:
        if self.error is not None:
            return {"index": self.index, "error": self.error}
        return {"index": self.index, "retval": self.retval, "action": self.action, "length": self.length,
                "insns": self.insns, "redirect": self.redirect, "trace": self.trace}


@dataclass
class Replay:
    """The outcome of a replay."""

    mode: str  #: ``"batch"`` or ``"per-packet"``
    packets: int = 0  #: packets read from the source
    counts: Counter[str] = field(default_factory=Counter)  #: action name (or return value) -> packets
    kept: list[PacketLike] = field(default_factory=list)  #: packets after a ``keep`` action (``keep=True``)
    written: int = 0  #: packets written to ``out``
    redirects: Counter[str] = field(default_factory=Counter)  #: redirect target -> packets
    skipped: dict[str, int] = field(default_factory=dict)  #: records the capture reader skipped, by reason
    warnings: list[str] = field(default_factory=list)  #: what the reader said about them
    records: list[PacketRecord] | None = None  #: one per packet when asked for
    native_calls: int = 0  #: batch mode: calls into the native loop

    @property
    def note(self) -> str | None:
        """How the packets ran, for a report title (None for the plain per-packet path)."""
        if self.mode != "batch":
            return None
        calls = "one native call" if self.native_calls <= 1 else f"{self.native_calls} native calls"
        return f"batch mode: {calls}"


def packet_hook(program: Any) -> PacketHook | None:
    """The hook of ``program``'s type on its platform, or None when it takes no packets."""
    return PACKET_HOOKS.get((program.platform, program.prog_type))


def batch_blocker(program: Any) -> str | None:
    """Why ``program`` cannot run in the JIT batch loop, or None when it can."""
    hook = packet_hook(program)
    if hook is None or not hook.batch:
        return f"{program.platform} {program.prog_type} programs have no batch loop"
    if not program.verified:
        return "the program is not verified (the batch loop runs verified code unchecked)"
    table = registry.profile(program.platform)
    for insn in program.insns:
        if insn.kind is Kind.CALL_LOCAL:
            continue
        if insn.kind.name.startswith("CALL") or insn.kind in (Kind.LD_ABS, Kind.LD_IND):
            spec = table.get(insn.imm) if insn.kind is Kind.CALL else None
            if spec is None or spec.name not in BATCH_SAFE_HELPERS:
                what = spec.name if spec is not None else insn.kind.name.lower()
                return f"instruction {insn.pc} uses {what}, which needs per-packet state"
    return None


# --- sources: chunks of arrays ----------------------------------------------------------------


@dataclass
class _Chunk:
    """A chunk and, for packet sources, the packets themselves (kept packets keep their type)."""

    arrays: PacketChunk
    items: list[Any] | None = None


def _pack(items: list[Any], first: int) -> _Chunk:
    datas = [it.data if isinstance(it, Packet) else bytes(it) for it in items]
    lengths = np.array([len(d) for d in datas], dtype=np.uint32)
    offsets = np.zeros(len(datas), dtype=np.int64)
    if len(datas) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    buf = np.frombuffer(b"".join(datas) or b"\0", dtype=np.uint8)
    ts = np.array([it.ts_ns if isinstance(it, Packet) else 0 for it in items], dtype=np.uint64)
    orig = np.array([it.orig_len if isinstance(it, Packet) else len(d) for it, d in zip(items, datas, strict=True)],
                    dtype=np.uint32)
    return _Chunk(PacketChunk(buf, offsets, lengths, orig, ts, np.zeros(len(items), dtype=np.uint32), first, 0), items)


def _share_walkers() -> None:
    """Keep the capture walkers' machine code in the JIT's disk cache (on by default; see
    jit/diskcache.py), so a replay after the first loads them instead of building them. Only
    for batch replays: the JIT is loaded then anyway."""
    from ebpflite.helpers import pcapscan
    from ebpflite.jit.diskcache import DiskCache, default_directory, toolchain_fingerprint

    directory = default_directory()
    pcapscan.object_cache = (DiskCache(directory), toolchain_fingerprint()) if directory is not None else None


def _chunks(source: Source, size: int) -> tuple[Iterator[_Chunk], CaptureStream | None]:
    """Chunks of ``source`` and the capture stream behind them (None for packet sources)."""
    if isinstance(source, (str, Path)):
        source = CaptureStream(source, chunk_bytes=CHUNK_BYTES, chunk_packets=size)
    if isinstance(source, CaptureStream):
        stream = source
        return (_Chunk(chunk) for chunk in stream), stream

    def packed() -> Iterator[_Chunk]:
        items: list[Any] = []
        first = 0
        for item in source:
            items.append(item)
            if len(items) == size:
                yield _pack(items, first)
                first += len(items)
                items = []
        if items:
            yield _pack(items, first)

    return packed(), None


# --- outputs ------------------------------------------------------------------------------------

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """The ``out`` capture, written as packets go on: microsecond pcap records, as ``write_pcap``
    writes them (the batch loop produces the same records natively)."""

    def __init__(self, target: str | Path | IO[bytes]):
        self._own = isinstance(target, (str, Path))
        self.fh: IO[bytes] = open(target, "wb") if self._own else target  # noqa: SIM115 - closed by close()
        self.fh.write(_PCAP_HEADER)
        self.count = 0

    def records(self, blob: memoryview | bytes) -> None:
        """Records the batch loop wrote (the caller counts them)."""
        self.fh.write(blob)

    def packet(self, data: bytes, ts_ns: int) -> None:
        sec, ns = divmod(ts_ns, 1_000_000_000)
        self.fh.write(_RECORD.pack(sec & 0xFFFFFFFF, ns // 1000, len(data), len(data)))
        self.fh.write(data)
        self.count += 1

    def close(self) -> None:
        if self._own:
            self.fh.close()
        else:
            self.fh.flush()


def _kept_item(item: Any, data: bytes, ts_ns: int) -> PacketLike:
    """The packet after the program, keeping a capture's timestamp (bytes stay bytes)."""
    if item is None or isinstance(item, Packet):
        return Packet(data, ts_ns)
    return data


class Replayer:
    """One program and engine, ready to replay packets (the mode is chosen once, here)."""

    def __init__(self, runner: ProgramRunner, *, records: bool = False, batch: bool | None = None,
                 chunk_size: int = CHUNK_SIZE):
        """``batch=None`` picks batch mode whenever it is allowed; ``False`` forbids it;
        ``True`` requires it (ValueError naming the reason when it is not allowed)."""
        program = runner.program
        self.runner = runner
        self.records = records
        self.chunk_size = chunk_size
        self.hook = packet_hook(program)
        if self.hook is None:
            raise ContextError(f"program {program.name} is a {program.prog_type} program; packets can be "
                               f"replayed through {', '.join(sorted({t for _, t in PACKET_HOOKS}))} programs")
        self.actions = descriptor(program.prog_type, program.platform).actions
        blocker = batch_blocker(program)
        if blocker is None and runner.engine_name != "jit":
            blocker = f"the {runner.engine_name} engine runs packets one at a time"
        if blocker is None and getattr(runner.engine, "checked", False):
            blocker = "the JIT runs this program checked"
        if batch and blocker is not None:
            raise ValueError(f"batch replay is not possible: {blocker}")
        self.blocker = blocker
        self.mode = "batch" if blocker is None and batch is not False else "per-packet"
        self._batch_runner = None

    def run(self, packets: Source, *, on_record: Callable[[PacketRecord], None] | None = None,
            out: str | Path | IO[bytes] | None = None, keep: bool = True,
            on_chunk: Callable[[int, int], None] | None = None) -> Replay:
        """Replay ``packets`` (a capture path or stream, or any iterable of packets).

        ``out`` receives the packets that go on as a pcap, written chunk by chunk;
        ``keep`` also collects them in ``Replay.kept`` (leave it off for big captures);
        ``on_record`` sees each packet's record as it is made (with ``records=True`` they are
        also collected); ``on_chunk(packets_done, bytes_read)`` follows the progress.
        An engine failure (not a refused frame) stops the replay: the exception's
        ``packet_index`` is the index of the failing packet in the source."""
        replay = Replay(self.mode, records=[] if self.records else None)
        if self.mode == "batch":
            _share_walkers()
        chunks, stream = _chunks(packets, self.chunk_size)
        writer = PcapWriter(out) if out is not None else None
        want_records = self.records or on_record is not None
        try:
            for chunk in chunks:
                replay.packets += len(chunk.arrays)
                if self.mode == "batch":
                    self._batch(chunk, replay, writer, keep, want_records, on_record)
                else:
                    self._each(chunk, replay, writer, keep, want_records, on_record)
                if on_chunk is not None:
                    on_chunk(replay.packets, stream.bytes_read if stream is not None else 0)
        finally:
            if writer is not None:
                writer.close()
                replay.written = writer.count
            if stream is not None:
                replay.skipped = dict(stream.skipped)
                replay.warnings = list(stream.warnings)
                if isinstance(packets, (str, Path)):
                    stream.close()
            if self._batch_runner is not None:
                self._batch_runner[0].close()
                self._batch_runner = None
        if not replay.counts["invalid"]:
            del replay.counts["invalid"]
        return replay

    def time_batch(self, packets: list[bytes], rounds: int) -> tuple[float, int | None, int]:
        """``ebpflite bench``'s batch row: (ns per packet, the last verdict, packets run) of the
        native loop over ``packets``, packed once and run ``rounds`` times after a warm-up
        (batch mode only). The last verdict is None when every frame was refused."""
        from ebpflite.helpers.maps import layout
        from ebpflite.jit.batch import BatchRunner, PacketBatch

        if self.mode != "batch":
            raise ValueError(f"batch replay is not possible: {self.blocker}")
        batch = PacketBatch.from_packets(packets)
        layout.set_current_cpu(self.runner.cpu)
        with BatchRunner(self.runner.engine, capacity=len(batch)) as runner:
            run = runner.run(batch.buf, batch.offsets, batch.lengths)  # warm-up
            if not np.count_nonzero(run.out_lengths):
                return 0.0, None, 0
            start = time.perf_counter_ns()
            for _ in range(rounds):
                run = runner.run(batch.buf, batch.offsets, batch.lengths)
            elapsed = time.perf_counter_ns() - start
        return elapsed / (rounds * len(batch)), int(run.verdicts[-1]), rounds * len(batch)

    def _record(self, replay: Replay, record: PacketRecord, on_record) -> None:
        if replay.records is not None:
            replay.records.append(record)
        if on_record is not None:
            on_record(record)

    # -- per packet ---------------------------------------------------------------------------
    def _each(self, chunk: _Chunk, replay: Replay, writer: PcapWriter | None, keep: bool, want_records: bool,
              on_record) -> None:
        runner, arrays = self.runner, chunk.arrays
        for i in range(len(arrays)):
            index = arrays.first_index + i
            frame = arrays.data(i)
            try:
                res = runner.run(packet=frame)
            except ContextError as exc:
                replay.counts["invalid"] += 1
                if want_records:
                    self._record(replay, PacketRecord(index, error=str(exc)), on_record)
                continue
            except EbpfError as exc:
                exc.packet_index = index
                raise
            action, out = self.hook.judge(res, frame)
            replay.counts[action] += 1
            if res.redirect is not None:
                replay.redirects[describe_redirect(res.redirect)] += 1
            if out is not None:
                ts = int(arrays.ts_ns[i])
                if writer is not None:
                    writer.packet(out, ts)
                if keep:
                    replay.kept.append(_kept_item(chunk.items[i] if chunk.items else None, out, ts))
            if want_records:
                # a verdict hook reports what goes on (a dropped socket packet keeps 0 bytes)
                length = len(out) if out is not None else 0 if self.hook.verdict else len(res.packet or b"")
                self._record(replay, PacketRecord(index, res.return_value, action, length, res.insns_executed,
                                                  res.redirect, res.trace_output), on_record)

    # -- batch ----------------------------------------------------------------------------------
    def _batch_setup(self, writer: PcapWriter | None, keep: bool):
        from ebpflite.jit.batch import OUT_RECORD_MAX, BatchOutput, BatchRunner

        runner = BatchRunner(self.runner.engine, capacity=self.chunk_size,
                             redirects=_may_redirect(self.runner.program),
                             ingress_ifindex=self.hook.ingress_ifindex)
        self._keep_numbers = np.array([n for n, name in self.actions.items() if name in self.hook.keep and 0 <= n < 64],
                                      dtype=np.uint32)
        mask = 0
        for number in self._keep_numbers.tolist():
            mask |= 1 << number
        if keep:  # the buffer grows to hold a whole chunk's kept packets; they are picked out after
            output = BatchOutput(np.zeros(OUT_RECORD_MAX * 64, dtype=np.uint8), keep=mask)
        elif writer is not None:
            output = BatchOutput(np.zeros(OUT_BUFFER, dtype=np.uint8), keep=mask,
                                 flush=writer.records)
        else:
            output = None
        self._batch_runner = (runner, output)
        return self._batch_runner

    def _batch(self, chunk: _Chunk, replay: Replay, writer: PcapWriter | None, keep: bool, want_records: bool,
               on_record) -> None:
        from ebpflite.helpers.maps import layout

        runner, output = self._batch_runner or self._batch_setup(writer, keep)
        arrays = chunk.arrays
        n = len(arrays)
        out_offsets = np.full(n, -1, dtype=np.int64) if keep else None
        layout.set_current_cpu(self.runner.cpu)
        replay.native_calls += 1
        try:
            run = runner.run(arrays.buf, arrays.offsets, arrays.lengths, ts=arrays.ts_ns, output=output,
                             out_offsets=out_offsets)
        except EbpfError as exc:
            if exc.packet_index is not None:
                exc.packet_index += arrays.first_index
            raise
        valid = run.out_lengths != 0
        refused = int(n - np.count_nonzero(valid))
        replay.counts["invalid"] += refused
        verdicts = run.verdicts[valid] if refused else run.verdicts
        if len(verdicts) and int(verdicts.max()) < _SMALL_VERDICTS:  # the usual case: actions are small numbers
            tally = np.bincount(verdicts, minlength=1)
            values = np.flatnonzero(tally)
            pairs = zip(values.tolist(), tally[values].tolist(), strict=True)
        else:
            values, counts = np.unique(verdicts, return_counts=True)
            pairs = zip(values.tolist(), counts.tolist(), strict=True)
        for value, count in pairs:
            replay.counts[self.actions.get(value, str(value))] += count
        used = output.used if output is not None else 0
        if writer is not None:
            if used:
                writer.records(memoryview(output.buf)[:used])
            writer.count += int(np.count_nonzero(np.isin(run.verdicts[valid], self._keep_numbers)))
        self._count_redirects(run, valid, replay)
        if keep:
            for i in np.flatnonzero(out_offsets >= 0).tolist():
                at, length = int(out_offsets[i]), int(run.out_lengths[i])
                data = output.buf[at + 16:at + 16 + length].tobytes()
                replay.kept.append(_kept_item(chunk.items[i] if chunk.items else None, data, int(arrays.ts_ns[i])))
        if want_records:
            self._batch_records(arrays, run, valid, replay, on_record)

    def _count_redirects(self, run: Any, valid: np.ndarray, replay: Replay) -> None:
        slots = run.redirects
        if slots is None:
            return
        marked = slots[valid & (slots[:, 0] != 0)]
        if not len(marked):
            return
        rows, counts = np.unique(marked[:, :4], axis=0, return_counts=True)
        by_address = self.runner.env.world.maps_by_address
        for row, count in zip(rows.tolist(), counts.tolist(), strict=True):
            replay.redirects[describe_redirect(redirect_dict(row + [0], by_address))] += count

    def _batch_records(self, arrays: PacketChunk, run: Any, valid: np.ndarray, replay: Replay, on_record) -> None:
        by_address = self.runner.env.world.maps_by_address
        verdicts, lengths = run.verdicts.tolist(), run.out_lengths.tolist()
        slots = run.redirects.tolist() if run.redirects is not None else None
        for i, ok in enumerate(valid.tolist()):
            index = arrays.first_index + i
            if not ok:
                length = int(arrays.lengths[i])
                self._record(replay, PacketRecord(index, error=xdp_refusal(length)), on_record)
                continue
            verdict = verdicts[i]
            redirect = redirect_dict(slots[i], by_address) if slots is not None else None
            self._record(replay, PacketRecord(index, verdict, self.actions.get(verdict, str(verdict)), lengths[i],
                                              0, redirect, run.traces.get(i, [])), on_record)


#: verdicts below this are counted with ``numpy.bincount`` (any other with ``numpy.unique``)
_SMALL_VERDICTS = 1024
#: helpers after which a packet may carry a redirect (a tail call's target may redirect)
_REDIRECTING = frozenset({"bpf_redirect", "bpf_redirect_map", "bpf_tail_call"})


def _may_redirect(program: Any) -> bool:
    """Whether any run of ``program`` can set a redirect: the batch loop then records one slot per
    packet (five words), which programs that never redirect need not pay for."""
    table = registry.profile(program.platform)
    for insn in program.insns:
        if insn.kind is Kind.CALL:
            spec = table.get(insn.imm)
            if spec is not None and spec.name in _REDIRECTING:
                return True
    return False


def redirect_dict(slot: list[int], maps_by_address: dict[int, Any]) -> dict | None:
    """A batch redirect slot (jit/batch.py ``Redirect``) as the Python helpers record it."""
    from ebpflite.jit.batch import NO_TARGET, Redirect

    kind, a, b, c, flags = (int(v) for v in slot)
    if kind == Redirect.IFINDEX:
        return {"ifindex": a, "flags": flags}
    if kind == Redirect.MAP:
        live = maps_by_address.get(a)
        return {"map": live.name if live is not None else f"map@{a:#x}", "type": live.type if live else "?",
                "key": b, "target": None if c == NO_TARGET else c, "flags": flags}
    return None


def describe_redirect(redirect: dict | None) -> str:
    """``ifindex 3`` or ``devmap ports[1] -> 5`` (``-> none`` for a broadcast without a target)."""
    if redirect is None:
        return "none"
    if "ifindex" in redirect:
        return f"ifindex {redirect['ifindex']}"
    target = redirect.get("target")
    return f"{redirect.get('type')} {redirect.get('map')}[{redirect.get('key')}] -> " \
           f"{'none' if target is None else target}"
