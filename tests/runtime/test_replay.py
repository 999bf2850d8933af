"""The one replay path (runtime/replay.py): batch and per-packet agree, the length rule, chunks,
the CPU setting, why a program cannot batch, and which packet an engine failure names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import ebpflite
from ebpflite.errors import ContextError, MemoryFault
from ebpflite.helpers.pcap import Packet
from ebpflite.pytest_plugin import make_compiler
from ebpflite.runtime.replay import PACKET_HOOKS, Replayer
from ebpflite.runtime.runner import ObjectRuntime
from ebpflite.vm.asm import assemble_program

SAFE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __type(value, __u64); } hits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32);
         __type(value, __u64); } last_cpu SEC(".maps");
SEC("xdp")
int classify(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    __u32 zero = 0;
    __u64 *cpu = bpf_map_lookup_elem(&last_cpu, &zero);
    if (cpu)
        *cpu = bpf_get_smp_processor_id();
    if (data + 15 > end)
        return XDP_ABORTED;
    __u32 key = data[14] & 3;
    __u64 *n = bpf_map_lookup_elem(&hits, &key);
    if (n)
        *n += 1;
    data[0] ^= 0xff;
    if (key == 3)
        return XDP_DROP;
    return key == 2 ? XDP_TX : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

POP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int pop(struct xdp_md *ctx)
{
    return bpf_xdp_adjust_head(ctx, 4) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

UNSAFE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
static long step(__u32 i, void *ctx) { return 0; }
SEC("xdp")
int hop(struct xdp_md *ctx)
{
    bpf_loop(2, step, 0, 0);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

KPROBE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("kprobe/f")
int probe(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def objects(ebpf_cache_dir: Path) -> dict[str, Path]:
    compile = make_compiler(ebpf_cache_dir, Path(__file__).parent)
    return {name: compile(src, name=name) for name, src in
            (("safe", SAFE), ("pop", POP), ("unsafe", UNSAFE), ("kprobe", KPROBE))}


def _packets() -> list[Packet]:
    """Frames with different verdicts, timestamps, one too short and one too long for XDP."""
    frames = [Packet(bytes([i]) + bytes(13) + bytes([i * 5 & 0xff]) + bytes(i % 7), ts_ns=1000 * i)
              for i in range(30)]
    frames.insert(4, Packet(bytes(10), ts_ns=7))  # shorter than an Ethernet header
    frames.insert(11, Packet(bytes(4000), ts_ns=8))  # longer than the 3520 bytes of a linear XDP buffer
    return frames


def _map_bytes(obj) -> dict[str, bytes]:
    return {name: live.storage.buf.tobytes() for name, live in obj.maps.items()}


def test_batch_and_per_packet_replays_agree(objects):
    packets = _packets()
    outcomes = {}
    for engine, batch in (("jit", None), ("jit", False), ("interp", None)):
        obj = ebpflite.load(objects["safe"], engine=engine)
        replay = obj.programs["classify"].replay(packets, batch=batch)
        outcomes[engine, batch] = (replay, _map_bytes(obj))
    batched, _ = outcomes["jit", None]
    assert batched.mode == "batch" and batched.native_calls == 1 and batched.note == "batch mode: one native call"
    assert outcomes["jit", False][0].mode == outcomes["interp", None][0].mode == "per-packet"
    assert batched.packets == len(packets) == 32
    assert batched.counts == {"XDP_PASS": 16, "XDP_TX": 7, "XDP_DROP": 7, "invalid": 2}  # i % 4: 0, 1 pass; 2 tx; 3 drop
    for replay, maps in outcomes.values():
        assert replay.counts == batched.counts
        assert replay.kept == batched.kept  # rewritten bytes and timestamps
        assert maps == outcomes["jit", None][1]
    first = batched.kept[0]
    assert first.ts_ns == 0 and first.data[0] == 0xff  # packet 0, its first byte flipped


def test_refused_frames_do_not_run(objects):
    obj = ebpflite.load(objects["safe"], engine="jit")
    replay = obj.programs["classify"].replay([bytes(13), bytes(3521), bytes(14), bytes(3520)])
    assert replay.mode == "batch"
    assert replay.counts == {"invalid": 2, "XDP_ABORTED": 1, "XDP_PASS": 1}  # 14 bytes: too short to count
    assert [int(obj.maps["hits"][k]) for k in range(4)] == [1, 0, 0, 0]  # only the 3520-byte frame got that far


def test_chunks_and_streamed_sources_give_the_same_replay(objects):
    whole = ebpflite.load(objects["safe"], engine="jit").programs["classify"].replay(_packets())
    obj = ebpflite.load(objects["safe"], engine="jit")
    replayer = Replayer(obj.programs["classify"].runner("jit"), chunk_size=5)
    streamed = replayer.run(p for p in _packets())  # a generator, consumed five packets at a time
    assert streamed.native_calls == 7 and streamed.note == "batch mode: 7 native calls"
    assert (streamed.counts, streamed.kept, streamed.packets) == (whole.counts, whole.kept, whole.packets)


@pytest.mark.parametrize("batch", [None, False])
def test_replay_runs_on_the_runner_cpu(objects, batch):
    obj = ebpflite.load(objects["safe"], engine="jit")
    handle = obj.programs["classify"]
    handle.runner("jit").cpu = 3
    assert handle.replay([bytes(20)], batch=batch).counts == {"XDP_PASS": 1}
    assert obj.maps["last_cpu"][0] == 3


def test_records_are_the_json_lines(objects):
    obj = ebpflite.load(objects["safe"])  # the interpreter counts instructions
    seen = []
    replay = obj.programs["classify"].replay([bytes(10), bytes(14) + b"\x03"], records=True, on_record=seen.append)
    assert replay.mode == "per-packet" and replay.records == seen
    assert seen[0].as_dict() == {"index": 0, "error": seen[0].error}
    assert "shorter than an Ethernet header" in seen[0].error
    line = seen[1].as_dict()
    assert (line["index"], line["retval"], line["action"], line["length"]) == (1, 1, "XDP_DROP", 15)
    assert line["insns"] > 0 and line["trace"] == [] and line["redirect"] is None


def test_xdp_buffer_helpers_run_in_the_batch_loop(objects):
    """adjust_head and friends are native in batch runs: same outcome as per packet."""
    frames = [bytes(range(i, i + 20)) for i in range(5)] + [bytes(15)]
    replays = {batch: ebpflite.load(objects["pop"], engine="jit").programs["pop"].replay(frames, batch=batch)
               for batch in (True, False)}
    assert replays[True].mode == "batch" and replays[False].mode == "per-packet"
    assert replays[True].counts == replays[False].counts == {"XDP_PASS": 5, "XDP_DROP": 1}
    assert replays[True].kept == replays[False].kept == [f[4:] for f in frames[:5]]


def test_why_a_program_cannot_batch(objects):
    unsafe = ebpflite.load(objects["unsafe"], engine="jit").programs["hop"]
    assert unsafe.replayer().mode == "per-packet"
    assert unsafe.replayer().blocker.endswith("uses bpf_loop, which needs per-packet state")
    with pytest.raises(ValueError, match="batch replay is not possible: instruction .* bpf_loop"):
        unsafe.replay([bytes(20)], batch=True)
    assert unsafe.replay([bytes(20)]).counts == {"XDP_PASS": 1}  # per packet instead
    safe = objects["safe"]
    assert ebpflite.load(safe, engine="jit").programs["classify"].replayer(records=True).mode == "batch"
    reasons = {
        "not verified": ebpflite.load(safe, engine="jit", verify=False).programs["classify"].replayer(),
        "interp": ebpflite.load(safe).programs["classify"].replayer(),
        "windows": Replayer(ObjectRuntime({"w": replace(assemble_program("r0 = 1\nexit", platform="windows"),
                                                        prog_type="xdp", verified=True)}, [],
                                          platform="windows").runner("w", "jit")),
    }
    assert reasons["not verified"].blocker.startswith("the program is not verified")
    assert reasons["interp"].blocker == "the interp engine runs packets one at a time"
    assert reasons["windows"].blocker == "windows xdp programs have no batch loop"
    assert all(r.mode == "per-packet" for r in reasons.values())


def test_a_program_type_without_packets_is_refused(objects):
    probe = ebpflite.load(objects["kprobe"]).programs["probe"]
    with pytest.raises(ContextError, match="probe is a kprobe program; packets can be replayed through .*xdp"):
        probe.replay([bytes(20)])
    assert ("linux", "kprobe") not in PACKET_HOOKS


FAULTY = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u8 *)(r2 + 0)
if r3 == 0x42 goto bad
r0 = 2
exit
bad:
r4 = 0
r0 = *(u64 *)(r4 + 0)
exit
"""


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_failing_packet_is_named_by_its_index_in_the_source(engine):
    program = replace(assemble_program(FAULTY, name="faulty"), prog_type="xdp")
    runtime = ObjectRuntime({"faulty": program}, [])
    replayer = Replayer(runtime.runner("faulty", engine))
    assert replayer.mode == "per-packet"  # unverified
    packets = [bytes(14), bytes(3), bytes(14), b"\x42" + bytes(13), bytes(14)]
    with pytest.raises(MemoryFault) as exc:
        replayer.run(packets)
    assert exc.value.packet_index == 3


def test_a_failing_batch_packet_is_named_by_its_index_in_the_source(objects, monkeypatch):
    """The native loop reports the failing packet's index in its chunk; the replay adds the
    chunk's place in the source (refused frames keep their places: they are in the chunk)."""
    from ebpflite.jit.batch import BatchRunner

    def fail_second(self, *args, **kwargs):
        exc = MemoryFault(5, 0x10, 1, False)
        exc.packet_index = 1
        raise exc

    monkeypatch.setattr(BatchRunner, "run", fail_second)
    obj = ebpflite.load(objects["safe"], engine="jit")
    replayer = Replayer(obj.programs["classify"].runner("jit"), chunk_size=4)
    with pytest.raises(MemoryFault) as exc:
        replayer.run([bytes(14), bytes(3), bytes(3), bytes(14), bytes(14)])
    assert exc.value.packet_index == 1


def test_records_in_batch_mode_are_the_per_packet_records(objects):
    """--json lines come from the batch loop's arrays; they match the per-packet JIT's."""
    frames = [bytes(10)] + [bytes(14) + bytes([k]) + bytes(5) for k in range(4)] + [bytes(4000)]
    lines = {}
    for batch in (True, False):
        seen = []
        replay = ebpflite.load(objects["safe"], engine="jit").programs["classify"].replay(
            frames, batch=batch, on_record=seen.append)
        assert replay.records is None and len(seen) == len(frames)
        lines[batch] = [r.as_dict() for r in seen]
    assert lines[True] == lines[False]
    assert lines[True][0]["error"].startswith("packet of 10 bytes is shorter than an Ethernet header")
    assert lines[True][-1]["error"].startswith("packet of 4000 bytes exceeds the 3520 bytes")


def test_out_captures_stream_and_are_identical_across_engines(objects, tmp_path):
    """``out`` receives the kept packets as a pcap, chunk by chunk, byte-identical from the batch
    loop, the per-packet JIT and the interpreter; ``keep=False`` collects nothing in memory."""
    from ebpflite.helpers.pcap import read_packets, write_pcap

    capture = tmp_path / "in.pcap"
    write_pcap(capture, _packets(), nanosecond=True)
    blobs = {}
    for engine, batch in (("jit", None), ("jit", False), ("interp", None)):
        out = tmp_path / f"{engine}-{batch}.pcap"
        replayer = Replayer(ebpflite.load(objects["safe"], engine=engine).programs["classify"].runner(engine),
                            chunk_size=7, batch=batch)
        replay = replayer.run(capture, out=out, keep=False)
        assert replay.kept == [] and replay.written == 23 and replay.packets == 32
        blobs[engine, batch] = out.read_bytes()
    assert len(set(blobs.values())) == 1
    back = read_packets(tmp_path / "jit-None.pcap")
    assert [p.ts_ns for p in back[:2]] == [0, 1000] and back[0].data[0] == 0xff


def test_plugin_programs_replay_frames(ebpf_load, ebpf_engine):
    """The pytest plugin's programs replay through the same path (built frames are packets too)."""
    from ebpflite.packets import UDP, Ether, IPv4

    prog = ebpf_load(SAFE).programs["classify"]
    frames = [Ether() / IPv4(dst="10.0.0.1") / UDP(dport=port) for port in (1, 2, 3)]
    replay = prog.replay(frames)
    assert replay.mode == ("batch" if ebpf_engine == "jit" else "per-packet")
    assert replay.counts == {"XDP_PASS": 3} and replay.packets == 3  # byte 14 is 0x45: key 1
    assert replay.kept == [bytes([bytes(f)[0] ^ 0xff]) + bytes(f)[1:] for f in frames]


PRINTS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int prints(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 15 > end)
        return XDP_ABORTED;
    for (int i = 0; i < (data[14] & 3); i++)
        bpf_printk("packet byte %u, line %d", data[14], i);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def test_trace_lines_belong_to_their_packet_in_batch_mode(ebpf_cache_dir, tmp_path):
    """bpf_printk stays Python in the batch loop; each record gets the lines its own run printed."""
    obj = make_compiler(ebpf_cache_dir, tmp_path)(PRINTS, name="prints")
    frames = [bytes(14) + bytes([k]) for k in range(9)]
    lines = {}
    for batch in (True, False):
        replay = ebpflite.load(obj, engine="jit").programs["prints"].replay(frames, batch=batch, records=True)
        assert replay.mode == ("batch" if batch else "per-packet")
        lines[batch] = [r.trace for r in replay.records]
    assert lines[True] == lines[False]
    assert lines[True][3] == ["packet byte 3, line 0", "packet byte 3, line 1", "packet byte 3, line 2"]
    assert lines[True][4] == []
