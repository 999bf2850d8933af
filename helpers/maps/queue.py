"""``queue`` (FIFO) and ``stack`` (LIFO) maps: no keys, values pushed and popped.

Storage follows the kernel's queue_stack_maps.c: a ring of ``max_entries + 1``
values (each ``value_stride`` bytes) with ``meta[META_HEAD]`` (next push) and
``meta[META_TAIL]`` (oldest element); empty when head == tail, full when
head + 1 == tail (mod size). Pushing onto a full map fails with -E2BIG unless
the flags hold BPF_EXIST, which drops the oldest element instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.base import Map, decode, hex_bytes, json_bytes


class QueueMap(Map):
    HAS_KEYS = False
    LIFO = False

    def validate(self) -> None:
        self._require(self.key_size == 0, f"key_size must be 0, not {self.key_size}")
        self._require(self.value_size > 0, "value_size must be at least 1")
        self._require(self.max_entries > 0, "max_entries must be at least 1")

    def region_sizes(self) -> dict[str, int]:
        self.capacity = self.max_entries + 1
        return {"values": self.capacity * L.round8(self.value_size), "meta": 64}

    def descriptor_fields(self) -> dict[str, int]:
        return {"capacity": self.capacity}

    def setup(self) -> None:
        self._ring = self.views["values"].reshape(self.capacity, self.value_stride)
        self._meta = self.views["meta"].view("<u8")

    def exposed_regions(self) -> tuple[str, ...]:
        return ()

    # -- the ring -----------------------------------------------------------------------
    def _head_tail(self) -> tuple[int, int]:
        return int(self._meta[L.META_HEAD]), int(self._meta[L.META_TAIL])

    def __len__(self) -> int:
        head, tail = self._head_tail()
        return (head - tail) % self.capacity

    def _order(self) -> list[int]:
        """Ring indexes in pop order."""
        head, tail = self._head_tail()
        idx = [(tail + k) % self.capacity for k in range((head - tail) % self.capacity)]
        return idx[::-1] if self.LIFO else idx

    def push(self, value: Any, flags: int = 0) -> int:
        value = self.value_bytes(value)
        if flags > L.BPF_EXIST:
            return -L.EINVAL
        head, tail = self._head_tail()
        if (head + 1) % self.capacity == tail:
            if not flags & L.BPF_EXIST:
                return -L.E2BIG
            tail = (tail + 1) % self.capacity
        self._ring[head, :self.value_size] = np.frombuffer(value, np.uint8)
        self._meta[L.META_TAIL] = tail
        self._meta[L.META_HEAD] = (head + 1) % self.capacity
        return 0

    def peek(self) -> bytes | None:
        """The element pop would return, left in place (None when empty)."""
        order = self._order()
        return self._ring[order[0], :self.value_size].tobytes() if order else None

    def pop(self) -> bytes | None:
        """Remove and return the next element (None when empty: the helper's -ENOENT)."""
        order = self._order()
        if not order:
            return None
        i = order[0]
        value = self._ring[i, :self.value_size].tobytes()
        if self.LIFO:
            self._meta[L.META_HEAD] = i
        else:
            self._meta[L.META_TAIL] = (i + 1) % self.capacity
        return value

    # -- the generic map operations -------------------------------------------------------
    def _no_key(self, key: Any) -> None:
        if key not in (None, b"", bytearray()):
            raise self._error("queue and stack maps have no keys (pass None)")

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        self._no_key(key)
        return self.push(value, flags)

    def delete(self, key: Any = None) -> int:
        return -L.EINVAL

    def lookup_and_delete(self, key: Any = None) -> bytes | None:
        self._no_key(key)
        return self.pop()

    def lookup(self, key: Any = None, cpu: int | None = None) -> bytes | None:
        self._no_key(key)
        return self.peek()

    def get_next_key(self, key: Any = None) -> bytes | None:
        raise self._error("queue and stack maps have no keys to iterate", L.EINVAL)

    def __getitem__(self, key: Any) -> Any:
        raise self._error("queue and stack maps have no keys: use push/pop/peek")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._error("queue and stack maps have no keys: use push/pop/peek")

    def __iter__(self) -> Iterator[Any]:
        """The values in pop order (without removing them)."""
        for i in self._order():
            yield decode(self._ring[i, :self.value_size].tobytes(), self.value_dtype)

    def raw_values(self) -> list[bytes]:
        return [self._ring[i, :self.value_size].tobytes() for i in self._order()]

    def items(self) -> list:
        return [(None, v) for v in self]

    def dump(self) -> str:
        values = self.raw_values()
        lines = [f"value: {hex_bytes(v)}" for v in values]
        lines.append(f"Found {len(values)} element{'' if len(values) == 1 else 's'}")
        return "\n".join(lines) + "\n"

    def dump_json(self) -> str:
        import json
        return json.dumps([{"value": json_bytes(v)} for v in self.raw_values()])


class StackMap(QueueMap):
    LIFO = True
