"""Differential tests: the same XDP objects and packets in the kernel (bpftool prog run) and in ebpflite.

For each batch the return values, the output packets (data_meta..data_end),
ctx_out where given, and the maps afterwards must be identical. Programs
are run with ``verify=False`` in ebpflite so that a verifier false positive
cannot hide a runtime difference (the verifier has its own tests). Every
test runs once per engine: the interpreter, the JIT in checked mode (what
``verify=False`` gives) and the JIT on the verified program (unchecked, with
native map lookups).
"""

from __future__ import annotations

import struct

import pytest
from kernel_runner import compile_prog, kernel_map_entries, missing_capability, run_in_kernel

from ebpflite import load
from ebpflite.errors import ContextError, VerifierError

pytestmark = pytest.mark.kernel

_MISSING = missing_capability()
if _MISSING:
    pytest.skip(f"kernel differential tests skipped: {_MISSING}", allow_module_level=True)


def eth(proto: int = 0x0800, dst: bytes = b"\xff" * 6, src: bytes = b"\x02\0\0\0\0\x01") -> bytes:
    return dst + src + struct.pack(">H", proto)


def ipv4(proto: int, src: str = "192.168.0.1", dst: str = "192.168.0.2", payload: bytes = b"") -> bytes:
    saddr = bytes(int(x) for x in src.split("."))
    daddr = bytes(int(x) for x in dst.split("."))
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0, saddr, daddr) + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


ENGINES = {"interp": ("interp", False), "jit": ("jit", False), "jit-verified": ("jit", True)}


@pytest.fixture(params=list(ENGINES))
def engine(request) -> tuple[str, bool]:
    """(engine name, verify) for ebpflite's side of the comparison."""
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    out = tmp_path_factory.mktemp("objs")
    return {name: compile_prog(name, out) for name in ("xdp_parse", "xdp_adjust", "xdp_redirect")}


def compare(obj_path, tmp_path, packets, *, repeat=1, ctx_in=None, map_updates=(), ebpf_setup=None,
            engine=("interp", False)):
    kernel = run_in_kernel(obj_path, tmp_path, packets, repeat=repeat, ctx_in=ctx_in, map_updates=map_updates)
    name, verify = engine
    try:
        obj = load(obj_path, verify=verify, cpus=1, engine=name)
    except VerifierError as exc:  # a verifier false positive is the verifier's tests' business
        pytest.skip(f"ebpflite's verifier rejects {obj_path.name}, so there is no verified program to JIT: {exc}")
    if ebpf_setup:
        ebpf_setup(obj)
    prog = next(iter(obj.programs.values()))
    for i, packet in enumerate(packets):
        k = kernel.runs[i]
        ctx = ctx_in[i] if ctx_in else None
        if k.retval is None:
            with pytest.raises(ContextError):
                prog.run(packet=packet, ctx=ctx, repeat=repeat)
            continue
        res = prog.run(packet=packet, ctx=ctx, repeat=repeat)
        assert res.return_value == k.retval, f"packet {i}: kernel {k.retval}, ebpflite {res.return_value}"
        assert res.packet == k.data_out, f"packet {i}: output differs\n k {k.data_out.hex()}\n e {res.packet.hex()}"
        if k.ctx_out is not None:
            assert res.ctx[:len(k.ctx_out)] == k.ctx_out[:len(res.ctx)], f"packet {i}: ctx_out differs"
    for name, dump in kernel.maps.items():
        if name not in obj.maps:
            continue
        live = obj.maps[name]
        ours = {k: b"".join(v) for k, v in live.raw_items()}
        if live.type == "devmap":
            continue  # the kernel shows devmap values as ifindex + prog id; compared via redirects
        assert ours == kernel_map_entries(dump), f"map {name} differs"
    return kernel


def test_parsing_and_maps(objs, tmp_path, engine):
    packets = [
        eth() + ipv4(17, payload=udp(1234, 9)),            # UDP to discard: DROP
        eth() + ipv4(17, payload=udp(1234, 53, b"q")),     # UDP: PASS
        eth() + ipv4(1, src="10.0.0.7", payload=b"\x08\0\0\0\0\0\0\0"),  # ICMP: MACs swapped, TX
        eth(0x0806) + bytes(28),                           # ARP: PASS untouched
        eth() + bytes(10),                                 # truncated IPv4 header: DROP
        eth() + ipv4(6, src="10.0.0.9", payload=bytes(20)),  # TCP: PASS, counted
        eth() + ipv4(17, src="10.0.0.7", payload=udp(1, 2)),
    ]
    kernel = compare(objs["xdp_parse"], tmp_path, packets, engine=engine)
    assert [r.retval for r in kernel.runs] == [1, 2, 3, 2, 1, 2, 2]


def test_short_packet_refused_by_both(objs, tmp_path, engine):
    kernel = compare(objs["xdp_parse"], tmp_path, [bytes(13), bytes(14)], engine=engine)
    assert kernel.runs[0].retval is None and kernel.runs[1].retval is not None


def op(code: int, delta: int, length: int = 60) -> bytes:
    return bytes([code, delta & 0xFF]) + bytes(i & 0xFF for i in range(2, length))


def test_adjust_head_tail_meta(objs, tmp_path, engine):
    packets = [
        op(1, 0),                   # push an 8-byte tag
        op(2, 1), op(2, 11),        # pull 4 bytes; pull 44 (leaves < 14): fails
        op(3, -4), op(3, 8), op(3, -50), op(3, 127),  # trim, grow (zeroed), too short, grows fine
        op(4, 0),                   # 8 bytes of metadata
        op(5, -3), op(5, -36), op(5, 4), op(5, -128), op(5, -2),  # misaligned, 36 ok, past data, 128, misaligned
        op(6, 27), op(6, 28),       # grow head by 216 (the limit) and 224 (too far)
        op(0, 0, 3520), op(3, 1, 3520), op(3, -1, 3520),  # a full linear buffer; tail cannot grow
    ]
    compare(objs["xdp_adjust"], tmp_path, packets, engine=engine)


def test_repeat_reuses_the_buffer(objs, tmp_path, engine):
    """BPF_PROG_TEST_RUN runs `repeat` times on one buffer: pushes accumulate."""
    compare(objs["xdp_adjust"], tmp_path, [op(1, 0), op(3, 4)], repeat=3, engine=engine)


def test_ctx_in_metadata(objs, tmp_path, engine):
    packet = op(4, 0, 64)
    ctx = struct.pack("<6I", 8, 64, 0, 1, 0, 0)  # 8 bytes of input metadata
    compare(objs["xdp_adjust"], tmp_path, [packet, op(1, 0)], ctx_in=[ctx, struct.pack("<6I", 4, 60, 0, 1, 0, 0)],
            engine=engine)


def test_redirect_map_and_load_store_bytes(objs, tmp_path, engine):
    def frame(last: int) -> bytes:
        return eth() + bytes(range(40)) + bytes([9, 8, 7, last])

    def setup(obj):
        obj.maps["ports"][1] = 1
        obj.maps["ports"][5] = 1
    kernel = compare(objs["xdp_redirect"], tmp_path, [frame(1), frame(2), frame(5), frame(13)],
                     map_updates=[("ports", (1, 0, 0, 0), (1, 0, 0, 0)), ("ports", (5, 0, 0, 0), (1, 0, 0, 0))],
                     ebpf_setup=setup, engine=engine)
    assert [r.retval for r in kernel.runs] == [4, 2, 4, 4]
