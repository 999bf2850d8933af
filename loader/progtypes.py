"""Section name -> program type, as libbpf's ``section_defs`` and ebpf-for-windows do.

Why a table: users name sections the way their toolchain taught them
(``xdp``, ``kprobe/sys_open``, ``classifier``, ``cgroup/connect4``,
``bind``), and the program type decides the context layout and the helpers
the verifier allows. A section matches an entry when it equals the prefix,
or continues it with ``/`` (libbpf 1.x), or, as libbpf 0.x, the kernel
samples and iproute2 did, simply starts with it (``socket1``, ``xdp_drop``).
Unknown sections load as ``unspec``, as ``netsh ebpf show sections`` shows them.
"""

from __future__ import annotations

from ebpflite.vm.errors import LoaderError

#: (prefix, program type), most specific first; shared by both platforms
LINUX_SECTIONS: tuple[tuple[str, str], ...] = (
    ("socket", "socket_filter"),
    ("sk_reuseport/migrate", "sk_reuseport"), ("sk_reuseport", "sk_reuseport"),
    ("kprobe.multi", "kprobe"), ("kretprobe.multi", "kprobe"), ("uprobe.multi", "kprobe"),
    ("uretprobe.multi", "kprobe"), ("kprobe", "kprobe"), ("kretprobe", "kprobe"),
    ("uprobe.s", "kprobe"), ("uretprobe.s", "kprobe"), ("uprobe", "kprobe"), ("uretprobe", "kprobe"),
    ("ksyscall", "kprobe"), ("kretsyscall", "kprobe"), ("usdt", "kprobe"),
    ("tcx/ingress", "sched_cls"), ("tcx/egress", "sched_cls"), ("tc/ingress", "sched_cls"),
    ("tc/egress", "sched_cls"), ("netkit/primary", "sched_cls"), ("netkit/peer", "sched_cls"),
    ("tc", "sched_cls"), ("classifier", "sched_cls"), ("action", "sched_act"),
    ("tracepoint", "tracepoint"), ("tp_btf", "tracing"), ("tp", "tracepoint"),
    ("raw_tracepoint.w", "raw_tracepoint_writable"), ("raw_tp.w", "raw_tracepoint_writable"),
    ("raw_tracepoint", "raw_tracepoint"), ("raw_tp", "raw_tracepoint"),
    ("fentry.s", "tracing"), ("fmod_ret.s", "tracing"), ("fexit.s", "tracing"),
    ("fentry", "tracing"), ("fmod_ret", "tracing"), ("fexit", "tracing"),
    ("iter.s", "tracing"), ("iter", "tracing"), ("freplace", "ext"),
    ("lsm.s", "lsm"), ("lsm_cgroup", "lsm"), ("lsm", "lsm"),
    ("xdp.frags/devmap", "xdp"), ("xdp/devmap", "xdp"), ("xdp.frags/cpumap", "xdp"),
    ("xdp/cpumap", "xdp"), ("xdp.frags", "xdp"), ("xdp", "xdp"),
    ("perf_event", "perf_event"),
    ("lwt_in", "lwt_in"), ("lwt_out", "lwt_out"), ("lwt_xmit", "lwt_xmit"),
    ("lwt_seg6local", "lwt_seg6local"),
    ("sockops", "sock_ops"),
    ("sk_skb/stream_parser", "sk_skb"), ("sk_skb/stream_verdict", "sk_skb"), ("sk_skb", "sk_skb"),
    ("sk_msg", "sk_msg"), ("lirc_mode2", "lirc_mode2"), ("flow_dissector", "flow_dissector"),
    ("cgroup_skb/ingress", "cgroup_skb"), ("cgroup_skb/egress", "cgroup_skb"),
    ("cgroup/skb", "cgroup_skb"),
    ("cgroup/sock_create", "cgroup_sock"), ("cgroup/sock_release", "cgroup_sock"),
    ("cgroup/sock", "cgroup_sock"), ("cgroup/post_bind4", "cgroup_sock"),
    ("cgroup/post_bind6", "cgroup_sock"),
    ("cgroup/bind4", "cgroup_sock_addr"), ("cgroup/bind6", "cgroup_sock_addr"),
    ("cgroup/connect4", "cgroup_sock_addr"), ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/connect_unix", "cgroup_sock_addr"),
    ("cgroup/sendmsg4", "cgroup_sock_addr"), ("cgroup/sendmsg6", "cgroup_sock_addr"),
    ("cgroup/sendmsg_unix", "cgroup_sock_addr"),
    ("cgroup/recvmsg4", "cgroup_sock_addr"), ("cgroup/recvmsg6", "cgroup_sock_addr"),
    ("cgroup/recvmsg_unix", "cgroup_sock_addr"),
    ("cgroup/getpeername4", "cgroup_sock_addr"), ("cgroup/getpeername6", "cgroup_sock_addr"),
    ("cgroup/getpeername_unix", "cgroup_sock_addr"),
    ("cgroup/getsockname4", "cgroup_sock_addr"), ("cgroup/getsockname6", "cgroup_sock_addr"),
    ("cgroup/getsockname_unix", "cgroup_sock_addr"),
    ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/getsockopt", "cgroup_sockopt"), ("cgroup/setsockopt", "cgroup_sockopt"),
    ("cgroup/dev", "cgroup_device"),
    ("struct_ops.s", "struct_ops"), ("struct_ops", "struct_ops"),
    ("sk_lookup", "sk_lookup"), ("syscall", "syscall"), ("netfilter", "netfilter"),
)

#: ebpf-for-windows' section prefixes (its program_type GUIDs named as here)
WINDOWS_SECTIONS: tuple[tuple[str, str], ...] = (
    ("xdp_test", "xdp"), ("xdp", "xdp"), ("bind", "bind"),
    ("cgroup/connect4", "cgroup_sock_addr"), ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/recv_accept4", "cgroup_sock_addr"), ("cgroup/recv_accept6", "cgroup_sock_addr"),
    ("sockops", "sock_ops"), ("sample_ext", "sample"),
)

#: section names that only ebpf-for-windows uses: they tell the platform when none is given
WINDOWS_ONLY_PREFIXES = ("bind", "sample_ext", "xdp_test", "cgroup/recv_accept")

#: prog_type name -> the kernel's enum bpf_prog_type number
PROG_TYPE_NUMBERS = {name: i for i, name in enumerate((
    "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp", "perf_event",
    "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out", "lwt_xmit", "sock_ops", "sk_skb", "cgroup_device",
    "sk_msg", "raw_tracepoint", "cgroup_sock_addr", "lwt_seg6local", "lirc_mode2", "sk_reuseport",
    "flow_dissector", "cgroup_sysctl", "raw_tracepoint_writable", "cgroup_sockopt", "tracing",
    "struct_ops", "ext", "lsm", "sk_lookup", "syscall", "netfilter"))}
PROG_TYPES = frozenset(PROG_TYPE_NUMBERS) | {"bind", "sample"}


def _match(section: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for prefix, ptype in table:  # libbpf 1.x: exact, or the prefix followed by '/'
        if section == prefix or section.startswith(prefix + "/"):
            return ptype
    for prefix, ptype in table:  # legacy: plain prefix ("socket1", "xdp_prog")
        if section.startswith(prefix):
            return ptype
    return None


def prog_type_for_section(section: str, platform: str = "linux") -> str:
    """The program type a section name implies (``unspec`` when none matches)."""
    if platform == "windows":
        return _match(section, WINDOWS_SECTIONS) or _match(section, LINUX_SECTIONS) or "unspec"
    return _match(section, LINUX_SECTIONS) or "unspec"


def looks_like_windows(section: str) -> bool:
    return section.startswith(WINDOWS_ONLY_PREFIXES)


#: what the tools that load section-named programs choose for sections that name no type
LOADER_TOOLS = (("sched_cls", "tc"), ("xdp", "ip link"))


def untyped_message(section: str, platform: str = "linux") -> str:
    """Why a program whose section names no type cannot be verified or run, and what to do."""
    types = sorted(t for t in PROG_TYPES if t != "unspec" and (platform == "windows" or t not in ("bind", "sample")))
    tools = ", ".join(f"{tool} as {ptype}" for ptype, tool in LOADER_TOOLS)
    return ("the section names no program type, so the program's context and helpers are unknown: "
            f"choose one with --type TYPE (CLI) or prog_type= (API); the tools that load such sections use "
            f"their own ({tools}). Program types: {', '.join(types)}")


def require_type(program) -> None:
    """Raise LoaderError for a program loaded from a section that names no type, left as ``unspec``.

    Programs built in memory (assembly, raw bytecode) keep ``unspec`` and its opaque context; only
    objects' sections are held to naming a type, as libbpf and the kernel do."""
    if program.prog_type == "unspec" and (program.meta or {}).get("untyped_section"):
        raise LoaderError(untyped_message(program.section, program.platform),
                          (program.meta or {}).get("object"), program.section or None)
