"""Replaying packets through one program: the one path ``ebpflite xdp``, ``ebpflite bench --pcap``,
the API (:meth:`ebpflite.api.ProgramHandle.replay`) and the pytest plugin share.

A :class:`Replayer` decides once, for a program and an engine, how packets
go through it:

- **batch**: the JIT's one-native-call loop (``jit/batch.py``) over a chunk
  of packets at a time. Only when the program type's :class:`PacketHook`
  allows it (the Linux ``xdp_md``, which the native loop rewrites per
  packet), the engine is the JIT, no per-packet records are asked for, and
  the program is batch-safe (:func:`batch_blocker`): verified (the batch
  buffer is one region, so only the verifier's ``data_end`` checks keep
  packets apart) and calling only helpers that read no per-packet Python
  state. Frames the context would refuse (the hook's length rule) are
  counted ``invalid`` without running, as a per-packet run counts them.
- **per packet**: one ``run()`` per packet through the program's
  :class:`~ebpflite.runtime.runner.ProgramRunner`, which builds the context,
  sets the CPU and reads the result back; a packet the context refuses
  (:class:`~ebpflite.errors.ContextError`) counts as ``invalid``.

Both give a :class:`Replay`: action counts, the packets that go on (the
hook's ``keep`` actions, after any rewrite, timestamps kept; a hook's
``verdict`` decides instead where the action name does not say it alone, as
for a socket filter, whose return value is the number of bytes to keep),
and, on request, one :class:`PacketRecord` per packet. Packets come from any
iterable (a list, or a generator that streams a capture); the batch path
consumes it ``chunk_size`` packets at a time, so memory stays bounded. A
program-type hook is one entry in :data:`PACKET_HOOKS`.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from ebpflite.helpers import registry
from ebpflite.helpers.contexts import ETH_HLEN, XDP_HEADROOM, XDP_MAX_DATA
from ebpflite.helpers.pcap import Packet
from ebpflite.helpers.skb import MAX_DATA_IN as SKB_MAX_DATA_IN
from ebpflite.vm.contexts import descriptor
from ebpflite.vm.errors import ContextError, EbpfError
from ebpflite.vm.isa import Kind

if TYPE_CHECKING:
    from ebpflite.jit.batch import BatchResult, PacketBatch
    from ebpflite.runtime.runner import ProgramRunner

#: a packet to replay: raw bytes or a captured :class:`~ebpflite.helpers.pcap.Packet`
PacketLike = Union[bytes, bytearray, memoryview, Packet]

#: helpers a batch replay may call: they read no per-packet Python state (env.state["ctx"], ...)
BATCH_SAFE_HELPERS = frozenset({"bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem",
                                "bpf_ktime_get_ns", "bpf_get_prandom_u32", "bpf_get_smp_processor_id",
                                "bpf_csum_diff"})

#: packets packed into one native batch call (bounded memory for long captures)
CHUNK_SIZE = 16384


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
    """What one packet did (per-packet mode only): the fields of ``ebpflite xdp --json``."""

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
    kept: list[PacketLike] = field(default_factory=list)  #: packets after a ``keep`` action, rewritten
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
        return "the program is not verified (only the verifier keeps batched packets apart)"
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


def _data(packet: PacketLike) -> bytes:
    return packet.data if isinstance(packet, Packet) else bytes(packet)


def _rewritten(packet: PacketLike, data: bytes) -> PacketLike:
    """The packet after the program, keeping a capture's timestamp."""
    return Packet(data, packet.ts_ns) if isinstance(packet, Packet) else data


def _chunks(packets: Iterable[PacketLike], size: int) -> Iterator[list[PacketLike]]:
    it = iter(packets)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


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
        if blocker is None and records:
            blocker = "per-packet records need one run per packet"
        if batch and blocker is not None:
            raise ValueError(f"batch replay is not possible: {blocker}")
        self.blocker = blocker
        self.mode = "batch" if blocker is None and batch is not False else "per-packet"

    def run(self, packets: Iterable[PacketLike], *,
            on_record: Callable[[PacketRecord], None] | None = None) -> Replay:
        """Replay ``packets``; ``on_record`` sees each record as it is made (per-packet mode).

        An engine failure (not a refused frame) stops the replay: the exception's
        ``packet_index`` is the index of the failing packet in the source."""
        replay = Replay(self.mode, records=[] if self.records else None)
        if self.mode == "batch":
            self._run_batches(packets, replay)
        else:
            self._run_each(packets, replay, on_record)
        return replay

    # -- per packet ---------------------------------------------------------------------------
    def _run_each(self, packets: Iterable[PacketLike], replay: Replay,
                  on_record: Callable[[PacketRecord], None] | None) -> None:
        runner = self.runner
        for index, packet in enumerate(packets):
            replay.packets += 1
            try:
                res = runner.run(packet=_data(packet))
            except ContextError as exc:
                replay.counts["invalid"] += 1
                record = PacketRecord(index, error=str(exc))
            except EbpfError as exc:
                exc.packet_index = index
                raise
            else:
                action, out = self.hook.judge(res, _data(packet))
                replay.counts[action] += 1
                if out is not None:
                    replay.kept.append(_rewritten(packet, out))
                # a verdict hook reports what goes on (a dropped socket packet keeps 0 bytes)
                length = len(out) if out is not None else 0 if self.hook.verdict else len(res.packet or b"")
                record = PacketRecord(index, res.return_value, action, length, res.insns_executed,
                                      res.redirect, res.trace_output)
            if replay.records is not None:
                replay.records.append(record)
            if on_record is not None:
                on_record(record)

    # -- batch ----------------------------------------------------------------------------------
    def prepare(self, packets: Sequence[PacketLike]) -> tuple[PacketBatch, list[int]]:
        """Pack the frames the context accepts; returns the batch and their indexes in ``packets``."""
        from ebpflite.jit.batch import PacketBatch

        valid = [i for i, packet in enumerate(packets) if self.hook.accepts(len(_data(packet)))]
        return PacketBatch.from_packets((_data(packets[i]) for i in valid), headroom=XDP_HEADROOM), valid

    def run_batch(self, batch: PacketBatch) -> BatchResult:
        """One native call over a prepared batch, on the runner's CPU (as per-packet runs are)."""
        from ebpflite.helpers.maps import layout
        from ebpflite.jit.batch import run_batch

        layout.set_current_cpu(self.runner.cpu)
        return run_batch(self.runner.engine, batch, ingress_ifindex=self.hook.ingress_ifindex)

    def _run_batches(self, packets: Iterable[PacketLike], replay: Replay) -> None:
        keep, start = self.hook.keep, 0
        for chunk in _chunks(packets, self.chunk_size):
            replay.packets += len(chunk)
            batch, valid = self.prepare(chunk)
            replay.counts["invalid"] += len(chunk) - len(valid)
            if valid:
                replay.native_calls += 1
                try:
                    result = self.run_batch(batch)
                except EbpfError as exc:
                    if exc.packet_index is not None and exc.packet_index < len(valid):
                        exc.packet_index = start + valid[exc.packet_index]
                    raise
                for n, i in enumerate(valid):
                    verdict = int(result.verdicts[n])
                    action = self.actions.get(verdict, str(verdict))
                    replay.counts[action] += 1
                    if action in keep:
                        replay.kept.append(_rewritten(chunk[i], batch.packet(n)))
            start += len(chunk)
        if not replay.counts["invalid"]:
            del replay.counts["invalid"]
