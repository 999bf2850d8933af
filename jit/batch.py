"""Batch execution: one XDP program over many packets in a single native call.

Replaying a capture one ``run()`` at a time costs a Python round trip per
packet (microseconds); :func:`run_batch` packs the packets into one
low-memory buffer (:class:`PacketBatch`: offsets and lengths in numpy
arrays) and calls the compiled ``ebpf_batch`` loop once. For each packet the
native loop points the Linux ``xdp_md`` context (data, data_end, data_meta as
u32 addresses) and the packet's row of the region table at that packet, runs
the program, and stores the verdict (r0) and the packet's final offset and
length (a program may move data/data_end through adjust_head/tail helpers).
Packets are rewritten in place.

Differences from calling ``run()`` per packet, by design: the stack is not
cleared between packets (verified programs never read uninitialised stack),
the instruction budget applies per packet, and the first packet whose run
faults stops the batch; the exception carries ``packet_index``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ebpflite.jit.abi import Ctx, Status
from ebpflite.vm.contexts import LINUX_XDP
from ebpflite.vm.errors import ContextError
from ebpflite.vm.memory import Region, low_alloc

XDP_MD_SIZE = LINUX_XDP.size  #: the Linux xdp_md (vm/contexts.py), which the native loop points at each packet
_BATCH_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)


class BatchWord(IntEnum):
    """Words of the batch block passed to ``ebpf_batch``."""

    COUNT = 0
    XDP_MD = 1
    BASE = 2
    OFFSETS = 3  #: u32 array, packet offsets from BASE (updated on return)
    LENGTHS = 4  #: u32 array (updated on return)
    VERDICTS = 5  #: u32 array, r0 of each run
    REGION_ROW = 6  #: address of the packet's (start, end, flags) row in the region table
    DONE = 7  #: packets completed (the failing one's index when a run stops early)


@dataclass
class PacketBatch:
    """Packets packed in one buffer below 2 GiB (so u32 ``xdp_md`` fields hold real addresses)."""

    buf: np.ndarray
    offsets: np.ndarray  #: uint32
    lengths: np.ndarray  #: uint32

    @classmethod
    def from_packets(cls, packets: Iterable[bytes], headroom: int = 256) -> PacketBatch:
        """Pack ``packets``, each preceded by ``headroom`` bytes (for adjust_head)."""
        packets = [bytes(p) for p in packets]
        if headroom < 0:
            raise ContextError(f"headroom must be >= 0, not {headroom}")
        total = sum(headroom + len(p) for p in packets)
        if total >= 1 << 31:
            raise ContextError(f"a batch of {total} bytes does not fit below 2 GiB; split it")
        buf = low_alloc(max(1, total))
        offsets = np.zeros(len(packets), dtype=np.uint32)
        lengths = np.zeros(len(packets), dtype=np.uint32)
        at = 0
        for i, packet in enumerate(packets):
            at += headroom
            buf[at:at + len(packet)] = np.frombuffer(packet, dtype=np.uint8)
            offsets[i], lengths[i] = at, len(packet)
            at += len(packet)
        return cls(buf, offsets, lengths)

    def __len__(self) -> int:
        return len(self.offsets)

    def packet(self, i: int) -> bytes:
        start = int(self.offsets[i])
        return self.buf[start:start + int(self.lengths[i])].tobytes()


@dataclass
class BatchResult:
    verdicts: np.ndarray  #: uint32 r0 per packet
    batch: PacketBatch  #: offsets/lengths updated, packets rewritten in place
    insns_last: int  #: instructions executed by the last packet's run


def run_batch(jit, packets: PacketBatch | Iterable[bytes], *, ingress_ifindex: int = 0,
              rx_queue_index: int = 0) -> BatchResult:
    """Run ``jit`` (a :class:`~ebpflite.jit.compiler.JitProgram` of a Linux XDP program) on every packet;
    ``xdp_md``'s ingress_ifindex and rx_queue_index are the same for all of them."""
    batch = packets if isinstance(packets, PacketBatch) else PacketBatch.from_packets(packets)
    env = jit.env
    verdicts = np.zeros(len(batch), dtype=np.uint32)
    if not len(batch):
        return BatchResult(verdicts, batch, 0)
    md = low_alloc(XDP_MD_SIZE)
    md[:] = np.frombuffer(LINUX_XDP.layout.pack(0, 0, 0, ingress_ifindex, rx_queue_index, 0), np.uint8)
    packet_region = env.memory.add(Region("packet", batch.buf, "packet"))
    md_region = env.memory.add(Region("xdp_md", md, "ctx"))
    try:
        row = env.memory.regions.index(packet_region) + 1
        table = env.memory.table()
        block = np.zeros(len(BatchWord), dtype=np.uint64)
        block[:7] = (len(batch), md_region.start, packet_region.start, batch.offsets.ctypes.data,
                     batch.lengths.ctypes.data, verdicts.ctypes.data, table.ctypes.data + row * table.strides[0])
        env.reset_run()
        env.stack.clear()
        ctx = jit.prepare(count=0, depth=0)
        status = _BATCH_TYPE(jit.code.batch)(ctx.ctypes.data, block.ctypes.data)
        if status != Status.OK:
            index = int(block[BatchWord.DONE])
            exc = jit.error(Status(status), ctx)
            exc.packet_index = index
            if hasattr(exc, "add_note"):
                exc.add_note(f"while running packet {index} of the batch")
            raise exc
        return BatchResult(verdicts, batch, int(ctx[Ctx.COUNT]))
    finally:
        jit.release()
        env.memory.remove(md_region)
        env.memory.remove(packet_region)
