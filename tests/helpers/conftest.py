"""Fixtures for helper tests: an environment with a scratch buffer and a way to call helpers by name."""

from __future__ import annotations

import numpy as np
import pytest

from ebpflite.helpers import registry
from ebpflite.vm.env import Environment
from ebpflite.vm.memory import Region


class Bench:
    """An Environment, a 4 KiB scratch region, and helpers called by name on a platform."""

    def __init__(self, platform: str = "linux"):
        self.platform = platform
        self.env = Environment()
        self.env.world.platform = platform
        self.buf = np.zeros(4096, dtype=np.uint8)
        self.region = self.env.memory.add(Region("scratch", self.buf))
        self.base = self.region.start

    def put(self, offset: int, data: bytes) -> int:
        self.buf[offset:offset + len(data)] = np.frombuffer(data, dtype=np.uint8)
        return self.base + offset

    def get(self, offset: int, size: int) -> bytes:
        return self.buf[offset:offset + size].tobytes()

    def call(self, name: str, *args: int) -> int:
        spec = registry.by_name(name, self.platform)
        assert spec.impl is not None, f"{name} is not implemented"
        regs = [a & (2**64 - 1) for a in args] + [0] * (5 - len(args))
        return spec.impl(self.env, *regs)

    def add_map(self, live) -> None:
        self.env.world.maps_by_address[live.address] = live
        for region in live.regions():
            if len(region.buf):
                self.env.memory.add(region)


@pytest.fixture(params=["linux", "windows"])
def bench(request) -> Bench:
    return Bench(request.param)


@pytest.fixture
def linux() -> Bench:
    return Bench("linux")


@pytest.fixture
def windows() -> Bench:
    return Bench("windows")

