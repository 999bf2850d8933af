"""Native __sk_buff helpers (jit/native_skb.py) against the interpreter's Python helpers.

A verified tc program, compiled from C, reads eight operations from each
packet (ten control bytes each) and performs them: ``bpf_skb_load_bytes``
and ``bpf_skb_store_bytes`` at offsets up to 1023 (past the end of most
packets: -EFAULT, the buffer zeroed) with lengths 1 to 16,
``bpf_l3_csum_replace`` and ``bpf_l4_csum_replace`` at offsets that are odd,
past the packet or above 0xffff, with every field size (0, 2, 4 and invalid
ones), a non-zero ``from`` for size 0 (-EINVAL), invalid flag bits,
BPF_F_MARK_MANGLED_0 with and without BPF_F_MARK_ENFORCE over zero and
non-zero checksums, BPF_F_PSEUDO_HDR and BPF_F_IPV6. Each return code and
loaded byte goes into a digest. Packets are seeded random bytes, a third of
them zero (zero checksums for the MANGLED_0 rules).

The interpreter and the unchecked JIT (native helpers) must give the same
r0, data_out and ctx_out for every packet. Separate tests check that the
native code really runs (no Python callback when no operation asks for
BPF_F_INVALIDATE_HASH), that it declines what changes Python state, and that
it declines when the run has no skb record or r1 is not its __sk_buff (the
Python helper then reports the error).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import ebpflite
from ebpflite.errors import HelperError
from ebpflite.jit.compiler import JitProgram
from ebpflite.loader.cc import compile_c

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define OPS 8
#define CTL 10
/* flags from control bytes: field sizes 0, 2, 4, 6 and odd ones (c[9] bit 3), BPF_F_PSEUDO_HDR,
   MARK_MANGLED_0, MARK_ENFORCE, IPV6 (c[7] bits 4-7), and a bit no helper knows (c[9] bit 2) */
#define SIZE(c) ((__u64)((c)[7] & 6) | (((c)[9] >> 3) & 1))
#define BAD(c) ((__u64)((c)[9] & 4) << 6)

SEC("tc")
int ops(struct __sk_buff *skb)
{
    __u8 ctl[OPS * CTL];
    __u64 digest = bpf_skb_load_bytes(skb, 14, ctl, sizeof(ctl));
    if (digest)
        return (int)digest;
#pragma unroll
    for (int i = 0; i < OPS; i++) {
        __u8 *c = ctl + i * CTL;
        __u8 buf[16] = {};
        __u32 off = c[1] | (c[2] & 0x80 ? (__u32)(c[2] & 3) << 8 : 0);
        __u32 len = (c[3] & 15) + 1;
        __u64 from = c[8] & 1 ? ((__u64)c[4] << 56 | (__u64)c[5] << 16 | c[6]) : 0;
        __u64 to = (__u64)c[6] << 40 | (__u64)c[5] << 24 | (__u64)c[9] << 8 | c[4];
        long r;
        switch (c[0] % 6) {
        case 0:
        case 1:
            __builtin_memcpy(buf, c + 1, 8);  /* a failed load must zero the first len bytes */
            off = c[9] & 16 ? off | 0x80000000u : off;
            r = bpf_skb_load_bytes(skb, off, buf, len);
            r ^= *(__u64 *)buf ^ (*(__u64 *)(buf + 8) << 1);
            break;
        case 2:
            __builtin_memcpy(buf, c + 2, 8);
            off = c[9] & 16 ? off | 0x80000000u : off;
            r = bpf_skb_store_bytes(skb, off, buf, len, c[7] & 7);  /* 2, 3: hash; 4-7 -EINVAL */
            break;
        case 3:
            off = c[9] & 1 ? off * 97 : off;  /* past 0xffff sometimes */
            r = bpf_l3_csum_replace(skb, off, from, to, SIZE(c) | BAD(c) | (c[7] & 0x10));
            break;
        default:
            off = c[9] & 1 ? off * 97 : off;
            r = bpf_l4_csum_replace(skb, off, from, to, SIZE(c) | BAD(c) | (c[7] & 0xf0));
            break;
        }
        digest = digest * 1000003 + (__u64)r;
    }
    return (int)(digest ^ (digest >> 32));
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("native_skb") / "skbops.c"
    src.write_text(SOURCE)
    try:
        return compile_c(src, src.with_suffix(".o"))
    except ebpflite.CompileError as exc:  # pragma: no cover - no compiler installed
        pytest.skip(f"no C compiler for eBPF: {exc}")


def _byte(rng: random.Random) -> int:
    return 0 if rng.random() < 0.33 else rng.randrange(256)


def _packets(seed: int, count: int, hash_flag: bool = True) -> list[bytes]:
    """Frames of 100 to 400 bytes (EtherType 0x88b5: no IP length rules) with 80 control bytes."""
    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        ctl = bytearray(_byte(rng) for _ in range(80))
        if not hash_flag:  # no BPF_F_INVALIDATE_HASH (store flags 2 and 3): all native
            for i in range(0, 80, 10):
                if ctl[i] % 6 == 2 and ctl[i + 7] & 7 in (2, 3):
                    ctl[i + 7] = 0
        size = rng.randrange(100, 400)
        frames.append(bytes(12) + b"\x88\xb5" + bytes(ctl) + bytes(_byte(rng) for _ in range(size - 94)))
    return frames


def _op(kind: int, off: int, size: int = 1, frm: int = 0, to: int = 0, flags: int = 0, misc: int = 0) -> bytes:
    """Ten control bytes: ``frm`` and ``to`` are the bytes c[4..6] (non-zero ``frm`` sets c[8])."""
    low = to.to_bytes(3, "little") if to else frm.to_bytes(3, "little")
    return bytes([kind, off & 0xFF, 0x80 | off >> 8 if off > 0xFF else 0, size - 1, *low, flags, 1 if frm else 0,
                  misc])


#: hand-made operations for the rules random bytes rarely hit
EDGES = {
    # l4, size 4, MARK_MANGLED_0: the new sum of 0xffff with from = to = 0 is 0, written as 0xffff
    "mangled zero written as 0xffff": [_op(4, 100, flags=0x20 | 4)],
    # MARK_MANGLED_0 on a zero (unused UDP) checksum: left alone, unless MARK_ENFORCE
    "mangled, zero sum left": [_op(4, 110, frm=5, to=9, flags=0x20 | 4)],
    "mangled enforced": [_op(4, 110, frm=5, to=9, flags=0x60 | 4)],
    "l3 diff with from": [_op(3, 100, frm=3, to=7, flags=0)],
    "l3 odd offset": [_op(3, 101, to=7, flags=2)],
    "l3 last two bytes": [_op(3, 118, to=0x1234, flags=2)],
    "l3 one byte past": [_op(3, 120, to=0x1234, flags=2)],  # the frame has 121 bytes
    "load last byte": [_op(0, 120, size=1)],
    "load one past": [_op(0, 120, size=2)],
    "load above INT_MAX": [_op(0, 0, size=4, misc=16)],
    "store to the end": [_op(2, 105, size=16)],
    "store one past": [_op(2, 106, size=16)],
}


def _edge_frame(ops: list[bytes]) -> bytes:
    body = b"".join(ops).ljust(80, b"\0")
    rest = bytearray(range(27))  # frame offsets 94..120; the sum 0xffff at 100, zero at 110
    rest[6:8], rest[16:18] = b"\xff\xff", b"\0\0"
    return bytes(12) + b"\x88\xb5" + body + bytes(rest)


def test_edge_cases_match_the_interpreter(obj_path):
    frames = [_edge_frame(ops) for ops in EDGES.values()]
    interp, _ = _replay(obj_path, "interp", frames)
    jit, _ = _replay(obj_path, "jit", frames)
    for name, got, want in zip(EDGES, jit, interp, strict=True):
        assert got == want, name
    assert interp[0][1][100:102] == b"\xff\xff" and interp[2][1][110:112] != b"\0\0"
    assert interp[1][1][110:112] == b"\0\0"


def _replay(path, engine: str, packets: list[bytes]):
    obj = ebpflite.load(path, engine=engine, verify=True)
    prog = obj.programs["ops"]
    results = [(res.r0, res.packet, res.ctx) for res in (prog.run(packet=p, ctx=bytes(192)) for p in packets)]
    return results, prog.runner().engine


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_native_skb_helpers_match_the_interpreter(obj_path, seed):
    packets = _packets(seed, 120)
    interp, _ = _replay(obj_path, "interp", packets)
    jit, engine = _replay(obj_path, "jit", packets)
    assert isinstance(engine, JitProgram) and not engine.checked
    assert engine.options.native_numbers >= {9, 10, 11, 26}
    assert jit == interp
    assert len({r0 for r0, _, _ in interp}) > 100  # the digests depend on the helpers' results
    assert sum(res[1] != p for res, p in zip(interp, packets, strict=True)) > 30  # stores and checksums wrote


def test_packets_reach_every_outcome(obj_path):
    """The packets do exercise each helper's success and each of its errors (the Python
    helpers' results, recorded in the interpreter)."""
    obj = ebpflite.load(obj_path, engine="interp", verify=True)
    runner = obj.programs["ops"].runner()
    seen: dict[int, set[int]] = {}

    def recording(number, helper):
        def call(env, *args):
            r0 = helper(env, *args)
            seen.setdefault(number, set()).add(r0 - (1 << 64) if r0 >> 63 else r0)
            return r0
        return call

    for number in (9, 10, 11, 26):
        runner.env.helpers[number] = recording(number, runner.env.helpers[number])
    for packet in _packets(1, 120):
        runner.run(packet=packet)
    assert seen == {26: {0, -14}, 9: {0, -14, -22}, 10: {0, -14, -22}, 11: {0, -14, -22}}


def test_native_skb_helpers_make_no_callback(obj_path):
    packets = _packets(4, 80, hash_flag=False)
    interp, _ = _replay(obj_path, "interp", packets)
    jit, engine = _replay(obj_path, "jit", packets)
    assert jit == interp
    assert engine._trampoline.calls == 0


def test_invalidate_hash_falls_back_to_python(obj_path):
    """BPF_F_INVALIDATE_HASH clears Python state (the hash): native code declines it."""
    store = bytes([2, 0, 0, 3, 1, 2, 3, 2, 0, 0])  # store 4 bytes at offset 0, flags 2
    frame = bytes(12) + b"\x88\xb5" + store * 8 + bytes(40)
    jit, engine = _replay(obj_path, "jit", [frame])
    interp, _ = _replay(obj_path, "interp", [frame])
    assert jit == interp
    assert engine._trampoline.calls == 8


def _bare_jit(obj_path):
    obj = ebpflite.load(obj_path, engine="interp", verify=True)
    runner = obj.programs["ops"].runner()
    return JitProgram(runner.program, runner.env, checked=False)


def test_no_skb_record_declines_to_the_python_helper(obj_path):
    """A verified tc program run by hand on bytes that are no __sk_buff: native code has no
    record to read, so the Python helper runs and refuses, instead of reading through r1."""
    jit = _bare_jit(obj_path)
    assert jit.options.native_numbers >= {26}
    fake = np.zeros(192, dtype=np.uint8)
    with pytest.raises(HelperError, match="context is not an __sk_buff"):
        jit.run(fake.ctypes.data)


def test_r1_not_the_records_sk_buff_declines(obj_path):
    """A record whose __sk_buff is not r1 (another context type calling the same helper
    number): native code declines, the Python helper reports the mismatch."""
    from ebpflite.helpers.skb import SkbContext

    jit = _bare_jit(obj_path)
    skb = SkbContext("sched_cls", bytes(12) + b"\x88\xb5" + bytes(100))
    jit.env.world.ctx = skb
    skb.attach(jit.env.memory)
    other = np.zeros(192, dtype=np.uint8)
    jit.native_context(skb.native_record)
    with pytest.raises(HelperError, match="must be the __sk_buff context pointer"):
        jit.run(other.ctypes.data)
