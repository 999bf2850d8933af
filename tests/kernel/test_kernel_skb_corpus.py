"""Programs nobody here wrote, in the kernel and in ebpflite: the Linux tc and socket samples, Cilium, Open vSwitch.

Each object of ../shared/ebpf-samples that the kernel accepts as a tc or
socket program is loaded into the running kernel through bpf(2)
(tests/kernel/bpf_syscall.py: most are legacy-map objects bpftool cannot
load) with its tail calls wired the way its own loader wires them, and into
ebpflite the same way. The same packets run through the entry programs in
both (BPF_PROG_TEST_RUN, pinned to CPU 0 so per-CPU maps line up); every
return value, output packet and ctx_out must match, and so must every map
afterwards. ebpflite runs each program verified when its verifier accepts
the object and checked otherwise (the verifier's gaps are its own tests'
business).
"""

from __future__ import annotations

import os
from pathlib import Path

import bpf_syscall as K
import pytest

from ebpflite import load
from ebpflite.errors import EbpfError, TestRunRefused, VerifierError
from ebpflite.loader import load_object
from ebpflite.packets import ICMP, TCP, UDP, Dot1Q, Ether, ICMPv6, IPv4, IPv6

pytestmark = pytest.mark.kernel

SAMPLES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "ebpf-samples").resolve()
if not (SAMPLES / "verdicts.json").is_file():
    pytest.skip(f"the ebpf-samples corpus is not at {SAMPLES}", allow_module_level=True)
_MISSING = K.available()
if _MISSING:
    pytest.skip(f"kernel corpus comparison skipped: {_MISSING}", allow_module_level=True)

#: (object, program type it is loaded as, entry programs run on the packets)
CORPUS = [
    ("linux/tcbpf1_kern.o", "sched_cls",
     ["classifier", "redirect_xmit", "redirect_recv", "clone_redirect_xmit", "clone_redirect_recv"]),
    ("linux/tc_l2_redirect_kern.o", "sched_cls",
     ["drop_non_tun_vip", "l2_to_iptun_ingress_forward", "l2_to_iptun_ingress_redirect",
      "l2_to_ip6tun_ingress_redirect"]),
    ("linux/xdp2skb_meta_kern.o", "sched_cls", ["tc_mark"]),
    ("linux/sockex1_kern.o", "socket_filter", ["socket1"]),
    ("linux/sockex2_kern.o", "socket_filter", ["socket2"]),
    ("linux/sockex3_kern.o", "socket_filter", ["socket/0"]),
    ("new_linux/sockex1_kern.o", "socket_filter", ["bpf_prog1"]),
    ("new_linux/sockex2_kern.o", "socket_filter", ["bpf_prog2"]),
    ("new_linux/sockex3_kern.o", "socket_filter", ["main_prog"]),
    ("cilium/bpf_lxc.o", "sched_cls", ["from-container"]),
    ("cilium/bpf_netdev.o", "sched_cls", ["from-netdev"]),
    ("cilium/bpf_overlay.o", "sched_cls", ["from-overlay"]),
    ("cilium/bpf_lb.o", "sched_cls", ["from-netdev"]),
    ("cilium-examples/tcx_bpf_bpfel.o", "sched_cls", ["ingress_prog_func", "egress_prog_func"]),
    ("cilium-examples/cgroup_skb_bpf_bpfel.o", "cgroup_skb", ["count_egress_packets"]),
    ("ovs/datapath.o", "sched_cls", ["ingress", "egress"]),
]

def packets() -> list[bytes]:
    e = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    frames = [
        Ether(**e) / IPv4(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="S"),
        Ether(**e) / IPv4(src="192.168.1.5", dst="8.8.8.8") / UDP(sport=5353, dport=53) / b"query",
        Ether(**e) / IPv4(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8) / b"ping",
        Ether(**e) / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=443),
        Ether(**e) / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6(type=135) / bytes(20),
        Ether(type=0x0806, **e) / bytes(28),
        Ether(**e) / Dot1Q(vid=10) / IPv4(src="10.0.0.3", dst="10.0.0.4") / UDP(sport=1, dport=2),
        Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01") / IPv4(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67) / bytes(300),
        Ether(**e) / IPv4(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / TCP(dport=22),
    ]
    return [bytes(f) for f in frames] + [bytes(14), bytes(13), bytes(Ether(**e) / IPv4(proto=17))[:30]]


def _kernel_runs(objfile, prog_type: str, entries: list[str], frames: list[bytes], ctx: bytes | None):
    """Every entry on every frame in the kernel, then its maps (pinned to CPU 0)."""
    slots = K.tail_call_slots(objfile)
    kernel = K.load_object(objfile, prog_type, slots=slots)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        refused = [e for e in entries if e not in kernel.programs]
        assert not refused, f"the kernel refused {refused}: {[kernel.refused.get(e) for e in refused]}"
        runs = {e: [K.prog_test_run(kernel.programs[e], f, ctx) for f in frames] for e in entries}
        maps = {name: kernel.dump(name) for name, (_, spec) in kernel.maps.items()
                if spec.type not in ("prog_array", "perf_event_array")}
    finally:
        os.sched_setaffinity(0, affinity)
        kernel.close()
    return slots, runs, maps


def _ours(live) -> dict[bytes, bytes]:
    """A live map's entries as the kernel's lookup gives them (per-CPU values padded to 8 bytes)."""
    out = {}
    percpu = "percpu" in live.type
    for key, values in live.raw_items():
        if percpu:
            step = -(-live.value_size // 8) * 8
            out[bytes(key)] = b"".join(bytes(v).ljust(step, b"\0") for v in values)
        else:
            out[bytes(key)] = bytes(values[0])
    return out


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("path, prog_type, entries", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_program_agrees_with_the_kernel(path, prog_type, entries, engine):
    objfile = load_object(SAMPLES / path, prog_type=prog_type, partial=True)
    frames = packets()
    ctx = bytes(192) if prog_type != "socket_filter" else None  # ctx_out too, where the type has one
    slots, kernel_runs, kernel_maps = _kernel_runs(objfile, prog_type, entries, frames, ctx)
    try:
        obj = load(SAMPLES / path, prog_type=prog_type, engine=engine, cpus=K.possible_cpus())
    except VerifierError:
        obj = load(SAMPLES / path, prog_type=prog_type, engine=engine, cpus=K.possible_cpus(), verify=False)
    for name, (map_name, index) in slots.items():
        obj.maps[map_name].set_program(index, obj.programs[name].program)
    for live in obj.maps.values():  # the kernel's perf arrays have no reader: output fails with -ENOENT
        if live.type == "perf_event_array":
            for index in range(live.max_entries):
                live.delete(index)
    differences = []
    for entry in entries:
        prog = obj.programs[entry]
        for i, (frame, k) in enumerate(zip(frames, kernel_runs[entry], strict=True)):
            where = f"{entry} frame {i}"
            try:
                res = prog.run(packet=frame, ctx=ctx)
            except TestRunRefused as exc:
                if k.retval is not None or exc.errno != k.errno:
                    differences.append(f"{where}: ebpflite refused ({exc}), kernel {k}")
                continue
            except EbpfError as exc:
                differences.append(f"{where}: ebpflite failed: {type(exc).__name__}: {str(exc)[:300]}")
                continue
            if k.retval is None:
                differences.append(f"{where}: the kernel refused it (errno {k.errno}), ebpflite ran it")
            elif res.return_value != k.retval:
                differences.append(f"{where}: return value kernel {k.retval}, ebpflite {res.return_value}")
            elif res.packet != k.data_out:
                differences.append(f"{where}: data_out\n  kernel  {k.data_out.hex()}\n  ebpflite {res.packet.hex()}")
            elif ctx is not None and res.ctx != k.ctx_out:
                differences.append(f"{where}: ctx_out\n  kernel  {k.ctx_out.hex()}\n  ebpflite {res.ctx.hex()}")
    for name, entries_k in kernel_maps.items():
        ours = _ours(obj.maps[name])
        if ours != entries_k:
            only_k = {k.hex(): v.hex() for k, v in entries_k.items() if ours.get(k) != v}
            only_o = {k.hex(): v.hex() for k, v in ours.items() if entries_k.get(k) != v}
            differences.append(f"map {name}: kernel {only_k}, ebpflite {only_o}")
    assert not differences, f"{path} on {engine}:\n" + "\n".join(differences)
