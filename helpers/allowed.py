"""Which helpers a program may call: by program type, and with which maps.

The kernel answers the first question with each program type's
``get_func_proto`` (``xdp_func_proto``, ``tc_cls_act_func_proto``,
``sock_ops_func_proto``...): a switch over the helpers the type adds, falling
back to a shared base (``bpf_base_func_proto``; networking types go through
``bpf_sk_base_func_proto`` first, tracing types through
``bpf_tracing_func_proto``). A helper outside the list is refused with
"program of this type cannot use helper X#N", however well-typed the call.
The tables below are that structure, for Linux 6.18 loaded as root
(CAP_BPF + CAP_PERFMON, which add the tracing helpers to the base) on a
kernel without ``CONFIG_BPF_KPROBE_OVERRIDE`` and with
``probe_write_user`` locked down, the configuration the corpus verdicts
(``ebpf-samples/verdicts.json``) were taken with; a test asks the running
kernel for every (type, helper) pair and compares.

The second question is ``check_map_func_compatibility``: some map types may
only be passed to their own helpers (a PROG_ARRAY only to ``tail_call``),
and some helpers only take certain map types (``tail_call`` only a
PROG_ARRAY). Both directions are tables here.

Types whose helpers the kernel decides per attach target (``tracing``,
``lsm``, ``ext``, ``struct_ops``: BTF-typed hooks ebpflite does not model),
``unspec`` (no type known) and ebpf-for-windows programs are not restricted.
"""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: bpf_base_func_proto for a root loader: maps, time, randomness, ring buffers, loops, timers,
#: dynptrs (CAP_BPF) and the task/tracing helpers CAP_PERFMON adds
BASE = _names("""
map_lookup_elem map_update_elem map_delete_elem map_push_elem map_pop_elem map_peek_elem
map_lookup_percpu_elem for_each_map_elem tail_call ktime_get_ns ktime_get_boot_ns ktime_get_tai_ns
jiffies64 get_prandom_u32 get_smp_processor_id get_numa_node_id ringbuf_output ringbuf_reserve
ringbuf_submit ringbuf_discard ringbuf_query ringbuf_reserve_dynptr ringbuf_submit_dynptr
ringbuf_discard_dynptr user_ringbuf_drain dynptr_from_mem dynptr_read dynptr_write dynptr_data
spin_lock spin_unlock timer_init timer_set_callback timer_start timer_cancel kptr_xchg loop strncmp
strtol strtoul snprintf snprintf_btf per_cpu_ptr this_cpu_ptr trace_printk trace_vprintk
get_current_pid_tgid get_current_uid_gid get_current_comm get_current_task get_current_task_btf
get_current_cgroup_id get_current_ancestor_cgroup_id get_ns_current_pid_tgid get_cgroup_classid
current_task_under_cgroup perf_event_read perf_event_read_value send_signal send_signal_thread
probe_read_user probe_read_kernel probe_read_user_str probe_read_kernel_str copy_from_user
copy_from_user_task get_task_stack task_pt_regs get_branch_snapshot find_vma task_storage_get
task_storage_delete cgrp_storage_get cgrp_storage_delete
""")

#: bpf_sk_base_func_proto: the socket casts and the coarse clock every networking type gets
SK_BASE = BASE | _names("""
skc_to_tcp6_sock skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock
skc_to_unix_sock skc_to_mptcp_sock ktime_get_coarse_ns
""")

#: bpf_tracing_func_proto plus what kprobe/tracepoint/raw_tracepoint programs add
TRACING = BASE | _names("probe_read probe_read_str perf_event_output get_stackid get_stack get_func_ip "
                        "get_attach_cookie")

#: the helpers of tc programs (tc_cls_act_func_proto)
_TC = SK_BASE | _names("""
skb_store_bytes l3_csum_replace l4_csum_replace clone_redirect skb_vlan_push skb_vlan_pop
skb_get_tunnel_key skb_set_tunnel_key skb_get_tunnel_opt skb_set_tunnel_opt redirect get_route_realm
perf_event_output skb_load_bytes skb_load_bytes_relative csum_diff csum_update csum_level
skb_change_proto skb_change_type skb_under_cgroup get_hash_recalc skb_change_tail skb_pull_data
set_hash_invalid set_hash skb_change_head get_socket_cookie get_socket_uid skb_adjust_room
skb_get_xfrm_state fib_lookup skb_cgroup_id skb_ancestor_cgroup_id skb_cgroup_classid sk_lookup_tcp
sk_lookup_udp sk_release sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock skc_lookup_tcp
tcp_check_syncookie tcp_gen_syncookie sk_storage_get sk_storage_delete get_netns_cookie sk_assign
redirect_neigh redirect_peer check_mtu skb_set_tstamp tcp_raw_gen_syncookie_ipv4
tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6
""")

#: lwt_in/lwt_out/lwt_seg6local share lwt_out_func_proto
_LWT = SK_BASE | _names("get_route_realm perf_event_output skb_load_bytes csum_diff skb_under_cgroup "
                        "get_hash_recalc skb_pull_data")

#: cgroup programs: the local storage and (most attach points) the syscall's return value
_CGROUP = _names("perf_event_output get_local_storage get_retval set_retval")

#: program type -> helpers it may call (Linux)
LINUX: dict[str, frozenset[str]] = {
    "socket_filter": SK_BASE | _names("perf_event_output skb_load_bytes skb_load_bytes_relative "
                                      "get_socket_cookie get_socket_uid get_netns_cookie"),
    "kprobe": TRACING,
    "tracepoint": TRACING,
    "raw_tracepoint": TRACING,
    "raw_tracepoint_writable": TRACING,
    "perf_event": TRACING | _names("perf_prog_read_value read_branch_records"),
    "sched_cls": _TC,
    "sched_act": _TC,
    "xdp": SK_BASE | _names("""
        redirect redirect_map perf_event_output csum_diff xdp_adjust_head xdp_adjust_meta xdp_adjust_tail
        xdp_get_buff_len xdp_load_bytes xdp_store_bytes fib_lookup check_mtu sk_lookup_tcp sk_lookup_udp
        sk_release skc_lookup_tcp tcp_check_syncookie tcp_gen_syncookie tcp_raw_gen_syncookie_ipv4
        tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6"""),
    "cgroup_skb": SK_BASE | _names("""
        perf_event_output get_local_storage skb_load_bytes skb_load_bytes_relative get_socket_cookie
        get_socket_uid skb_cgroup_id skb_ancestor_cgroup_id sk_cgroup_id sk_ancestor_cgroup_id
        sk_lookup_tcp sk_lookup_udp sk_release sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock
        skc_lookup_tcp sk_storage_get sk_storage_delete get_netns_cookie"""),
    "cgroup_sock": BASE | _CGROUP | _names("get_socket_cookie sk_storage_get get_netns_cookie "
                                           "ktime_get_coarse_ns"),
    "cgroup_sock_addr": SK_BASE | _CGROUP | _names("""
        get_socket_cookie setsockopt getsockopt bind sk_lookup_tcp sk_lookup_udp sk_release
        skc_lookup_tcp sk_storage_get sk_storage_delete get_netns_cookie"""),
    "cgroup_device": BASE | _CGROUP,
    "cgroup_sysctl": BASE | _CGROUP | _names("sysctl_get_name sysctl_get_current_value sysctl_get_new_value "
                                             "sysctl_set_new_value ktime_get_coarse_ns"),
    "cgroup_sockopt": BASE | _CGROUP | _names("setsockopt getsockopt tcp_sock sk_storage_get "
                                              "sk_storage_delete get_netns_cookie"),
    "lwt_in": _LWT | _names("lwt_push_encap"),
    "lwt_out": _LWT,
    "lwt_seg6local": _LWT | _names("lwt_seg6_store_bytes lwt_seg6_adjust_srh lwt_seg6_action"),
    "lwt_xmit": _LWT | _names("""
        skb_store_bytes l3_csum_replace l4_csum_replace clone_redirect skb_get_tunnel_key
        skb_set_tunnel_key skb_get_tunnel_opt skb_set_tunnel_opt redirect skb_change_tail
        skb_change_head csum_update csum_level set_hash_invalid lwt_push_encap"""),
    "sock_ops": SK_BASE | _names("""
        perf_event_output get_socket_cookie get_local_storage setsockopt getsockopt sock_ops_cb_flags_set
        sock_map_update sock_hash_update tcp_sock sk_storage_get sk_storage_delete get_netns_cookie
        load_hdr_opt store_hdr_opt reserve_hdr_opt"""),
    "sk_skb": SK_BASE | _names("""
        skb_store_bytes perf_event_output skb_load_bytes skb_change_tail skb_pull_data skb_change_head
        get_socket_cookie get_socket_uid skb_adjust_room sk_redirect_map sk_redirect_hash sk_lookup_tcp
        sk_lookup_udp sk_release skc_lookup_tcp"""),
    "sk_msg": SK_BASE | _names("""
        perf_event_output msg_redirect_map msg_redirect_hash msg_apply_bytes msg_cork_bytes msg_pull_data
        msg_push_data msg_pop_data sk_storage_get sk_storage_delete get_netns_cookie"""),
    "sk_reuseport": BASE | _names("skb_load_bytes skb_load_bytes_relative get_socket_cookie "
                                  "sk_select_reuseport ktime_get_coarse_ns"),
    "flow_dissector": SK_BASE | _names("skb_load_bytes"),
    "sk_lookup": SK_BASE | _names("perf_event_output sk_release sk_assign"),
    "lirc_mode2": BASE | _names("rc_repeat rc_keydown rc_pointer_rel"),
    "netfilter": BASE,
    "syscall": BASE | _names("""
        probe_read probe_read_str perf_event_output get_stackid get_stack get_func_ip get_socket_cookie
        skb_output xdp_output skc_to_tcp6_sock skc_to_tcp_sock skc_to_tcp_timewait_sock
        skc_to_tcp_request_sock skc_to_udp6_sock skc_to_unix_sock skc_to_mptcp_sock sock_from_file sys_bpf
        btf_find_by_name_kind sys_close kallsyms_lookup_name xdp_get_buff_len"""),
}

#: attach points (section suffixes, as libbpf names them) of the types whose helpers depend on them
ATTACH_POINTS: dict[str, frozenset[str]] = {
    "cgroup_sock_addr": _names("""
        bind4 bind6 connect4 connect6 connect_unix sendmsg4 sendmsg6 sendmsg_unix recvmsg4 recvmsg6
        recvmsg_unix getpeername4 getpeername6 getpeername_unix getsockname4 getsockname6
        getsockname_unix"""),
    "cgroup_sockopt": _names("getsockopt setsockopt"),
}
#: attach points whose return value is fixed: the syscall's return value is not theirs to read or set
_NO_RETVAL = _names("recvmsg4 recvmsg6 recvmsg_unix getpeername4 getpeername6 getpeername_unix "
                    "getsockname4 getsockname6 getsockname_unix")
#: (program type, helper) -> the attach points that may call it
BY_ATTACH: dict[tuple[str, str], frozenset[str]] = {
    ("cgroup_sock_addr", "bind"): _names("connect4 connect6"),
    ("cgroup_sock_addr", "get_retval"): ATTACH_POINTS["cgroup_sock_addr"] - _NO_RETVAL,
    ("cgroup_sock_addr", "set_retval"): ATTACH_POINTS["cgroup_sock_addr"] - _NO_RETVAL,
    ("cgroup_sockopt", "setsockopt"): _names("setsockopt"),
    ("cgroup_sockopt", "getsockopt"): _names("setsockopt"),
}


def allowed(prog_type: str, platform: str = "linux", attach: str | None = None) -> frozenset[str] | None:
    """Short names of the helpers ``prog_type`` may call, or None when it is not restricted.

    ``attach`` (``vm.contexts.attach_of(section)``) narrows the few helpers the kernel
    allows per attach point; an attach point the table does not know narrows
    nothing.
    """
    if platform != "linux":
        return None
    names = LINUX.get(prog_type)
    if names is None or attach not in ATTACH_POINTS.get(prog_type, ()):
        return names
    return frozenset(n for n in names if attach in BY_ATTACH.get((prog_type, n), (attach,)))


#: helpers that may sleep (``might_sleep`` in their bpf_func_proto): only sleepable programs call them
MIGHT_SLEEP = _names("copy_from_user copy_from_user_task ima_inode_hash ima_file_hash")


def sleepable(prog_type: str, section: str | None) -> bool:
    """Is the program loaded sleepable (BPF_F_SLEEPABLE)? libbpf sets it for ``syscall`` programs and
    ``.s`` sections (``lsm.s/...``, ``fentry.s/...``, ``uprobe.s``...)."""
    return prog_type == "syscall" or bool(section) and section.split("/", 1)[0].endswith(".s")


# --- maps ---------------------------------------------------------------------------------------

#: map type -> the only helpers it may be passed to (check_map_func_compatibility, first switch)
MAP_HELPERS: dict[str, frozenset[str]] = {
    "prog_array": _names("tail_call"),
    "perf_event_array": _names("perf_event_read perf_event_output perf_event_read_value skb_output "
                               "xdp_output"),
    "ringbuf": _names("ringbuf_output ringbuf_reserve ringbuf_query ringbuf_reserve_dynptr "
                      "ringbuf_submit_dynptr ringbuf_discard_dynptr"),
    "user_ringbuf": _names("user_ringbuf_drain"),
    "stack_trace": _names("get_stackid"),
    "cgroup_array": _names("skb_under_cgroup current_task_under_cgroup"),
    "cgroup_storage": _names("get_local_storage"),
    "percpu_cgroup_storage": _names("get_local_storage"),
    "devmap": _names("redirect_map map_lookup_elem"),
    "devmap_hash": _names("redirect_map map_lookup_elem"),
    "cpumap": _names("redirect_map"),
    "xskmap": _names("redirect_map map_lookup_elem"),
    "array_of_maps": _names("map_lookup_elem"),
    "hash_of_maps": _names("map_lookup_elem"),
    "sockmap": _names("sk_redirect_map sock_map_update msg_redirect_map sk_select_reuseport "
                      "map_lookup_elem map_update_elem map_delete_elem"),
    "sockhash": _names("sk_redirect_hash sock_hash_update msg_redirect_hash sk_select_reuseport "
                       "map_lookup_elem map_update_elem map_delete_elem"),
    "reuseport_sockarray": _names("sk_select_reuseport"),
    "queue": _names("map_peek_elem map_pop_elem map_push_elem"),
    "stack": _names("map_peek_elem map_pop_elem map_push_elem"),
    "bloom_filter": _names("map_peek_elem map_push_elem"),
    "sk_storage": _names("sk_storage_get sk_storage_delete kptr_xchg"),
    "inode_storage": _names("inode_storage_get inode_storage_delete kptr_xchg"),
    "task_storage": _names("task_storage_get task_storage_delete kptr_xchg"),
    "cgrp_storage": _names("cgrp_storage_get cgrp_storage_delete kptr_xchg"),
}

#: helper -> the only map types it takes (check_map_func_compatibility, second switch)
HELPER_MAPS: dict[str, frozenset[str]] = {}
for _helpers, _maps in (
    ("tail_call", "prog_array"),
    ("perf_event_read perf_event_output perf_event_read_value skb_output xdp_output", "perf_event_array"),
    ("ringbuf_output ringbuf_reserve ringbuf_query ringbuf_reserve_dynptr ringbuf_submit_dynptr "
     "ringbuf_discard_dynptr", "ringbuf"),
    ("user_ringbuf_drain", "user_ringbuf"),
    ("get_stackid", "stack_trace"),
    ("current_task_under_cgroup skb_under_cgroup", "cgroup_array"),
    ("redirect_map", "devmap devmap_hash cpumap xskmap"),
    ("sk_redirect_map msg_redirect_map sock_map_update", "sockmap"),
    ("sk_redirect_hash msg_redirect_hash sock_hash_update", "sockhash"),
    ("get_local_storage", "cgroup_storage percpu_cgroup_storage"),
    ("sk_select_reuseport", "reuseport_sockarray sockmap sockhash"),
    ("map_pop_elem", "queue stack"),
    ("map_peek_elem map_push_elem", "queue stack bloom_filter"),
    ("map_lookup_percpu_elem", "percpu_array percpu_hash lru_percpu_hash"),
    ("sk_storage_get sk_storage_delete", "sk_storage"),
    ("inode_storage_get inode_storage_delete", "inode_storage"),
    ("task_storage_get task_storage_delete", "task_storage"),
    ("cgrp_storage_get cgrp_storage_delete", "cgrp_storage"),
):
    for _h in _helpers.split():
        HELPER_MAPS[_h] = _names(_maps)


def map_incompatibility(helper: str, map_type: str, platform: str = "linux") -> str | None:
    """Why ``helper`` (short name) cannot take a map of ``map_type``, or None when it can."""
    if platform != "linux":
        return None
    only = MAP_HELPERS.get(map_type)
    if only is not None and helper not in only:
        return f"a {map_type} map can only be passed to {_either(['bpf_' + h for h in sorted(only)])}"
    takes = HELPER_MAPS.get(helper)
    if takes is not None and map_type not in takes:
        return f"bpf_{helper} takes a {_either(sorted(takes))} map"
    return None


def _either(kinds: list[str]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
