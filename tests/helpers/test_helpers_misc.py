"""Time, prandom, process, trace_printk/snprintf, csum_diff, probe_read, spin locks, ring buffer,
perf output, callbacks, tail calls, redirect, strings."""

from __future__ import annotations

import errno
import struct

import pytest
from helpers_testlib import neg

from ebpflite.errors import HelperError
from ebpflite.helpers import maps
from ebpflite.helpers.contexts import XdpContext
from ebpflite.helpers.impl.csum import csum_partial
from ebpflite.helpers.maps import MapSpec
from ebpflite.vm.world import Clock, Process


def test_fixed_clock(linux):
    linux.env.world.clock = Clock(fixed_ns=4_000_000_123, step_ns=10)
    assert linux.call("bpf_ktime_get_ns") == 4_000_000_123
    assert linux.call("bpf_ktime_get_ns") == 4_000_000_133
    assert linux.call("bpf_ktime_get_coarse_ns") == 4_000_000_000
    assert linux.call("bpf_jiffies64") == 1000


def test_windows_ms_clocks(windows):
    windows.env.world.clock = Clock(fixed_ns=5_000_000)
    assert windows.call("bpf_ktime_get_ms") == 5 and windows.call("bpf_ktime_get_boot_ms") == 5


def test_seeded_prandom_repeats(bench):
    bench.env.world.seed = 7
    first = [bench.call("bpf_get_prandom_u32") for _ in range(3)]
    bench.env.world.prandom = None
    assert [bench.call("bpf_get_prandom_u32") for _ in range(3)] == first
    assert all(0 <= v < 2**32 for v in first) and len(set(first)) == 3


def test_process(linux):
    linux.env.world.process = Process(pid=10, tgid=20, uid=30, gid=40, comm="a-very-long-command-name")
    assert linux.call("bpf_get_current_pid_tgid") == (20 << 32) | 10
    assert linux.call("bpf_get_current_uid_gid") == (40 << 32) | 30
    assert linux.call("bpf_get_current_comm", linux.base, 16) == 0
    assert linux.get(0, 16) == b"a-very-long-com\0"
    assert linux.call("bpf_get_current_comm", linux.base, 4) == 0 and linux.get(0, 4) == b"a-v\0"


def printk(b, fmt: bytes, *args):
    ptr = b.put(0, fmt + b"\0")
    name = "bpf_trace_printk" if b.platform == "linux" else f"bpf_trace_printk{len(args) + 2}"
    return b.call(name, ptr, len(fmt) + 1, *args)


def test_trace_printk_formats(bench):
    s = bench.put(512, b"str\0")
    assert printk(bench, b"%d %u %x", -5 & 0xFFFFFFFF, -1, 255) == len("-5 4294967295 ff")
    printk(bench, b"%lld|%5d|%-3x\n", -(2**40), 42, 10)
    printk(bench, b"100%% %c %s", ord("z"), s)
    assert bench.env.trace_output == ["-5 4294967295 ff", f"{-(2**40)}|   42|a  ", "100% z str"]


def test_trace_printk_ip_and_pointers(linux):
    ip = linux.put(600, bytes([10, 0, 0, 1]))
    printk(linux, b"%pI4 %pi4 %px", ip, ip, 0xABC)
    assert linux.env.trace_output == ["10.0.0.1 010.000.000.001 0000000000000abc"]


@pytest.mark.parametrize("fmt", [b"%d %d %d %d", b"%q", b"%pZ", b"bad\x01"])
def test_trace_printk_refuses_bad_formats(linux, fmt):
    assert printk(linux, fmt, 1, 2, 3) == neg(errno.EINVAL)
    assert linux.env.trace_output == []


def test_trace_printk_needs_a_terminated_format(linux):
    ptr = linux.put(0, b"abc")
    assert linux.call("bpf_trace_printk", ptr, 3) == neg(errno.EINVAL)


def test_snprintf(linux):
    fmt = linux.put(100, b"v=%d s=%s\0")
    s = linux.put(200, b"hi\0")
    args = linux.put(300, struct.pack("<QQ", 12, s))
    assert linux.call("bpf_snprintf", linux.base, 6, fmt, args, 16) == len("v=12 s=hi") + 1
    assert linux.get(0, 6) == b"v=12 \0"
    assert linux.call("bpf_snprintf", linux.base, 6, fmt, args, 12) == neg(errno.EINVAL)


def test_csum_diff_linux(linux):
    frm, to = linux.put(0, bytes([1, 2, 3, 4])), linux.put(8, bytes([5, 6, 7, 8]))
    got = linux.call("bpf_csum_diff", frm, 4, to, 4, 0)
    assert 0 <= got <= 0xFFFF
    # adding the difference to the checksum of `from` gives the checksum of `to` (mod 0xffff)
    assert (csum_partial(bytes([1, 2, 3, 4]), 0) + got - csum_partial(bytes([5, 6, 7, 8]), 0)) % 0xFFFF == 0
    assert linux.call("bpf_csum_diff", 0, 0, 0, 0, 77) == 77
    assert linux.call("bpf_csum_diff", frm, 3, to, 4, 0) == neg(errno.EINVAL)


def test_csum_diff_windows(windows):
    to = windows.put(0, struct.pack("<HH", 1, 2))
    assert windows.call("bpf_csum_diff", 0, 0, to, 4, 10) == 13


def test_probe_read(linux):
    src = linux.put(100, b"hello\0world")
    assert linux.call("bpf_probe_read_kernel", linux.base, 5, src) == 0 and linux.get(0, 5) == b"hello"
    assert linux.call("bpf_probe_read_user", linux.base, 5, 0xDEAD0000) == neg(errno.EFAULT)
    assert linux.get(0, 5) == bytes(5)
    assert linux.call("bpf_probe_read_str", linux.base, 16, src) == 6 and linux.get(0, 6) == b"hello\0"
    assert linux.call("bpf_probe_read_str", linux.base, 3, src) == 3 and linux.get(0, 3) == b"he\0"
    assert linux.call("bpf_probe_read_kernel_str", linux.base, 8, 0x10) == neg(errno.EFAULT)


def test_spin_lock_misuse(linux):
    lock = linux.base + 8
    linux.call("bpf_spin_lock", lock)
    assert linux.get(8, 4) == struct.pack("<I", 1)
    with pytest.raises(HelperError, match="already held"):
        linux.call("bpf_spin_lock", lock)
    linux.call("bpf_spin_unlock", lock)
    with pytest.raises(HelperError, match="is not held"):
        linux.call("bpf_spin_unlock", lock)


def test_ringbuf(linux):
    rb = maps.create(MapSpec("rb", "ringbuf", 0, 0, 4096), cpus=1)
    linux.add_map(rb)
    data = linux.put(0, b"abcd")
    assert linux.call("bpf_ringbuf_output", rb.address, data, 4, 0) == 0
    rec = linux.call("bpf_ringbuf_reserve", rb.address, 8, 0)
    linux.env.memory.write_bytes(rec, b"12345678")
    linux.call("bpf_ringbuf_submit", rec, 0)
    rec2 = linux.call("bpf_ringbuf_reserve", rb.address, 8, 0)
    linux.call("bpf_ringbuf_discard", rec2, 0)
    with pytest.raises(HelperError, match="not a record reserved"):
        linux.call("bpf_ringbuf_submit", rec2, 0)
    assert rb.consume() == [b"abcd", b"12345678"]
    assert linux.call("bpf_ringbuf_query", rb.address, 0) == 0  # BPF_RB_AVAIL_DATA after consuming
    assert linux.call("bpf_ringbuf_query", rb.address, 1) == 4096  # BPF_RB_RING_SIZE


def test_perf_output_with_packet_bytes(linux):
    pe = maps.create(MapSpec("ev", "perf_event_array", 4, 4, 1), cpus=1)
    linux.add_map(pe)
    ctx = XdpContext(bytes(range(20)))
    ctx.attach(linux.env.memory)
    linux.env.world.ctx = ctx
    sample = linux.put(0, b"S")
    flags = 0xFFFFFFFF | (4 << 32)  # current CPU, 4 packet bytes
    assert linux.call("bpf_perf_event_output", ctx.registers()[0], pe.address, flags, sample, 1) == 0
    assert pe.records() == [b"S" + bytes(range(4))]
    assert linux.call("bpf_perf_event_output", 0, pe.address, 1 << 60, sample, 1) == neg(errno.EINVAL)


def test_loop_and_for_each_use_the_engine_callback(linux):
    calls = []

    def call_function(pc, r1, r2, r3, r4, r5):
        calls.append((pc, r1, r2, r3, r4))
        return 1 if len(calls) == 3 else 0
    with pytest.raises(HelperError, match="does not run callbacks"):
        linux.call("bpf_loop", 5, 40, 0, 0)
    linux.env.world.call_function = call_function
    assert linux.call("bpf_loop", 5, 40, 0x99, 0) == 3
    assert [c[1] for c in calls] == [0, 1, 2] and calls[0][0] == 40 and calls[0][2] == 0x99
    assert linux.call("bpf_loop", 5, 40, 0, 1) == neg(errno.EINVAL)
    h = maps.create(MapSpec("h", "hash", 4, 4, 8), cpus=1)
    linux.add_map(h)
    h[1], h[2] = 10, 20
    calls.clear()
    linux.env.world.call_function = lambda pc, m, k, v, c, _: calls.append(
        (linux.env.memory.load(k, 4), linux.env.memory.load(v, 4))) or 0
    assert linux.call("bpf_for_each_map_elem", h.address, 40, 0, 0) == 2
    assert sorted(calls) == [(1, 10), (2, 20)]


def test_tail_call(linux):
    from ebpflite.vm.program import Program

    target = Program.from_bytes(bytes.fromhex("b700000001000000 9500000000000000"), name="t", prog_type="xdp")
    pa = maps.create(MapSpec("jmp", "prog_array", 4, 4, 2), cpus=1)
    linux.add_map(pa)
    pa[0] = target
    assert linux.call("bpf_tail_call", 0, pa.address, 1) == neg(errno.ENOENT)
    assert linux.env.pending_tail_call is None
    assert linux.call("bpf_tail_call", 0, pa.address, 0) == 0 and linux.env.pending_tail_call is target
    linux.env.tail_calls = 33
    assert linux.call("bpf_tail_call", 0, pa.address, 0) == neg(errno.E2BIG)


def test_redirect_map_fallback_and_flags(linux):
    dm = maps.create(MapSpec("ports", "devmap", 4, 4, 4), cpus=1)
    linux.add_map(dm)
    dm[1] = 7
    linux.env.world.ctx = XdpContext(bytes(20))
    assert linux.call("bpf_redirect_map", dm.address, 1, 0) == 4
    assert linux.env.world.redirect["target"] == 7
    assert linux.call("bpf_redirect_map", dm.address, 2, 2) == 2  # empty: fallback XDP_PASS
    assert linux.call("bpf_redirect_map", dm.address, 1, 1 << 7) == 0  # bad flag: XDP_ABORTED
    assert linux.call("bpf_redirect", 3, 0) == 4 and linux.call("bpf_redirect", 3, 1) == 0
    h = maps.create(MapSpec("h", "hash", 4, 4, 4), cpus=1)
    linux.add_map(h)
    with pytest.raises(HelperError, match="not one of cpumap, devmap"):
        linux.call("bpf_redirect_map", h.address, 1, 0)


def test_xdp_helpers_check_the_context(linux):
    with pytest.raises(HelperError, match="not an XDP buffer"):
        linux.call("bpf_xdp_adjust_head", 0, 4)
    ctx = XdpContext(bytes(range(32)))
    ctx.attach(linux.env.memory)
    linux.env.world.ctx = ctx
    with pytest.raises(HelperError, match="must be the xdp_md context pointer"):
        linux.call("bpf_xdp_adjust_head", 8, 4)
    md = ctx.registers()[0]
    assert linux.call("bpf_xdp_get_buff_len", md) == 32
    assert linux.call("bpf_xdp_load_bytes", md, 30, linux.base, 2) == 0 and linux.get(0, 2) == bytes([30, 31])
    assert linux.call("bpf_xdp_load_bytes", md, 31, linux.base, 2) == neg(errno.EINVAL)
    assert linux.call("bpf_xdp_store_bytes", md, 0, linux.base, 0x10000) == neg(errno.EFAULT)
    assert linux.call("bpf_xdp_adjust_tail", md, -(32 - 13)) == neg(errno.EINVAL)
    assert linux.call("bpf_xdp_adjust_head", md, -8) == 0 and linux.call("bpf_xdp_get_buff_len", md) == 40


def test_strtol_and_windows_strings(linux, windows):
    s = linux.put(0, b" -0x1f rest")
    assert linux.call("bpf_strtol", s, 11, 0, linux.base + 64) == 6
    assert struct.unpack("<q", linux.get(64, 8))[0] == -31
    assert linux.call("bpf_strtoul", s, 11, 0, linux.base + 64) == neg(errno.EINVAL)
    src = windows.put(0, b"abc\0")
    assert windows.call("bpf_strnlen_s", src, 8) == 3
    assert windows.call("bpf_memcpy_s", windows.base + 100, 2, src, 4) == neg(errno.EINVAL)
    assert windows.call("bpf_memcpy_s", windows.base + 100, 8, src, 4) == 0 and windows.get(100, 4) == b"abc\0"
    assert windows.call("bpf_strncpy_s", windows.base + 200, 3, src, 4) == neg(errno.ENOSPC)
