"""The helper registry: numbering of both platforms, prototypes, lookups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ebpflite.helpers import registry
from ebpflite.helpers.registry import Arg, Ret

UAPI = Path("/usr/include/linux/bpf.h")


def test_linux_numbers_follow_the_kernel_mapper():
    p = registry.profile("linux")
    assert p[1].name == "bpf_map_lookup_elem"
    assert p[6].name == "bpf_trace_printk"
    assert p[12].name == "bpf_tail_call"
    assert p[44].name == "bpf_xdp_adjust_head"
    assert p[51].name == "bpf_redirect_map"
    assert p[65].name == "bpf_xdp_adjust_tail"
    assert p[130].name == "bpf_ringbuf_output"
    assert p[164].name == "bpf_for_each_map_elem"
    assert p[181].name == "bpf_loop"
    assert p[188].name == "bpf_xdp_get_buff_len"
    assert p[211].name == "bpf_cgrp_storage_delete"
    assert 0 not in p and set(range(1, 212)) <= set(p)


@pytest.mark.skipif(not UAPI.exists(), reason="no /usr/include/linux/bpf.h to compare with")
def test_linux_numbers_match_installed_uapi_header():
    text = UAPI.read_text()
    mapper = text[text.index("#define __BPF_FUNC_MAPPER"):]
    mapper = mapper[:mapper.index("/* */")]
    names = re.findall(r"FN\((\w+)", mapper)
    assert names[0] == "unspec"
    for number, name in enumerate(names):
        assert registry.LINUX_NAMES[number] == name, number


def test_windows_numbers_differ_from_linux():
    w = registry.profile("windows")
    assert w[1].name == "bpf_map_lookup_elem"
    assert w[5].name == "bpf_tail_call"
    assert w[11].name == "bpf_ringbuf_output"
    assert w[12].name == "bpf_trace_printk2"
    assert w[0x10000].name == "bpf_xdp_adjust_head"
    assert registry.by_name("tail_call", "windows").number == 5
    assert registry.by_name("bpf_tail_call", "linux").number == 12


def test_prototypes():
    spec = registry.by_name("bpf_map_update_elem", "linux")
    assert spec.args == (Arg.CONST_MAP_PTR, Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE, Arg.ANYTHING)
    assert spec.ret is Ret.INTEGER and spec.known
    assert registry.by_name("map_lookup_elem", "linux").ret is Ret.PTR_TO_MAP_VALUE_OR_NULL
    assert registry.by_name("ringbuf_reserve", "linux").ret is Ret.PTR_TO_MEM_OR_NULL
    assert registry.by_name("loop", "linux").args[1] is Arg.PTR_TO_FUNC
    assert registry.by_name("xdp_adjust_head", "linux").changes_pkt_data
    assert not registry.by_name("map_lookup_elem", "linux").changes_pkt_data
    # helpers ebpflite does not implement still have the kernel's prototype
    spec = registry.by_name("skb_get_xfrm_state", "linux")
    assert spec.impl is None and spec.args == (Arg.PTR_TO_CTX, Arg.ANYTHING, Arg.PTR_TO_UNINIT_MEM,
                                               Arg.CONST_SIZE, Arg.ANYTHING)
    spec = registry.by_name("skb_set_tunnel_opt", "linux")
    assert spec.args == (Arg.PTR_TO_CTX, Arg.PTR_TO_READONLY_MEM, Arg.CONST_SIZE)
    assert registry.by_name("skb_get_tunnel_opt", "linux").args[1] is Arg.PTR_TO_UNINIT_MEM
    assert registry.by_name("current_task_under_cgroup", "linux").args == (Arg.CONST_MAP_PTR, Arg.ANYTHING)
    assert registry.by_name("set_hash_invalid", "linux").ret is Ret.VOID
    raw = registry.by_name("tcp_raw_check_syncookie_ipv6", "linux")
    assert raw.args == (Arg.PTR_TO_FIXED_SIZE_MEM,) * 2 and raw.arg_sizes == (40, 20)
    assert registry.by_name("strtol", "linux").arg_sizes == (0, 0, 0, 8)


def test_every_linux_helper_has_a_prototype():
    missing = [s.name for s in registry.profile("linux").values() if not s.known]
    assert missing == [] and len(registry.profile("linux")) == 211


@pytest.mark.skipif(not UAPI.exists(), reason="no /usr/include/linux/bpf.h to compare with")
def test_prototypes_take_as_many_arguments_as_the_uapi_signatures():
    """The header documents each helper's C signature: our prototype has as many arguments.

    Two differ on purpose, as in the kernel: bpf_trace_printk's format values
    are variadic (``varargs``), and bpf_get_branch_snapshot's flags argument
    is not in its bpf_func_proto (so nobody checks it).
    """
    text = UAPI.read_text()
    params = {m.group(1): m.group(2) for m in re.finditer(r"^ \* [\w ]+?[ *](bpf_\w+)\((.*)\)$", text, re.M)}
    checked = 0
    for spec in registry.profile("linux").values():
        if spec.name not in params:  # helpers newer than the installed header
            continue
        declared = params[spec.name].strip()
        if declared.endswith("..."):  # long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)
            assert spec.varargs and len(declared.split(",")) - 1 == len(spec.args), spec.name
            continue
        count = 0 if declared == "void" else len(declared.split(","))
        unchecked = 1 if spec.name == "bpf_get_branch_snapshot" else 0
        assert count == len(spec.args) + unchecked, (spec.name, declared, spec.args)
        checked += 1
    assert checked > 200


def test_every_prototype_sizes_its_memory_args():
    """A PTR_TO_(UNINIT_)MEM argument is always followed by its size."""
    sized = {Arg.PTR_TO_MEM, Arg.PTR_TO_READONLY_MEM, Arg.PTR_TO_UNINIT_MEM}
    for name, (_ret, args) in registry.PROTOTYPES.items():
        for i, arg in enumerate(args):
            if arg in sized:
                assert i + 1 < len(args) and args[i + 1] in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO), name


def test_map_type_numbering():
    assert registry.map_type_name(1, "linux") == "hash"
    assert registry.map_type_name(27, "linux") == "ringbuf"
    assert registry.map_type_name(13, "windows") == "ringbuf"
    assert registry.map_type_number("lpm_trie", "windows") == 9
    assert registry.map_type_number("lpm_trie", "linux") == 11
    assert registry.map_type_name(99, "windows") == "unknown(99)"
    with pytest.raises(KeyError, match="windows has no map type 'devmap'"):
        registry.map_type_number("devmap", "windows")


def test_bad_lookups_name_the_problem():
    with pytest.raises(ValueError, match="unknown platform 'macos'"):
        registry.profile("macos")
    with pytest.raises(KeyError, match="windows has no helper named 'bpf_loop'"):
        registry.by_name("bpf_loop", "windows")
    assert registry.get(9999, "linux") is None
    assert registry.describe(9999, "linux") == "unknown helper #9999"
    assert registry.describe(1, "windows") == "bpf_map_lookup_elem#1"


def test_profile_is_a_copy():
    p = registry.profile("linux")
    p.clear()
    assert registry.profile("linux")[1].name == "bpf_map_lookup_elem"
