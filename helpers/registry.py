"""The helper registry: number, name, prototype and implementation of every helper.

A program calls a helper by number (``call imm``). The same helper has
different numbers on the two platforms we emulate: Linux numbers them in
the order of ``__BPF_FUNC_MAPPER`` in ``include/uapi/linux/bpf.h``, and
ebpf-for-windows has its own ``ebpf_helper_id_t`` (``ebpf_structs.h``) plus
program-type extension helpers from 0x10000 (``ebpf_nethooks.h``). So the
registry keeps one table of *names* for each platform and one table of
*prototypes* keyed by name, and builds a platform profile from them:
``profile("linux")[1].name == "bpf_map_lookup_elem"``.

Prototypes use the kernel's ``bpf_arg_type``/``bpf_return_type`` names (see
:class:`Arg` and :class:`Ret`), taken from the kernel's ``bpf_func_proto``
definitions: the verifier checks calls against them and the disassembler
prints them. Every Linux helper 1-211 has one, implemented or not, because a
program is verified against what the kernel would check, and a program that
calls a helper ebpflite cannot run still deserves a verdict (running it
raises a HelperError at the call). A helper without a prototype (none on
Linux) has ``known=False`` and empty ``args``; the verifier refuses it.

Implementations live in :mod:`ebpflite.helpers.impl` (one module per
family) and are looked up by name, so adding a helper means adding a
function there and, if it is new to the tables, a line here.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, replace

from ebpflite.vm.env import HelperFn
from ebpflite.vm.helper_ids import LINUX_EXTRA, LINUX_NAMES, PLATFORMS, WINDOWS_NUMBERS  # noqa: F401
from ebpflite.vm.helper_ids import numbers as _numbers


class Arg(enum.Enum):
    """Argument types (the kernel's ``ARG_*`` of ``enum bpf_arg_type``, prefix dropped).

    Modifier combinations the kernel spells with flags (``PTR_MAYBE_NULL``,
    ``MEM_UNINIT``, ``MEM_RDONLY``) are separate members here, named the way
    older kernels spelled them (``PTR_TO_UNINIT_MEM``, ``PTR_TO_MEM_OR_NULL``).
    A ``PTR_TO_MEM``/``PTR_TO_UNINIT_MEM`` argument is sized by the
    ``CONST_SIZE``/``CONST_SIZE_OR_ZERO`` argument right after it.
    """

    ANYTHING = "anything"  #: any initialised value
    CONST_MAP_PTR = "const_map_ptr"  #: a map (from lddw map)
    PTR_TO_MAP_KEY = "ptr_to_map_key"  #: key_size readable bytes
    PTR_TO_MAP_VALUE = "ptr_to_map_value"  #: value_size readable bytes
    PTR_TO_UNINIT_MAP_VALUE = "ptr_to_uninit_map_value"  #: value_size writable bytes
    PTR_TO_MAP_VALUE_OR_NULL = "ptr_to_map_value_or_null"
    PTR_TO_MEM = "ptr_to_mem"  #: readable memory, size in the next arg
    PTR_TO_READONLY_MEM = "ptr_to_readonly_mem"  #: PTR_TO_MEM | MEM_RDONLY
    PTR_TO_MEM_OR_NULL = "ptr_to_mem_or_null"
    PTR_TO_UNINIT_MEM = "ptr_to_uninit_mem"  #: writable memory, size in the next arg
    CONST_SIZE = "const_size"  #: a known size > 0
    CONST_SIZE_OR_ZERO = "const_size_or_zero"
    CONST_ALLOC_SIZE_OR_ZERO = "const_alloc_size_or_zero"  #: ringbuf_reserve size
    PTR_TO_CTX = "ptr_to_ctx"
    PTR_TO_CTX_OR_NULL = "ptr_to_ctx_or_null"
    PTR_TO_STACK = "ptr_to_stack"
    PTR_TO_STACK_OR_NULL = "ptr_to_stack_or_null"  #: callback context (loop, for_each)
    PTR_TO_FUNC = "ptr_to_func"  #: a callback subprogram (lddw src=4)
    PTR_TO_INT = "ptr_to_int"  #: 4 writable bytes (ARG_PTR_TO_FIXED_SIZE_MEM, arg_size 4)
    PTR_TO_LONG = "ptr_to_long"  #: 8 writable bytes (ARG_PTR_TO_FIXED_SIZE_MEM, arg_size 8)
    #: readable memory of a size fixed by the prototype (:data:`ARG_SIZES`), e.g. a struct iphdr
    PTR_TO_FIXED_SIZE_MEM = "ptr_to_fixed_size_mem"
    PTR_TO_SPIN_LOCK = "ptr_to_spin_lock"  #: a bpf_spin_lock inside a map value
    PTR_TO_TIMER = "ptr_to_timer"
    PTR_TO_ALLOC_MEM = "ptr_to_alloc_mem"  #: a ringbuf_reserve'd record (released)
    PTR_TO_CONST_STR = "ptr_to_const_str"  #: NUL-terminated string in read-only map value
    PTR_TO_SOCKET = "ptr_to_socket"
    PTR_TO_SOCK_COMMON = "ptr_to_sock_common"
    PTR_TO_BTF_ID = "ptr_to_btf_id"
    PTR_TO_BTF_ID_OR_NULL = "ptr_to_btf_id_or_null"
    PTR_TO_BTF_ID_SOCK_COMMON = "ptr_to_btf_id_sock_common"
    PTR_TO_PERCPU_BTF_ID = "ptr_to_percpu_btf_id"
    PTR_TO_KPTR = "ptr_to_kptr"
    PTR_TO_DYNPTR = "ptr_to_dynptr"


class Ret(enum.Enum):
    """Return types (the kernel's ``RET_*`` of ``enum bpf_return_type``)."""

    INTEGER = "integer"
    VOID = "void"
    PTR_TO_MAP_VALUE = "ptr_to_map_value"
    PTR_TO_MAP_VALUE_OR_NULL = "ptr_to_map_value_or_null"
    PTR_TO_SOCKET_OR_NULL = "ptr_to_socket_or_null"
    PTR_TO_TCP_SOCK_OR_NULL = "ptr_to_tcp_sock_or_null"
    PTR_TO_SOCK_COMMON_OR_NULL = "ptr_to_sock_common_or_null"
    #: ringbuf_reserve: RET_PTR_TO_ALLOC_MEM_OR_NULL (size = its CONST_ALLOC_SIZE arg)
    PTR_TO_MEM_OR_NULL = "ptr_to_mem_or_null"
    PTR_TO_MEM_OR_BTF_ID = "ptr_to_mem_or_btf_id"
    PTR_TO_MEM_OR_BTF_ID_OR_NULL = "ptr_to_mem_or_btf_id_or_null"
    PTR_TO_BTF_ID = "ptr_to_btf_id"
    PTR_TO_BTF_ID_OR_NULL = "ptr_to_btf_id_or_null"
    #: dynptr_data: memory inside a dynptr, or NULL
    PTR_TO_DYNPTR_MEM_OR_NULL = "ptr_to_dynptr_mem_or_null"


@dataclass(frozen=True)
class HelperSpec:
    """One helper of one platform.

    ``name`` is the C name (``bpf_map_lookup_elem``). ``impl`` is ``None``
    for helpers ebpflite knows by number but does not implement: the
    runtime refuses to load programs calling those. ``changes_pkt_data``
    marks helpers after which packet pointers are invalid (the kernel's
    ``bpf_helper_changes_pkt_data``); ``known`` is False when only the
    number and name are recorded, not the prototype. ``varargs`` counts
    optional number arguments after ``args`` (bpf_trace_printk's 0-3 format
    values: the kernel's prototype lists only the format and its size).
    """

    number: int
    name: str
    args: tuple[Arg, ...]
    ret: Ret
    impl: HelperFn | None = None
    changes_pkt_data: bool = False
    known: bool = True
    varargs: int = 0
    #: per argument: the byte size of a fixed-size memory argument (PTR_TO_INT/LONG/FIXED_SIZE_MEM), else 0
    arg_sizes: tuple[int, ...] = ()
    #: indexes of ANYTHING arguments that are addresses the helper reads or writes by itself
    #: (bpf_probe_read's ``unsafe_ptr``): a pointer there is the point, not a leak
    address_args: tuple[int, ...] = ()

    @property
    def short_name(self) -> str:
        """The name without the ``bpf_`` prefix (as in ``BPF_FUNC_<short_name>``)."""
        return self.name[4:] if self.name.startswith("bpf_") else self.name


# --- numbering ------------------------------------------------------------------------

#: Map type numbers. Linux: ``enum bpf_map_type`` (uapi/linux/bpf.h); ebpf-for-windows:
#: ``ebpf_map_type_t`` (ebpf_structs.h). Names are ours (``BPF_MAP_TYPE_`` dropped, lower case).
LINUX_MAP_TYPES: dict[int, str] = dict(enumerate("""
unspec hash array prog_array perf_event_array percpu_hash percpu_array stack_trace cgroup_array
lru_hash lru_percpu_hash lpm_trie array_of_maps hash_of_maps devmap sockmap cpumap xskmap sockhash
cgroup_storage reuseport_sockarray percpu_cgroup_storage queue stack sk_storage devmap_hash
struct_ops ringbuf inode_storage task_storage bloom_filter user_ringbuf cgrp_storage arena
""".split()))
WINDOWS_MAP_TYPES: dict[int, str] = {
    0: "unspec", 1: "hash", 2: "array", 3: "prog_array", 4: "percpu_hash", 5: "percpu_array",
    6: "hash_of_maps", 7: "array_of_maps", 8: "lru_hash", 9: "lpm_trie", 10: "queue",
    11: "lru_percpu_hash", 12: "stack", 13: "ringbuf",
}


def map_type_name(number: int, platform: str) -> str:
    """The map type name for a platform's ``BPF_MAP_TYPE_*`` number (``unknown(N)`` if none)."""
    table = LINUX_MAP_TYPES if platform == "linux" else WINDOWS_MAP_TYPES
    return table.get(number, f"unknown({number})")


def map_type_number(name: str, platform: str) -> int:
    """The platform's number for a map type name; KeyError naming the platform if it has none."""
    table = LINUX_MAP_TYPES if platform == "linux" else WINDOWS_MAP_TYPES
    for number, known in table.items():
        if known == name:
            return number
    raise KeyError(f"{platform} has no map type {name!r}")


# --- prototypes -------------------------------------------------------------------------

_A = Arg
_CTX, _MAP, _KEY, _ANY = _A.PTR_TO_CTX, _A.CONST_MAP_PTR, _A.PTR_TO_MAP_KEY, _A.ANYTHING
_MEM, _RMEM, _UMEM = _A.PTR_TO_MEM, _A.PTR_TO_READONLY_MEM, _A.PTR_TO_UNINIT_MEM
_SZ, _SZ0 = _A.CONST_SIZE, _A.CONST_SIZE_OR_ZERO
_SOCK, _BTF, _BTF0 = _A.PTR_TO_BTF_ID_SOCK_COMMON, _A.PTR_TO_BTF_ID, _A.PTR_TO_BTF_ID_OR_NULL
_DYN, _FIXED = _A.PTR_TO_DYNPTR, _A.PTR_TO_FIXED_SIZE_MEM
_I, _V = Ret.INTEGER, Ret.VOID

#: name -> (return type, argument types). Shared by both platforms.
PROTOTYPES: dict[str, tuple[Ret, tuple[Arg, ...]]] = {
    # maps
    "map_lookup_elem": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _KEY)),
    "map_update_elem": (_I, (_MAP, _KEY, _A.PTR_TO_MAP_VALUE, _ANY)),
    "map_delete_elem": (_I, (_MAP, _KEY)),
    # ebpf-for-windows only: returns a copy of the removed value (Linux has the syscall only)
    "map_lookup_and_delete_elem": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _KEY)),
    "map_push_elem": (_I, (_MAP, _A.PTR_TO_MAP_VALUE, _ANY)),
    "map_pop_elem": (_I, (_MAP, _A.PTR_TO_UNINIT_MAP_VALUE)),
    "map_peek_elem": (_I, (_MAP, _A.PTR_TO_UNINIT_MAP_VALUE)),
    "map_lookup_percpu_elem": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _KEY, _ANY)),
    "for_each_map_elem": (_I, (_MAP, _A.PTR_TO_FUNC, _A.PTR_TO_STACK_OR_NULL, _ANY)),
    "get_local_storage": (Ret.PTR_TO_MAP_VALUE, (_MAP, _ANY)),
    "current_task_under_cgroup": (_I, (_MAP, _ANY)),
    "tail_call": (_V, (_CTX, _MAP, _ANY)),
    # memory
    "probe_read": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_read_str": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_read_user": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_read_kernel": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_read_user_str": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_read_kernel_str": (_I, (_UMEM, _SZ0, _ANY)),
    "probe_write_user": (_I, (_ANY, _RMEM, _SZ)),
    "copy_from_user": (_I, (_UMEM, _SZ0, _ANY)),
    "copy_from_user_task": (_I, (_UMEM, _SZ0, _ANY, _BTF, _ANY)),
    "strtol": (_I, (_RMEM, _SZ, _ANY, _A.PTR_TO_LONG)),
    "strtoul": (_I, (_RMEM, _SZ, _ANY, _A.PTR_TO_LONG)),
    "strncmp": (_I, (_RMEM, _SZ, _A.PTR_TO_CONST_STR)),
    # time, randomness, cpu
    "ktime_get_ns": (_I, ()), "ktime_get_boot_ns": (_I, ()), "ktime_get_coarse_ns": (_I, ()),
    "ktime_get_tai_ns": (_I, ()), "jiffies64": (_I, ()), "ktime_get_boot_ms": (_I, ()),
    "ktime_get_ms": (_I, ()),
    "get_prandom_u32": (_I, ()), "get_smp_processor_id": (_I, ()), "get_numa_node_id": (_I, ()),
    # printing
    "trace_printk": (_I, (_RMEM, _SZ)),  # + up to 3 format values (VARARGS)
    "trace_vprintk": (_I, (_RMEM, _SZ, _A.PTR_TO_MEM_OR_NULL, _SZ0)),
    "snprintf": (_I, (_A.PTR_TO_MEM_OR_NULL, _SZ0, _A.PTR_TO_CONST_STR, _A.PTR_TO_MEM_OR_NULL, _SZ0)),
    "seq_printf": (_I, (_BTF, _RMEM, _SZ, _A.PTR_TO_MEM_OR_NULL, _SZ0)),
    "seq_write": (_I, (_BTF, _RMEM, _SZ0)),
    "snprintf_btf": (_I, (_UMEM, _SZ, _RMEM, _SZ, _ANY)),
    "seq_printf_btf": (_I, (_BTF, _RMEM, _SZ0, _ANY)),
    "trace_printk2": (_I, (_RMEM, _SZ)),
    "trace_printk3": (_I, (_RMEM, _SZ, _ANY)),
    "trace_printk4": (_I, (_RMEM, _SZ, _ANY, _ANY)),
    "trace_printk5": (_I, (_RMEM, _SZ, _ANY, _ANY, _ANY)),
    # the current process
    "get_current_pid_tgid": (_I, ()), "get_current_uid_gid": (_I, ()),
    "get_current_comm": (_I, (_UMEM, _SZ)),
    "get_current_task": (_I, ()), "get_current_task_btf": (Ret.PTR_TO_BTF_ID, ()),
    "get_current_cgroup_id": (_I, ()), "get_current_ancestor_cgroup_id": (_I, (_ANY,)),
    "get_ns_current_pid_tgid": (_I, (_ANY, _ANY, _UMEM, _SZ)),
    "send_signal": (_I, (_ANY,)), "send_signal_thread": (_I, (_ANY,)),
    "get_task_stack": (_I, (_BTF, _UMEM, _SZ0, _ANY)),
    "task_pt_regs": (Ret.PTR_TO_BTF_ID, (_BTF,)),
    "d_path": (_I, (_BTF, _UMEM, _SZ0)),
    "bprm_opts_set": (_I, (_BTF, _ANY)),
    "ima_inode_hash": (_I, (_BTF, _UMEM, _SZ)), "ima_file_hash": (_I, (_BTF, _UMEM, _SZ)),
    "sock_from_file": (Ret.PTR_TO_BTF_ID_OR_NULL, (_BTF,)),
    "sys_bpf": (_I, (_ANY, _RMEM, _SZ)), "sys_close": (_I, (_ANY,)),
    "btf_find_by_name_kind": (_I, (_RMEM, _SZ, _ANY, _ANY)),
    "kallsyms_lookup_name": (_I, (_RMEM, _SZ0, _ANY, _A.PTR_TO_LONG)),
    "get_current_logon_id": (_I, (_CTX,)), "is_current_admin": (_I, (_CTX,)),
    # packets and XDP
    "redirect": (_I, (_ANY, _ANY)),
    "redirect_map": (_I, (_MAP, _ANY, _ANY)),
    "xdp_adjust_head": (_I, (_CTX, _ANY)),
    "xdp_adjust_tail": (_I, (_CTX, _ANY)),
    "xdp_adjust_meta": (_I, (_CTX, _ANY)),
    "xdp_get_buff_len": (_I, (_CTX,)),
    "xdp_load_bytes": (_I, (_CTX, _ANY, _UMEM, _SZ)),
    "xdp_store_bytes": (_I, (_CTX, _ANY, _MEM, _SZ)),
    "xdp_output": (_I, (_BTF, _MAP, _ANY, _RMEM, _SZ0)),  # tracing programs: an xdp_buff
    "csum_diff": (_I, (_A.PTR_TO_MEM_OR_NULL, _SZ0, _A.PTR_TO_MEM_OR_NULL, _SZ0, _ANY)),
    "fib_lookup": (_I, (_CTX, _MEM, _SZ, _ANY)),
    "check_mtu": (_I, (_CTX, _ANY, _A.PTR_TO_INT, _ANY, _ANY)),
    "skb_load_bytes": (_I, (_CTX, _ANY, _UMEM, _SZ)),
    "skb_load_bytes_relative": (_I, (_CTX, _ANY, _UMEM, _SZ, _ANY)),
    "skb_store_bytes": (_I, (_CTX, _ANY, _MEM, _SZ, _ANY)),
    "l3_csum_replace": (_I, (_CTX, _ANY, _ANY, _ANY, _ANY)),
    "l4_csum_replace": (_I, (_CTX, _ANY, _ANY, _ANY, _ANY)),
    "clone_redirect": (_I, (_CTX, _ANY, _ANY)),
    "skb_vlan_push": (_I, (_CTX, _ANY, _ANY)), "skb_vlan_pop": (_I, (_CTX,)),
    "skb_change_proto": (_I, (_CTX, _ANY, _ANY)), "skb_change_type": (_I, (_CTX, _ANY)),
    "skb_change_tail": (_I, (_CTX, _ANY, _ANY)), "skb_change_head": (_I, (_CTX, _ANY, _ANY)),
    "skb_pull_data": (_I, (_CTX, _ANY)), "skb_adjust_room": (_I, (_CTX, _ANY, _ANY, _ANY)),
    "get_hash_recalc": (_I, (_CTX,)), "set_hash_invalid": (_V, (_CTX,)), "set_hash": (_I, (_CTX, _ANY)),
    "csum_update": (_I, (_CTX, _ANY)), "csum_level": (_I, (_CTX, _ANY)),
    "get_cgroup_classid": (_I, (_CTX,)), "get_route_realm": (_I, (_CTX,)),
    "skb_cgroup_id": (_I, (_CTX,)), "skb_ancestor_cgroup_id": (_I, (_CTX, _ANY)),
    "skb_get_tunnel_key": (_I, (_CTX, _UMEM, _SZ, _ANY)),
    "skb_set_tunnel_key": (_I, (_CTX, _RMEM, _SZ, _ANY)),
    "skb_get_tunnel_opt": (_I, (_CTX, _UMEM, _SZ)),
    "skb_set_tunnel_opt": (_I, (_CTX, _RMEM, _SZ)),
    "skb_get_xfrm_state": (_I, (_CTX, _ANY, _UMEM, _SZ, _ANY)),
    "skb_cgroup_classid": (_I, (_CTX,)),
    "skb_set_tstamp": (_I, (_CTX, _ANY, _ANY)),
    "lwt_push_encap": (_I, (_CTX, _ANY, _RMEM, _SZ)),
    "lwt_seg6_store_bytes": (_I, (_CTX, _ANY, _RMEM, _SZ)),
    "lwt_seg6_adjust_srh": (_I, (_CTX, _ANY, _ANY)),
    "lwt_seg6_action": (_I, (_CTX, _ANY, _RMEM, _SZ)),
    "rc_repeat": (_I, (_CTX,)), "rc_keydown": (_I, (_CTX, _ANY, _ANY, _ANY)),
    "rc_pointer_rel": (_I, (_CTX, _ANY, _ANY)),
    "skb_under_cgroup": (_I, (_CTX, _MAP, _ANY)),
    "skb_ecn_set_ce": (_I, (_CTX,)),
    "redirect_neigh": (_I, (_ANY, _A.PTR_TO_MEM_OR_NULL, _SZ0, _ANY)),
    "redirect_peer": (_I, (_ANY, _ANY)),
    "get_socket_cookie": (_I, (_CTX,)), "get_socket_uid": (_I, (_CTX,)),
    "get_netns_cookie": (_I, (_A.PTR_TO_CTX_OR_NULL,)),
    # events and ring buffers
    "perf_event_output": (_I, (_CTX, _MAP, _ANY, _MEM, _SZ0)),
    "skb_output": (_I, (_BTF, _MAP, _ANY, _MEM, _SZ0)),
    "perf_event_read": (_I, (_MAP, _ANY)),
    "perf_event_read_value": (_I, (_MAP, _ANY, _UMEM, _SZ)),
    "perf_prog_read_value": (_I, (_CTX, _UMEM, _SZ)),
    "read_branch_records": (_I, (_CTX, _A.PTR_TO_MEM_OR_NULL, _SZ0, _ANY)),
    "get_branch_snapshot": (_I, (_UMEM, _SZ0)),
    "get_stackid": (_I, (_CTX, _MAP, _ANY)),
    "get_stack": (_I, (_CTX, _UMEM, _SZ0, _ANY)),
    "ringbuf_output": (_I, (_MAP, _RMEM, _SZ0, _ANY)),
    "ringbuf_reserve": (Ret.PTR_TO_MEM_OR_NULL, (_MAP, _A.CONST_ALLOC_SIZE_OR_ZERO, _ANY)),
    "ringbuf_submit": (_V, (_A.PTR_TO_ALLOC_MEM, _ANY)),
    "ringbuf_discard": (_V, (_A.PTR_TO_ALLOC_MEM, _ANY)),
    "ringbuf_query": (_I, (_MAP, _ANY)),
    "user_ringbuf_drain": (_I, (_MAP, _A.PTR_TO_FUNC, _A.PTR_TO_STACK_OR_NULL, _ANY)),
    "ringbuf_reserve_dynptr": (_I, (_MAP, _ANY, _ANY, _DYN)),
    "ringbuf_submit_dynptr": (_V, (_DYN, _ANY)), "ringbuf_discard_dynptr": (_V, (_DYN, _ANY)),
    # control flow
    "loop": (_I, (_ANY, _A.PTR_TO_FUNC, _A.PTR_TO_STACK_OR_NULL, _ANY)),
    "find_vma": (_I, (_BTF, _ANY, _A.PTR_TO_FUNC, _A.PTR_TO_STACK_OR_NULL, _ANY)),
    "spin_lock": (_V, (_A.PTR_TO_SPIN_LOCK,)), "spin_unlock": (_V, (_A.PTR_TO_SPIN_LOCK,)),
    "timer_init": (_I, (_A.PTR_TO_TIMER, _MAP, _ANY)),
    "timer_set_callback": (_I, (_A.PTR_TO_TIMER, _A.PTR_TO_FUNC)),
    "timer_start": (_I, (_A.PTR_TO_TIMER, _ANY, _ANY)), "timer_cancel": (_I, (_A.PTR_TO_TIMER,)),
    "get_func_ip": (_I, (_CTX,)), "get_attach_cookie": (_I, (_CTX,)),
    "get_func_arg": (_I, (_CTX, _ANY, _A.PTR_TO_LONG)), "get_func_ret": (_I, (_CTX, _A.PTR_TO_LONG)),
    "get_func_arg_cnt": (_I, (_CTX,)), "get_retval": (_I, ()), "set_retval": (_I, (_ANY,)),
    "override_return": (_I, (_CTX, _ANY)),
    "kptr_xchg": (Ret.PTR_TO_BTF_ID_OR_NULL, (_A.PTR_TO_KPTR, _BTF0)),
    "per_cpu_ptr": (Ret.PTR_TO_MEM_OR_BTF_ID_OR_NULL, (_A.PTR_TO_PERCPU_BTF_ID, _ANY)),
    "this_cpu_ptr": (Ret.PTR_TO_MEM_OR_BTF_ID, (_A.PTR_TO_PERCPU_BTF_ID,)),
    "dynptr_from_mem": (_I, (_UMEM, _SZ0, _ANY, _DYN)),
    "dynptr_read": (_I, (_UMEM, _SZ0, _DYN, _ANY, _ANY)),
    "dynptr_write": (_I, (_DYN, _ANY, _RMEM, _SZ0, _ANY)),
    "dynptr_data": (Ret.PTR_TO_DYNPTR_MEM_OR_NULL, (_DYN, _ANY, _A.CONST_ALLOC_SIZE_OR_ZERO)),
    # sockets
    "sk_lookup_tcp": (Ret.PTR_TO_SOCKET_OR_NULL, (_CTX, _MEM, _SZ, _ANY, _ANY)),
    "sk_lookup_udp": (Ret.PTR_TO_SOCKET_OR_NULL, (_CTX, _MEM, _SZ, _ANY, _ANY)),
    "skc_lookup_tcp": (Ret.PTR_TO_SOCK_COMMON_OR_NULL, (_CTX, _MEM, _SZ, _ANY, _ANY)),
    "sk_release": (_I, (_SOCK,)),
    "sk_fullsock": (Ret.PTR_TO_SOCKET_OR_NULL, (_A.PTR_TO_SOCK_COMMON,)),
    "tcp_sock": (Ret.PTR_TO_TCP_SOCK_OR_NULL, (_A.PTR_TO_SOCK_COMMON,)),
    "get_listener_sock": (Ret.PTR_TO_SOCKET_OR_NULL, (_A.PTR_TO_SOCK_COMMON,)),
    "sk_assign": (_I, (_CTX, _SOCK, _ANY)),
    "skc_to_tcp6_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_tcp_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_tcp_timewait_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_tcp_request_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_udp6_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_unix_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_SOCK,)),
    "skc_to_mptcp_sock": (Ret.PTR_TO_BTF_ID_OR_NULL, (_A.PTR_TO_SOCK_COMMON,)),
    "tcp_check_syncookie": (_I, (_SOCK, _RMEM, _SZ, _RMEM, _SZ)),
    "tcp_gen_syncookie": (_I, (_SOCK, _RMEM, _SZ, _RMEM, _SZ)),
    "tcp_send_ack": (_I, (_BTF, _ANY)),
    "tcp_raw_gen_syncookie_ipv4": (_I, (_FIXED, _RMEM, _SZ0)),
    "tcp_raw_gen_syncookie_ipv6": (_I, (_FIXED, _RMEM, _SZ0)),
    "tcp_raw_check_syncookie_ipv4": (_I, (_FIXED, _FIXED)),
    "tcp_raw_check_syncookie_ipv6": (_I, (_FIXED, _FIXED)),
    "sk_select_reuseport": (_I, (_CTX, _MAP, _KEY, _ANY)),
    "sk_cgroup_id": (_I, (_SOCK,)), "sk_ancestor_cgroup_id": (_I, (_SOCK, _ANY)),
    "sk_storage_get": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _SOCK, _A.PTR_TO_MAP_VALUE_OR_NULL, _ANY)),
    "sk_storage_delete": (_I, (_MAP, _SOCK)),
    "task_storage_get": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _BTF0, _A.PTR_TO_MAP_VALUE_OR_NULL, _ANY)),
    "task_storage_delete": (_I, (_MAP, _BTF0)),
    "inode_storage_get": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _BTF0, _A.PTR_TO_MAP_VALUE_OR_NULL, _ANY)),
    "inode_storage_delete": (_I, (_MAP, _BTF0)),
    "cgrp_storage_get": (Ret.PTR_TO_MAP_VALUE_OR_NULL, (_MAP, _BTF0, _A.PTR_TO_MAP_VALUE_OR_NULL, _ANY)),
    "cgrp_storage_delete": (_I, (_MAP, _BTF0)),
    "sk_redirect_map": (_I, (_CTX, _MAP, _ANY, _ANY)),
    "sk_redirect_hash": (_I, (_CTX, _MAP, _KEY, _ANY)),
    "sock_map_update": (_I, (_CTX, _MAP, _KEY, _ANY)),
    "sock_hash_update": (_I, (_CTX, _MAP, _KEY, _ANY)),
    "msg_redirect_map": (_I, (_CTX, _MAP, _ANY, _ANY)),
    "msg_redirect_hash": (_I, (_CTX, _MAP, _KEY, _ANY)),
    "msg_apply_bytes": (_I, (_CTX, _ANY)), "msg_cork_bytes": (_I, (_CTX, _ANY)),
    "msg_pull_data": (_I, (_CTX, _ANY, _ANY, _ANY)),
    "msg_push_data": (_I, (_CTX, _ANY, _ANY, _ANY)), "msg_pop_data": (_I, (_CTX, _ANY, _ANY, _ANY)),
    "sock_ops_cb_flags_set": (_I, (_CTX, _ANY)),
    "load_hdr_opt": (_I, (_CTX, _MEM, _SZ, _ANY)),  # the buffer holds the option searched for
    "store_hdr_opt": (_I, (_CTX, _RMEM, _SZ, _ANY)),
    "reserve_hdr_opt": (_I, (_CTX, _ANY, _ANY)),
    "setsockopt": (_I, (_CTX, _ANY, _ANY, _MEM, _SZ)),
    "getsockopt": (_I, (_CTX, _ANY, _ANY, _UMEM, _SZ)),
    "bind": (_I, (_CTX, _MEM, _SZ)),
    "sysctl_get_name": (_I, (_CTX, _UMEM, _SZ, _ANY)),
    "sysctl_get_current_value": (_I, (_CTX, _UMEM, _SZ)),
    "sysctl_get_new_value": (_I, (_CTX, _UMEM, _SZ)),
    "sysctl_set_new_value": (_I, (_CTX, _RMEM, _SZ)),
    # ebpf-for-windows only
    "memcpy_s": (_I, (_UMEM, _SZ, _RMEM, _SZ)),
    "memcmp_s": (_I, (_RMEM, _SZ, _RMEM, _SZ)),
    "memset": (_I, (_UMEM, _SZ, _ANY)),
    "memmove_s": (_I, (_UMEM, _SZ, _RMEM, _SZ)),
    "strncpy_s": (_I, (_UMEM, _SZ, _RMEM, _SZ)),
    "strncat_s": (_I, (_MEM, _SZ, _RMEM, _SZ)),
    "strnlen_s": (_I, (_RMEM, _SZ)),
}

#: helpers after which packet pointers must be re-derived (kernel bpf_helper_changes_pkt_data)
CHANGES_PKT_DATA = frozenset({
    "xdp_adjust_head", "xdp_adjust_tail", "xdp_adjust_meta", "skb_store_bytes", "skb_change_head",
    "skb_change_tail", "skb_change_proto", "skb_pull_data", "skb_vlan_push", "skb_vlan_pop",
    "skb_adjust_room", "l3_csum_replace", "l4_csum_replace", "clone_redirect", "msg_pull_data",
    "msg_push_data", "msg_pop_data", "lwt_push_encap", "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh", "lwt_seg6_action", "store_hdr_opt",
})


# --- profiles ----------------------------------------------------------------------------


def _implementations(platform: str) -> dict[str, HelperFn]:
    try:
        from ebpflite.helpers.impl import implementations
    except ModuleNotFoundError as exc:  # the implementations are optional for the tables
        if exc.name and exc.name.startswith("ebpflite.helpers.impl"):
            return {}
        raise
    return implementations(platform)


#: helpers taking optional number arguments after their prototype's (see HelperSpec.varargs)
VARARGS = {"trace_printk": 3}

#: ANYTHING arguments that are addresses (see HelperSpec.address_args), by 0-based index
ADDRESS_ARGS = {**{name: (2,) for name in (
    "probe_read", "probe_read_str", "probe_read_kernel", "probe_read_kernel_str", "probe_read_user",
    "probe_read_user_str", "copy_from_user", "copy_from_user_task")}, "probe_write_user": (0,)}

#: sizes of PTR_TO_FIXED_SIZE_MEM arguments, in argument order (the kernel's ``argN_size``:
#: ``sizeof(struct iphdr)`` 20, ``sizeof(struct ipv6hdr)`` 40, ``sizeof(struct tcphdr)`` 20)
ARG_SIZES = {"tcp_raw_gen_syncookie_ipv4": (20,), "tcp_raw_gen_syncookie_ipv6": (40,),
             "tcp_raw_check_syncookie_ipv4": (20, 20), "tcp_raw_check_syncookie_ipv6": (40, 20)}
_FIXED_ARG_SIZE = {Arg.PTR_TO_INT: 4, Arg.PTR_TO_LONG: 8}


def _arg_sizes(name: str, args: tuple[Arg, ...]) -> tuple[int, ...]:
    """The byte size of each fixed-size memory argument (0 for the others)."""
    fixed = iter(ARG_SIZES.get(name, ()))
    return tuple(next(fixed) if a is Arg.PTR_TO_FIXED_SIZE_MEM else _FIXED_ARG_SIZE.get(a, 0) for a in args)


@functools.cache
def _profile(platform: str) -> dict[int, HelperSpec]:
    impls = _implementations(platform)
    table: dict[int, HelperSpec] = {}
    for number, short in _numbers(platform).items():
        proto = PROTOTYPES.get(short)
        ret, args = proto if proto else (Ret.INTEGER, ())
        table[number] = HelperSpec(number, "bpf_" + short, args, ret, impls.get(short),
                                   changes_pkt_data=short in CHANGES_PKT_DATA, known=proto is not None,
                                   varargs=VARARGS.get(short, 0), arg_sizes=_arg_sizes(short, args),
                                   address_args=ADDRESS_ARGS.get(short, ()))
    return table


def profile(platform: str) -> dict[int, HelperSpec]:
    """Every helper of ``platform`` (``"linux"`` or ``"windows"``) by number (a fresh dict)."""
    return dict(_profile(platform))


def get(number: int, platform: str) -> HelperSpec | None:
    """The helper ``number`` of ``platform``, or None when the platform has no such helper."""
    return _profile(platform).get(number)


def by_name(name: str, platform: str) -> HelperSpec:
    """A helper by C name (``bpf_map_lookup_elem``) or short name (``map_lookup_elem``)."""
    wanted = name if name.startswith("bpf_") else "bpf_" + name
    for spec in _profile(platform).values():
        if spec.name == wanted:
            return spec
    raise KeyError(f"{platform} has no helper named {name!r}")


def with_impl(spec: HelperSpec, impl: HelperFn) -> HelperSpec:
    """A copy of ``spec`` with another implementation (tests, custom environments)."""
    return replace(spec, impl=impl)


def describe(number: int, platform: str) -> str:
    """``bpf_map_lookup_elem#1`` or ``unknown helper #999`` for messages."""
    spec = get(number, platform)
    return f"{spec.name}#{number}" if spec else f"unknown helper #{number}"


def helper_args(platform: str):
    """A ``helper_args`` callback for the disassembler's verbose form: helper number ->
    its argument types (``Arg`` names), None when the helper has no prototype."""
    def args(number: int) -> tuple[str, ...] | None:
        spec = get(number, platform)
        return tuple(arg.name for arg in spec.args) if spec is not None and spec.known else None
    return args
