"""Is the JIT's batch replay of the big capture the interpreter's, packet by packet?

    python bench/replay_identical.py [--count 1000000] [--limit N] [--only firewall,xdp_pass]

For each program of bench/replay_e2e.py (the same objects and map entries), the
capture is replayed twice through the one replay path (``Replayer.run``, as
``ebpflite xdp`` runs it), from two freshly loaded copies of the object: once
with the JIT (batch mode, one native call per chunk) and once with the
interpreter (one ``run()`` per packet). Compared: every packet's verdict, its
length afterwards and its redirect (the ``--json`` record without the
instruction count, which the batch loop does not keep), the ``--out`` capture
byte for byte (every kept packet after rewrites, with its timestamp), the
action counts, and afterwards every map's storage byte for byte.

The interpreter runs 40-200 us per packet here, so the full 1M-packet
capture takes minutes per program; ``--limit N`` compares the first N packets
instead. The capture cycles a pool of distinct frames (bench/bigcapture.py),
so any N of at least the pool's size covers every distinct frame; the script
prints the pool size.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bigcapture  # noqa: E402
import replay_e2e  # noqa: E402


def _first(capture: Path, limit: int, out: Path) -> Path:
    """The first ``limit`` records of a little-endian pcap ``capture`` (bigcapture's format)."""
    from ebpflite.helpers.pcap import CaptureStream

    with open(capture, "rb") as fh:
        header = fh.read(24)
    with CaptureStream(capture) as stream, open(out, "wb") as fh:
        fh.write(header)
        left = limit
        for chunk in stream:
            take = min(left, len(chunk))
            start = int(chunk.offsets[0]) - 16
            end = int(chunk.offsets[take - 1]) + int(chunk.lengths[take - 1])
            fh.write(chunk.buf[start:end].tobytes())
            left -= take
            if not left:
                break
    return out


def _replay(subject: replay_e2e.Subject, capture: Path, engine: str, out: Path) -> dict:
    """Replay ``capture`` through a fresh load of ``subject`` with ``engine``: per-packet columns,
    counts, the --out file's hash, each map's bytes, and the time taken."""
    from ebpflite.api import load
    from ebpflite.cli import mapargs

    obj = load(subject.obj, engine=engine, verify=[subject.prog] if subject.prog else True)
    mapargs.apply(obj.maps, subject.maps)
    handle = obj.programs[subject.prog] if subject.prog else next(iter(obj.programs.values()))
    replayer = handle.replayer(engine)
    retvals: list[int] = []
    lengths: list[int] = []
    redirects: dict[int, str] = {}

    def note(record) -> None:
        retvals.append(-1 if record.error is not None else record.retval)
        lengths.append(record.length)
        if record.redirect is not None:
            redirects[record.index] = repr(sorted(record.redirect.items()))

    started = time.process_time()
    replay = replayer.run(capture, on_record=note, out=out, keep=False)
    seconds = time.process_time() - started
    maps = {}
    for name, live in obj.maps.items():
        inner = getattr(live, "get_map", None)  # maps of maps hold addresses, which differ between loads
        maps[name] = repr(sorted((k, inner(k).name) for k in live.raw_keys())) if inner is not None \
            else hashlib.sha256(live.storage.buf.tobytes()).hexdigest()
    return {"mode": replay.mode, "packets": replay.packets, "counts": dict(replay.counts),
            "retvals": np.array(retvals, dtype=np.int64), "lengths": np.array(lengths, dtype=np.int64),
            "redirects": redirects, "out": hashlib.sha256(out.read_bytes()).hexdigest(),
            "written": replay.written, "maps": maps, "seconds": seconds}


def compare(a: dict, b: dict) -> list[str]:
    """What differs between two replays (empty: identical)."""
    problems = []
    if a["packets"] != b["packets"]:
        problems.append(f"packets {a['packets']} != {b['packets']}")
    for column in ("retvals", "lengths"):
        if not np.array_equal(a[column], b[column]):
            first = int(np.flatnonzero(a[column] != b[column])[0]) if len(a[column]) == len(b[column]) else -1
            problems.append(f"{column} differ (first at packet {first})")
    for key in ("redirects", "counts", "out", "written", "maps"):
        if a[key] != b[key]:
            problems.append(f"{key} differ")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=bigcapture.DEFAULT_COUNT)
    parser.add_argument("--limit", type=int, default=0, help="compare the first N packets only (0: all)")
    parser.add_argument("--only", default="", help="comma-separated substrings of program labels")
    args = parser.parse_args()
    capture = bigcapture.cached_capture(args.count)
    work = bigcapture.cache_dir() / "objects"
    work.mkdir(parents=True, exist_ok=True)
    pool = len(bigcapture.distinct_frames())
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        source = _first(capture, args.limit, tmpdir / "first.pcap") if args.limit else capture
        n = args.limit or args.count
        print(f"capture: {capture} ({args.count} packets; the first {n} compared; pool of {pool} distinct frames)",
              flush=True)
        print("| program | packets | identical | JIT batch (CPU s) | interpreter (CPU s) | counts |")
        print("|---|---:|---|---:|---:|---|")
        for subject in replay_e2e.subjects(work):
            if args.only and not any(part in subject.label for part in args.only.split(",")):
                continue
            try:
                jit = _replay(subject, source, "jit", tmpdir / "jit.pcap")
                ref = _replay(subject, source, "interp", tmpdir / "interp.pcap")
            except Exception as exc:  # noqa: BLE001 - reported in the table, the next program still runs
                print(f"| {subject.label} | {n} | – ({type(exc).__name__}: {exc}) | | | |", flush=True)
                continue
            problems = compare(jit, ref)
            same = "yes" if not problems else "NO: " + "; ".join(problems)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(jit["counts"].items()))
            print(f"| {subject.label} | {jit['packets']} | {same} ({jit['mode']} vs {ref['mode']}) "
                  f"| {jit['seconds']:.2f} | {ref['seconds']:.1f} | {counts} |", flush=True)


if __name__ == "__main__":
    main()
