"""Redirect targets: ``devmap``, ``devmap_hash``, ``cpumap``, ``xskmap``.

Values are small ints: an ifindex (devmap, optionally followed by a u32
program fd), a queue size (cpumap, optionally followed by a program fd) or a
socket fd (xskmap). There are no devices, CPUs' queues or sockets behind
them: :meth:`redirect_target` tells bpf_redirect_map where a packet would
go (the ifindex for device maps, the key for cpumap and xskmap) and the
run records it. Programs may read these values but never write them.
"""

from __future__ import annotations

from typing import Any

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.array import SlotArrayMap
from ebpflite.helpers.maps.hashmap import HashMap

ENODEV = 19
EOVERFLOW = 75
#: the largest cpumap queue the kernel accepts
CPUMAP_MAX_QSIZE = 16384


class RedirectTarget:
    """What bpf_redirect_map needs from a map: the target behind a key, or None."""

    def redirect_target(self, key: int) -> int | None:
        raw = self.lookup(int(key).to_bytes(self.key_size, "little"))  # type: ignore[attr-defined]
        if raw is None:
            return None
        return self._target(int(key), int.from_bytes(raw[:4], "little"))

    def _target(self, key: int, value: int) -> int:
        return value


class DevMap(RedirectTarget, SlotArrayMap):
    TYPE_FLAGS = 0

    def validate(self) -> None:
        super().validate()
        self._require(self.value_size in (4, 8), f"value_size must be 4 or 8, not {self.value_size}")

    def check_value(self, key: int, value: bytes) -> int:
        return -L.EINVAL if int.from_bytes(value[:4], "little") == 0 else 0


class DevMapHash(RedirectTarget, HashMap):
    TYPE_FLAGS = 0

    def validate(self) -> None:
        super().validate()
        self._require(self.key_size == 4, f"key_size must be 4, not {self.key_size}")
        self._require(self.value_size in (4, 8), f"value_size must be 4 or 8, not {self.value_size}")

    def check_value(self, value: bytes) -> int:
        return -L.EINVAL if int.from_bytes(value[:4], "little") == 0 else 0

    def regions(self) -> list:
        regions = super().regions()
        for r in regions:
            r.writable = False
        return regions


class CpuMap(RedirectTarget, SlotArrayMap):
    TYPE_FLAGS = 0

    def validate(self) -> None:
        super().validate()
        self._require(self.value_size in (4, 8), f"value_size must be 4 or 8, not {self.value_size}")

    def check_value(self, key: int, value: bytes) -> int:
        if key >= self.possible_cpus:
            return -ENODEV
        return -EOVERFLOW if int.from_bytes(value[:4], "little") > CPUMAP_MAX_QSIZE else 0

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        """A queue size of 0 removes the CPU's entry, as in the kernel."""
        key, value = self.key_bytes(key), self.value_bytes(value)
        if flags == L.BPF_ANY and int.from_bytes(value[:4], "little") == 0 \
                and int.from_bytes(key, "little") < self.max_entries:
            self.delete(key)
            return 0
        return super().update(key, value, flags)

    def _target(self, key: int, value: int) -> int:
        return key

    def lookup_address(self, key: bytes) -> int:
        return 0  # the kernel does not let programs look into a cpumap


class XskMap(RedirectTarget, SlotArrayMap):
    TYPE_FLAGS = 0
    NOEXIST_ALWAYS_EEXIST = False

    def validate(self) -> None:
        super().validate()
        self._require(self.value_size == 4, f"value_size must be 4, not {self.value_size}")

    def _target(self, key: int, value: int) -> int:
        return key
