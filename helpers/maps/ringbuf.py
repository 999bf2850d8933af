"""``ringbuf``: the kernel's BPF ring buffer, record layout included.

``max_entries`` is the data size: a power of two and a multiple of the page
size. Positions are free-running u64 counters (``meta[META_CONSUMER]``,
``meta[META_PRODUCER]``); a record starts at ``pos & (size - 1)`` with an
8-byte header ``{u32 len; u32 pg_off}`` whose ``len`` carries the BUSY bit
(bit 31) while reserved and the DISCARD bit (bit 30) once discarded; records
are rounded up to 8 bytes. A reservation fails when the producer would get
more than ``size - 1`` bytes ahead of the consumer.

The kernel maps the data area twice back to back so a record that wraps is
still contiguous. Here the data buffer is ``2 * size`` bytes: a program
writes a wrapping record's tail into the second half, and submit/discard
copy that tail to the start of the ring, which gives readers the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SIZE = 8
#: bpf_ringbuf_output/submit flags
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
#: bpf_ringbuf_query flags
BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS = 0, 1, 2, 3
#: the kernel's data area starts three pages after struct bpf_ringbuf (pg_off counts from there)
_PG_OFF_BASE = 3


class RingBufMap(Map):
    HAS_KEYS = False
    TYPE_FLAGS = 0

    def validate(self) -> None:
        self._require(self.key_size == 0, f"key_size must be 0, not {self.key_size}")
        self._require(self.value_size == 0, f"value_size must be 0, not {self.value_size}")
        n = self.max_entries
        self._require(n >= L.PAGE_SIZE and n & (n - 1) == 0,
                      f"max_entries {n} must be a power of two and a multiple of {L.PAGE_SIZE}")

    def region_sizes(self) -> dict[str, int]:
        self.capacity = self.max_entries
        return {"values": 2 * self.max_entries, "meta": 64}

    def descriptor_fields(self) -> dict[str, int]:
        return {"capacity": self.capacity}

    def setup(self) -> None:
        self._data = self.views["values"]
        self._data_addr = self.storage.address("values")
        self._meta = self.views["meta"].view("<u8")
        self._mask = self.capacity - 1

    # -- the producer (what the helpers call) ------------------------------------------------
    def reserve(self, size: int, flags: int = 0) -> int:
        """Address of ``size`` writable bytes in the ring, or 0 (no space or bad flags)."""
        if flags or size < 0 or size > (1 << 30) - 1:
            return 0
        length = L.round8(size + HDR_SIZE)
        if length > self.capacity:
            return 0
        cons, prod = int(self._meta[L.META_CONSUMER]), int(self._meta[L.META_PRODUCER])
        if prod + length - cons > self._mask:
            return 0
        off = prod & self._mask
        hdr = self._data[off:off + HDR_SIZE].view("<u4")
        hdr[0] = size | BUSY_BIT
        hdr[1] = (off >> 12) + _PG_OFF_BASE
        self._meta[L.META_PRODUCER] = prod + length
        return self._data_addr + off + HDR_SIZE

    def _header_of(self, sample: int) -> tuple[int, int]:
        off = sample - HDR_SIZE - self._data_addr
        if not (0 <= off < self.capacity and off % 8 == 0):
            raise self._error(f"0x{sample:x} is not a record reserved in this ring buffer")
        length = int(self._data[off:off + 4].view("<u4")[0])
        if not length & BUSY_BIT:
            raise self._error(f"the record at 0x{sample:x} was already submitted or discarded")
        return off, length & ~(BUSY_BIT | DISCARD_BIT)

    def _commit(self, sample: int, discard: bool) -> None:
        off, size = self._header_of(sample)
        end = off + L.round8(size + HDR_SIZE)
        if end > self.capacity:  # the record wrapped: bring its tail round to the start
            self._data[:end - self.capacity] = self._data[self.capacity:end]
        self._data[off:off + 4].view("<u4")[0] = size | (DISCARD_BIT if discard else 0)

    def submit(self, sample: int, flags: int = 0) -> None:
        self._commit(sample, discard=False)

    def discard(self, sample: int, flags: int = 0) -> None:
        self._commit(sample, discard=True)

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output: copy ``data`` in as one record; 0, -EINVAL or -EAGAIN."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -L.EINVAL
        sample = self.reserve(len(data))
        if not sample:
            return -L.EAGAIN
        off = sample - self._data_addr
        self._data[off:off + len(data)] = np.frombuffer(bytes(data), np.uint8)
        self.submit(sample)
        return 0

    def query(self, flags: int) -> int:
        cons, prod = int(self._meta[L.META_CONSUMER]), int(self._meta[L.META_PRODUCER])
        return {BPF_RB_AVAIL_DATA: prod - cons, BPF_RB_RING_SIZE: self.capacity,
                BPF_RB_CONS_POS: cons, BPF_RB_PROD_POS: prod}.get(flags, 0)

    # -- the consumer (userspace) ------------------------------------------------------------
    def _scan(self, advance: bool) -> Iterator[bytes]:
        cons, prod = int(self._meta[L.META_CONSUMER]), int(self._meta[L.META_PRODUCER])
        while cons < prod:
            off = cons & self._mask
            length = int(self._data[off:off + 4].view("<u4")[0])
            if length & BUSY_BIT:
                break  # not yet submitted: later records wait behind it, as libbpf does
            size = length & ~DISCARD_BIT
            cons += L.round8(size + HDR_SIZE)
            record = None
            if not length & DISCARD_BIT:
                start = off + HDR_SIZE
                idx = (np.arange(start, start + size) & self._mask) if start + size > self.capacity else None
                record = (self._data[idx] if idx is not None else self._data[start:start + size]).tobytes()
            if advance:
                self._meta[L.META_CONSUMER] = cons
            if record is not None:
                yield record

    def records(self) -> list[bytes]:
        """Submitted records not yet consumed, oldest first (left in the ring)."""
        return list(self._scan(advance=False))

    def consume(self, callback: Callable[[bytes], Any] | None = None) -> list[bytes]:
        """Take every submitted record (libbpf's ring_buffer__consume); discarded ones are skipped."""
        out = []
        for record in self._scan(advance=True):
            if callback is not None:
                callback(record)
            out.append(record)
        return out

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.records())

    def __len__(self) -> int:
        return len(self.records())

    def lookup_address(self, key: bytes) -> int:
        return 0

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        return -L.EINVAL

    def delete(self, key: Any) -> int:
        return -L.EINVAL

    def __getitem__(self, key: Any) -> Any:
        raise self._error("ring buffers have no keys: use records() or consume()")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._error("ring buffers have no keys: programs write with output/reserve")

    def get_next_key(self, key: Any = None) -> bytes | None:
        raise self._error("ring buffers have no keys to iterate")

    def dump(self) -> str:
        recs = self.records()
        lines = [f"record {i}: {len(r)} bytes: {r.hex(' ')}" for i, r in enumerate(recs)]
        lines.append(f"Found {len(recs)} record{'' if len(recs) == 1 else 's'}")
        return "\n".join(lines) + "\n"

    def dump_json(self) -> str:
        import json
        return json.dumps([{"record": [f"0x{b:02x}" for b in r]} for r in self.records()])
