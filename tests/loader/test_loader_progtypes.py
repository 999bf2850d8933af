"""Section names -> program types (libbpf's and ebpf-for-windows' tables)."""

import pytest

from ebpflite.loader.progtypes import PROG_TYPES, prog_type_for_section


@pytest.mark.parametrize("section,expected", [
    ("xdp", "xdp"), ("xdp.frags", "xdp"), ("xdp/devmap", "xdp"), ("xdp_drop", "xdp"),
    ("socket", "socket_filter"), ("socket1", "socket_filter"),
    ("kprobe/do_sys_open", "kprobe"), ("kretprobe/x", "kprobe"), ("uprobe/bin:fn", "kprobe"),
    ("tracepoint/syscalls/sys_enter_open", "tracepoint"), ("tp/sched/x", "tracepoint"),
    ("raw_tracepoint/sched_switch", "raw_tracepoint"), ("raw_tp/x", "raw_tracepoint"),
    ("raw_tp.w/x", "raw_tracepoint_writable"), ("tp_btf/sched_switch", "tracing"),
    ("tc", "sched_cls"), ("tc/ingress", "sched_cls"), ("classifier", "sched_cls"), ("action", "sched_act"),
    ("cgroup/skb", "cgroup_skb"), ("cgroup_skb/egress", "cgroup_skb"), ("cgroup/sock_create", "cgroup_sock"),
    ("cgroup/connect4", "cgroup_sock_addr"), ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/getsockopt", "cgroup_sockopt"), ("cgroup/dev", "cgroup_device"),
    ("sockops", "sock_ops"), ("sk_skb/stream_parser", "sk_skb"), ("sk_msg", "sk_msg"),
    ("fentry/tcp_connect", "tracing"), ("fexit/x", "tracing"), ("fentry.s/x", "tracing"),
    ("lsm/file_open", "lsm"), ("lsm.s/x", "lsm"), ("freplace/x", "ext"), ("iter/task", "tracing"),
    ("struct_ops/x", "struct_ops"), ("sk_lookup", "sk_lookup"), ("syscall", "syscall"),
    ("netfilter", "netfilter"), ("lwt_xmit", "lwt_xmit"), ("flow_dissector", "flow_dissector"),
    ("perf_event", "perf_event"), ("my_custom_section", "unspec"), (".text", "unspec"),
])
def test_linux_sections(section, expected):
    assert prog_type_for_section(section) == expected
    assert expected in PROG_TYPES


@pytest.mark.parametrize("section,expected", [
    ("bind", "bind"), ("xdp", "xdp"), ("xdp_test", "xdp"), ("cgroup/connect4", "cgroup_sock_addr"),
    ("sockops", "sock_ops"), ("sample_ext", "sample"), ("unknown", "unspec"),
])
def test_windows_sections(section, expected):
    assert prog_type_for_section(section, "windows") == expected
