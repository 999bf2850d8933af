"""Packet-by-packet comparison of the JIT batch loop with the interpreter (shared by the replay tests).

:func:`reference` runs each packet through the interpreter the way
``BPF_PROG_TEST_RUN`` does (``ProgramRunner.run``); :func:`batched` streams
the same capture through ``jit.batch.BatchRunner`` chunk by chunk, keeping
every packet. :func:`compare` then checks, for every packet, the verdict,
the packet afterwards (or that both refused it), the redirect, and after
the run every map's storage byte for byte, the clock and the generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ebpflite.errors import ContextError
from ebpflite.helpers.pcap import CaptureStream

NOT_KEPT = b"(not kept: verdict above 63)"


@dataclass
class Outcome:
    verdicts: list[int] = field(default_factory=list)
    packets: list[bytes | None] = field(default_factory=list)  #: None: the context refused it
    redirects: list[dict | None] = field(default_factory=list)


def reference(handle: Any, capture: Any, *, every: int = 0, between: Any = None) -> Outcome:
    """Every packet through ``handle.run`` (the object's engine, normally the interpreter);
    ``between()`` runs after every ``every`` packets (as :func:`batched` runs it per chunk)."""
    out = Outcome()
    with CaptureStream(capture, chunk_packets=every or 32768) as stream:
        for chunk in stream:
            if between is not None and chunk.first_index:
                between()
            for i in range(len(chunk)):
                try:
                    res = handle.run(packet=chunk.data(i))
                except ContextError:
                    out.verdicts.append(0)
                    out.packets.append(None)
                    out.redirects.append(None)
                    continue
                out.verdicts.append(res.return_value)
                out.packets.append(res.packet)
                out.redirects.append(res.redirect)
    return out


def redirect_dict(slot: np.ndarray, maps_by_address: dict[int, Any]) -> dict | None:
    """A batch REDIRECT slot as helpers/impl/xdp.py records it in ``env.world.redirect``."""
    from ebpflite.jit.batch import NO_TARGET, Redirect

    kind, a, b, c, flags = (int(v) for v in slot)
    if kind == Redirect.IFINDEX:
        return {"ifindex": a, "flags": flags}
    if kind == Redirect.MAP:
        live = maps_by_address[a]
        return {"map": live.name, "type": live.type, "key": b, "target": None if c == NO_TARGET else c,
                "flags": flags}
    return None


def batched(handle: Any, capture: Any, *, chunk_packets: int = 97, chunk_bytes: int = 1 << 14,
            out_bytes: int = 1 << 13, between: Any = None) -> Outcome:
    """The capture through the JIT's batch loop, in small chunks (boundaries get exercised) with a
    small output buffer (so it fills and flushes mid-chunk)."""
    from ebpflite.helpers.maps import layout
    from ebpflite.jit.batch import OUT_RECORD_MAX, BatchOutput, BatchRunner

    runner = handle.runner("jit")
    layout.set_current_cpu(runner.cpu)
    out = Outcome()
    flushed: list[bytes] = []
    output = BatchOutput(np.zeros(max(out_bytes, OUT_RECORD_MAX), dtype=np.uint8), keep=(1 << 64) - 1,
                         flush=lambda used: flushed.append(bytes(used)))
    by_address = runner.env.world.maps_by_address
    with BatchRunner(runner.engine, capacity=chunk_packets, redirects=True) as batch, \
            CaptureStream(capture, chunk_bytes=chunk_bytes, chunk_packets=chunk_packets) as stream:
        for chunk in stream:
            if between is not None and chunk.first_index:
                between()
            run = batch.run(chunk.buf, chunk.offsets, chunk.lengths, ts=chunk.ts_ns, output=output)
            flushed.append(output.buf[:output.used].tobytes())
            records = _records(b"".join(flushed))
            flushed.clear()
            for i in range(len(chunk)):
                length = int(run.out_lengths[i])
                out.verdicts.append(int(run.verdicts[i]))
                # the keep mask covers verdicts 0..63: other return values leave no record
                verdict = int(run.verdicts[i])
                out.packets.append((next(records) if verdict < 64 else NOT_KEPT) if length else None)
                out.redirects.append(redirect_dict(run.redirects[i], by_address) if length else None)
            assert next(records, None) is None
    return out


def _records(blob: bytes):
    at = 0
    while at < len(blob):
        caplen = int.from_bytes(blob[at + 8:at + 12], "little")
        yield blob[at + 16:at + 16 + caplen]
        at += 16 + caplen


def world_state(obj: Any, handle: Any, engine: str) -> dict:
    """What a run may change outside the packet: map storage, clock, generator."""
    env = handle.runner(engine).env
    rng = env.world.prandom or random.Random(env.world.seed)
    maps: dict[str, Any] = {}
    for name, live in obj.maps.items():  # maps of maps hold addresses, which differ between objects
        inner = getattr(live, "get_map", None)
        maps[name] = ({k: inner(k).name for k in live.raw_keys()} if inner is not None
                      else live.storage.buf.copy())
    perf = {name: live.records() for name, live in obj.maps.items() if live.type == "perf_event_array"}
    return {"maps": maps, "perf": perf, "perf_events": list(env.world.perf_events),
            "clock": env.world.clock.fixed_ns, "prandom": rng.getstate()}


def compare(ref: Outcome, got: Outcome) -> None:
    assert len(ref.verdicts) == len(got.verdicts)
    for i, (a, b) in enumerate(zip(ref.verdicts, got.verdicts, strict=True)):
        assert a == b, f"packet {i}: verdict {a} (interpreter) != {b} (batch)"
        if got.packets[i] is not NOT_KEPT:
            assert ref.packets[i] == got.packets[i], f"packet {i}: packets differ after the run"
        assert ref.redirects[i] == got.redirects[i], f"packet {i}: redirect {ref.redirects[i]} != {got.redirects[i]}"


def compare_worlds(a: dict, b: dict) -> None:
    assert a["clock"] == b["clock"]
    assert a["perf"] == b["perf"] and a["perf_events"] == b["perf_events"]
    assert a["prandom"] == b["prandom"]
    for name, buf in a["maps"].items():
        other = b["maps"][name]
        same = buf == other if isinstance(buf, dict) else np.array_equal(buf, other)
        assert same, f"map {name} differs"
