"""``perf_event_array``: bpf_perf_event_output targets, one perf buffer per CPU.

The kernel map holds perf event fds (u32 values) by CPU index; here each
index starts "open" (as after libbpf's perf_buffer__new on every CPU) and the
records a program outputs are collected per index in Python lists, which
:meth:`PerfEventArray.records` and :meth:`consume` hand back. ``values``
holds one u32 per index (1 = open) so a pinned reader sees which are open;
the records themselves are not pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map

BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
BPF_F_CTXLEN_MASK = 0xFFFFF << 32


class PerfEventArray(Map):
    TYPE_FLAGS = L.BPF_F_PRESERVE_ELEMS

    def __init__(self, spec: Any, *args: Any, **kwargs: Any):
        self._records: dict[int, list[bytes]] = {}
        super().__init__(spec, *args, **kwargs)

    def validate(self) -> None:
        self._require(self.key_size == 4, f"key_size must be 4, not {self.key_size}")
        self._require(self.value_size == 4, f"value_size must be 4, not {self.value_size}")
        if self.max_entries == 0:  # libbpf sizes it to the number of CPUs
            self.max_entries = self.possible_cpus

    def region_sizes(self) -> dict[str, int]:
        return {"values": 8 * self.max_entries}

    def setup(self) -> None:
        self._open = self.views["values"].view("<u8")

    def init_storage(self) -> None:
        self._open[:] = 1

    def exposed_regions(self) -> tuple[str, ...]:
        return ()

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_perf_event_output's map part: 0, -EINVAL (flags), -E2BIG (index), -ENOENT (closed)."""
        if flags & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK):
            return -L.EINVAL
        index = flags & BPF_F_INDEX_MASK
        if index == BPF_F_CURRENT_CPU:
            index = L.current_cpu()
        if index >= self.max_entries:
            return -L.E2BIG
        if not self._open[index]:
            return -L.ENOENT
        self.append_record(index, data)
        return 0

    def append_record(self, index: int, data: bytes) -> None:
        """Deliver a record already checked (the JIT's batch loop stages them natively)."""
        self._records.setdefault(index, []).append(bytes(data))

    def records(self, cpu: int | None = None) -> list[bytes]:
        """Records output so far (for one CPU index, or all in CPU order)."""
        if cpu is not None:
            return list(self._records.get(cpu, []))
        return [r for c in sorted(self._records) for r in self._records[c]]

    def records_by_cpu(self) -> dict[int, list[bytes]]:
        return {c: list(r) for c, r in sorted(self._records.items())}

    def consume(self) -> list[tuple[int, bytes]]:
        """Take every record as (cpu, bytes), oldest first per CPU."""
        out = [(c, r) for c in sorted(self._records) for r in self._records[c]]
        self._records.clear()
        return out

    # -- the fd slots -------------------------------------------------------------------
    def _index(self, key: Any) -> int:
        return int.from_bytes(self.key_bytes(key), "little")

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        i, value = self._index(key), self.value_bytes(value)
        if flags > L.BPF_EXIST:
            return -L.EINVAL
        if i >= self.max_entries:
            return -L.E2BIG
        self._open[i] = max(1, int.from_bytes(value, "little"))
        return 0

    def delete(self, key: Any) -> int:
        i = self._index(key)
        if i >= self.max_entries:
            return -L.E2BIG
        if not self._open[i]:
            return -L.ENOENT
        self._open[i] = 0
        return 0

    def _entry(self, key: bytes) -> np.ndarray | None:
        i = int.from_bytes(key, "little")
        if i >= self.max_entries or not self._open[i]:
            return None
        return self.views["values"][8 * i:8 * i + 8]

    def _raw_keys(self) -> Iterator[bytes]:
        for i in np.flatnonzero(self._open):
            yield int(i).to_bytes(4, "little")
