"""Per-program-type helper allow-lists and map/helper compatibility (helpers/allowed.py).

The kernel refuses a helper the program type does not offer, and a map the
helper cannot take, however well-typed the call; so must we. The tables
are checked here by example and, where the kernel permits BPF, against
the running kernel for every (program type, helper) pair.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from verifier_kernel import kernel_allows_helper, load_raw, unavailable

from ebpflite import verifier
from ebpflite.helpers import allowed, registry
from ebpflite.loader.progtypes import PROG_TYPE_NUMBERS
from ebpflite.vm.asm import assemble_program
from ebpflite.vm.contexts import attach_of

CALL_ONLY = "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall {n}\nr0 = 0\nexit"


def first_error(asm: str, prog_type: str, section: str = ""):
    prog = replace(assemble_program(asm), prog_type=prog_type, section=section)
    report = verifier.verify(prog)
    return report.errors[0] if report.errors else None


@pytest.mark.parametrize("prog_type, helper", [
    ("xdp", "sock_map_update"), ("socket_filter", "skb_store_bytes"), ("kprobe", "probe_write_user"),
    ("kprobe", "override_return"), ("sched_cls", "xdp_adjust_head"), ("cgroup_skb", "redirect"),
])
def test_a_helper_the_type_does_not_offer_is_refused(prog_type, helper):
    spec = registry.by_name(helper, "linux")
    e = first_error(CALL_ONLY.format(n=spec.number), prog_type)
    assert e is not None and e.check == "helper_type"
    assert e.message == f"{prog_type} programs cannot use helper {spec.name}#{spec.number}"


@pytest.mark.parametrize("prog_type, helper", [
    ("xdp", "xdp_adjust_head"), ("sched_cls", "skb_set_tunnel_opt"), ("kprobe", "probe_read"),
    ("sock_ops", "sock_map_update"), ("unspec", "sock_map_update"), ("tracing", "d_path"),
])
def test_a_helper_the_type_offers_passes_the_allow_list(prog_type, helper):
    spec = registry.by_name(helper, "linux")
    e = first_error(CALL_ONLY.format(n=spec.number), prog_type)
    assert e is None or e.check != "helper_type", e.text()


def test_attach_point_narrows_the_list():
    assert "bind" in allowed.allowed("cgroup_sock_addr", attach="connect4")
    assert "bind" not in allowed.allowed("cgroup_sock_addr", attach="bind4")
    assert "set_retval" not in allowed.allowed("cgroup_sock_addr", attach="recvmsg4")
    assert "setsockopt" not in allowed.allowed("cgroup_sockopt", attach="getsockopt")
    assert "setsockopt" in allowed.allowed("cgroup_sockopt", attach="setsockopt")
    assert attach_of("cgroup/connect4") == "connect4" and attach_of("xdp") is None
    spec = registry.by_name("bind", "linux")
    e = first_error(CALL_ONLY.format(n=spec.number), "cgroup_sock_addr", section="cgroup/sendmsg4")
    assert e.check == "helper_type" and "cgroup_sock_addr programs cannot use helper bpf_bind#64" in e.message


@pytest.mark.parametrize("prog_type, section, ok", [
    ("kprobe", "uprobe/x", False), ("kprobe", "uprobe.s/x", True), ("xdp", "xdp", False),
    ("syscall", "syscall", True), ("lsm", "lsm.s/file_open", True),
])
def test_helpers_that_sleep_need_a_sleepable_program(prog_type, section, ok):
    spec = registry.by_name("copy_from_user", "linux")
    e = first_error(CALL_ONLY.format(n=spec.number), prog_type, section)
    if ok:
        assert e is None or e.check != "helper_type", e.text()
    else:
        assert e.check == "helper_type"
        assert e.message == f"bpf_copy_from_user#148 might sleep, and this {prog_type} program is not sleepable"


def test_windows_and_unknown_types_are_not_restricted():
    assert allowed.allowed("xdp", "windows") is None
    assert allowed.allowed("unspec") is None and allowed.allowed("lsm") is None


def test_tables_name_real_helpers_and_map_types():
    helpers = set(registry.LINUX_NAMES[1:])
    for prog_type, names in allowed.LINUX.items():
        assert names <= helpers, (prog_type, names - helpers)
        assert prog_type in PROG_TYPE_NUMBERS
    map_types = set(registry.LINUX_MAP_TYPES.values())
    assert set(allowed.MAP_HELPERS) <= map_types
    assert all(kinds <= map_types for kinds in allowed.HELPER_MAPS.values())
    assert all(names <= helpers for names in allowed.MAP_HELPERS.values())
    assert set(allowed.HELPER_MAPS) <= helpers


@pytest.mark.parametrize("helper, map_type, why", [
    ("tail_call", "array", "bpf_tail_call takes a prog_array map"),
    ("map_lookup_elem", "prog_array", "a prog_array map can only be passed to bpf_tail_call"),
    ("redirect_map", "hash", "bpf_redirect_map takes a cpumap, devmap, devmap_hash or xskmap map"),
    ("map_lookup_percpu_elem", "array", "takes a lru_percpu_hash, percpu_array or percpu_hash map"),
    ("ringbuf_output", "perf_event_array", "a perf_event_array map can only be passed to"),
])
def test_map_incompatibility(helper, map_type, why):
    assert why in allowed.map_incompatibility(helper, map_type)


@pytest.mark.parametrize("helper, map_type", [
    ("tail_call", "prog_array"), ("map_lookup_elem", "hash"), ("redirect_map", "devmap"),
    ("map_lookup_elem", "devmap"), ("map_push_elem", "bloom_filter"), ("map_update_elem", "sockmap"),
])
def test_map_compatibility(helper, map_type):
    assert allowed.map_incompatibility(helper, map_type) is None


# --- the running kernel as oracle ------------------------------------------------------------------------

#: (program type, attach point name or None) -> (enum bpf_attach_type number, prog_flags) to load it with
PROBES: dict[tuple[str, str | None], tuple[int, int]] = {
    **{(t, None): (0, 0) for t in ("socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
                                   "perf_event", "cgroup_skb", "lwt_in", "lwt_out", "lwt_xmit",
                                   "raw_tracepoint", "lwt_seg6local", "raw_tracepoint_writable")},
    ("cgroup_sock", None): (2, 0), ("sock_ops", None): (3, 0), ("sk_skb", None): (5, 0),
    ("cgroup_device", None): (6, 0), ("sk_msg", None): (7, 0), ("flow_dissector", None): (17, 0),
    ("cgroup_sysctl", None): (18, 0), ("sk_lookup", None): (36, 0), ("sk_reuseport", None): (39, 0),
    ("netfilter", None): (45, 0), ("syscall", None): (0, 1 << 4),  # BPF_F_SLEEPABLE
    **{("cgroup_sock_addr", name): (number, 0) for name, number in (
        ("bind4", 8), ("bind6", 9), ("connect4", 10), ("connect6", 11), ("sendmsg4", 14), ("sendmsg6", 15),
        ("recvmsg4", 19), ("recvmsg6", 20), ("getpeername4", 29), ("getpeername6", 30),
        ("getsockname4", 31), ("getsockname6", 32), ("connect_unix", 49), ("sendmsg_unix", 50),
        ("recvmsg_unix", 51), ("getpeername_unix", 52), ("getsockname_unix", 53))},
    ("cgroup_sockopt", "getsockopt"): (21, 0), ("cgroup_sockopt", "setsockopt"): (22, 0),
}


@pytest.fixture(scope="module")
def kernel_618():
    why = unavailable()
    if why:
        pytest.skip(f"asking the kernel needs root: {why}")
    release = os.uname().release
    if not release.startswith("6.18"):
        pytest.skip(f"the allow-lists describe Linux 6.18; this kernel is {release}")
    loaded, log = load_raw(PROG_TYPE_NUMBERS["socket_filter"], bytes.fromhex("b700000000000000 9500000000000000"))
    if not loaded:
        pytest.skip(f"the kernel refuses BPF here: {log.strip()[-200:]}")


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type, attach", sorted(PROBES, key=str), ids=lambda v: str(v))
def test_allow_list_matches_the_running_kernel(prog_type, attach, kernel_618):
    number, flags = PROBES[prog_type, attach]
    ours = allowed.allowed(prog_type, attach=attach)
    kernel = {name for n, name in enumerate(registry.LINUX_NAMES) if n and kernel_allows_helper(
        PROG_TYPE_NUMBERS[prog_type], n, number, flags)}
    assert kernel == ours, f"only the kernel: {sorted(kernel - ours)}; only ebpflite: {sorted(ours - kernel)}"


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type, flags", [("xdp", 0), ("kprobe", 0), ("syscall", 1 << 4)])
def test_sleeping_helpers_agree_with_the_running_kernel(prog_type, flags, kernel_618):
    for name in sorted(allowed.MIGHT_SLEEP & allowed.allowed(prog_type)):
        number = registry.by_name(name, "linux").number
        _, log = load_raw(PROG_TYPE_NUMBERS[prog_type], bytes.fromhex(
            "b701000000000000 b702000000000000 b703000000000000 b704000000000000 b705000000000000"
            f"85000000{number:02x}000000 b700000000000000 9500000000000000"), flags=flags)
        assert ("might sleep" in log) != allowed.sleepable(prog_type, ""), (name, log[-300:])


def test_probe_read_takes_any_address_as_its_source():
    """bpf_probe_read's third argument is an address the helper reads: a pointer there is no leak
    (the kernel takes any value); other ANYTHING arguments still must be numbers."""
    read = ("r1 = r10\nr1 += -8\nr2 = 8\nr3 = r10\nr3 += -16\n*(u64 *)(r10 - 16) = r2\n"
            "call bpf_probe_read_kernel\nr0 = 0\nexit")
    e = first_error(read, "kprobe")
    assert e is None, e.text()
    e = first_error("r1 = r10\ncall bpf_send_signal\nr0 = 0\nexit", "kprobe")
    assert e.check == "pointer_leak" and "argument 1 of bpf_send_signal must be a number" in e.message
    assert registry.by_name("probe_read_str", "linux").address_args == (2,)
