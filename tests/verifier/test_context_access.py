"""Context descriptors (vm/contexts.py): layouts against the uapi header, access rules against the kernel.

Three sources are compared: the installed ``/usr/include/linux/bpf.h`` (compiled
with clang to BTF, so offsets come from the compiler, not from us), the running
kernel's verifier (every offset and width of every context, read and written,
for each program type and attach point), and the verifier's own messages.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from verifier_kernel import load_raw, unavailable

from ebpflite import verifier
from ebpflite.loader.progtypes import PROG_TYPE_NUMBERS
from ebpflite.vm import contexts
from ebpflite.vm.asm import assemble_program

UAPI = Path("/usr/include/linux/bpf.h")

#: struct -> (header to include, the descriptor that lays it out)
STRUCTS = {
    "__sk_buff": contexts.SK_BUFF_MEMBERS, "xdp_md": contexts.XDP_MD,
    "bpf_sock_ops": contexts.SOCK_OPS_MEMBERS, "bpf_sock": contexts.SOCK_MEMBERS,
    "bpf_sock_addr": contexts.SOCK_ADDR_MEMBERS, "sk_msg_md": contexts.SK_MSG_MEMBERS,
    "sk_reuseport_md": contexts.SK_REUSEPORT_MEMBERS, "bpf_sysctl": contexts.SYSCTL_MEMBERS,
    "bpf_sockopt": contexts.SOCKOPT_MEMBERS, "bpf_cgroup_dev_ctx": contexts.DEVICE_MEMBERS,
    "bpf_sk_lookup": contexts.SK_LOOKUP_MEMBERS, "pt_regs": contexts.PT_REGS_MEMBERS,
}
#: members deliberately wider than the header says: remote_port's 16 zero bits the kernel lets programs read
WIDENED = {("bpf_sk_lookup", "remote_port"): 4}


@pytest.fixture(scope="module")
def uapi_btf(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (apt-get install clang)")
    if not UAPI.exists():
        pytest.skip("no /usr/include/linux/bpf.h (apt-get install linux-libc-dev)")
    src = tmp_path_factory.mktemp("uapi") / "structs.c"
    src.write_text("#include <linux/types.h>\n#include <linux/bpf.h>\n#include <linux/bpf_perf_event.h>\n"
                   + "".join(f"struct {name} *p{i};\n" for i, name in enumerate(STRUCTS)))
    obj = src.with_suffix(".o")
    arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("gcc") else ""
    extra = [f"-I/usr/include/{arch}"] if arch else []
    subprocess.run([clang, "-target", "bpf", "-g", "-c", *extra, str(src), "-o", str(obj)], check=True)
    from ebpflite.loader.objfile import load_object
    return load_object(obj).btf


def _members(btf, name: str) -> list[tuple[str, int, int]]:
    """(name, byte offset, byte size) of each member; anonymous unions named by their first member."""
    t = btf.find(name)
    assert t is not None, f"{name} is not in the header"
    def label(member) -> str:  # an anonymous union (__bpf_md_ptr, sk/cookie): its first named member
        inner = btf.resolve(member.type_id)
        return member.name or (label(inner.members[0]) if inner is not None and inner.members else "")

    return [(label(m), m.offset // 8, btf.size_of(m.type_id)) for m in t.members]


@pytest.mark.parametrize("struct_name", sorted(STRUCTS))
def test_layout_matches_the_uapi_header(struct_name, uapi_btf):
    """Our members are the header's, in order, at its offsets and sizes; a header older than
    Linux 6.18 may lack the newest members at the end."""
    ours = [(f.name, f.offset, f.size) for f in STRUCTS[struct_name]]
    header = _members(uapi_btf, struct_name)
    header = [(n, o, WIDENED.get((struct_name, n), s)) for n, o, s in header]
    assert header == ours[:len(header)], f"ours {ours}\nheader {header}"


# --- the running kernel's verdicts ---------------------------------------------------------------------------

#: (program type, attach point) -> (enum bpf_attach_type number used to load)
PROBES = {
    ("socket_filter", None): 0, ("sched_cls", None): 0, ("sched_act", None): 0, ("xdp", None): 0,
    ("xdp", "devmap"): 33, ("xdp", "cpumap"): 35, ("kprobe", None): 0, ("tracepoint", None): 0,
    ("perf_event", None): 0, ("raw_tracepoint", None): 0, ("cgroup_skb", "ingress"): 0,
    ("cgroup_skb", "egress"): 1, ("lwt_in", None): 0, ("lwt_out", None): 0, ("lwt_xmit", None): 0,
    ("lwt_seg6local", None): 0, ("sock_ops", None): 3, ("sk_skb", "stream_parser"): 4,
    ("sk_skb", "stream_verdict"): 5, ("sk_skb", "verdict"): 38, ("cgroup_device", None): 6, ("sk_msg", None): 7,
    ("flow_dissector", None): 17, ("cgroup_sysctl", None): 18, ("sk_lookup", None): 36,
    ("sk_reuseport", None): 39, ("sk_reuseport", "migrate"): 40, ("netfilter", None): 45,
    ("cgroup_sock", "sock_create"): 2, ("cgroup_sock", "post_bind4"): 12, ("cgroup_sock", "post_bind6"): 13,
    ("cgroup_sock", "sock_release"): 34, ("cgroup_sockopt", "getsockopt"): 21,
    ("cgroup_sockopt", "setsockopt"): 22,
    **{("cgroup_sock_addr", name): number for name, number in (
        ("bind4", 8), ("bind6", 9), ("connect4", 10), ("connect6", 11), ("sendmsg4", 14), ("sendmsg6", 15),
        ("recvmsg4", 19), ("recvmsg6", 20), ("getpeername4", 29), ("getpeername6", 30),
        ("getsockname4", 31), ("getsockname6", 32), ("connect_unix", 49), ("sendmsg_unix", 50),
        ("recvmsg_unix", 51), ("getpeername_unix", 52), ("getsockname_unix", 53))},
}
_SIZE_BITS = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, dst | src << 4, off, imm)


def _kernel_allows(prog_type: int, attach: int, off: int, size: int, write: bool, ret: int) -> bool:
    if write:  # r2 = 0; *(size *)(r1 + off) = r2
        access = _insn(0xB7, 2) + _insn(0x63 | _SIZE_BITS[size], 1, 2, off)
    else:  # r0 = *(size *)(r1 + off)
        access = _insn(0x61 | _SIZE_BITS[size], 0, 1, off)
    loaded, _ = load_raw(prog_type, access + _insn(0xB7, 0, imm=ret) + _insn(0x95), attach)
    return loaded


@pytest.fixture(scope="module")
def kernel_618():
    why = unavailable()
    if why:
        pytest.skip(f"asking the kernel needs root: {why}")
    release = os.uname().release
    if not release.startswith("6.18"):
        pytest.skip(f"the descriptors describe Linux 6.18; this kernel is {release}")
    loaded, log = load_raw(PROG_TYPE_NUMBERS["xdp"], _insn(0xB7, 0) + _insn(0x95))
    if not loaded:
        pytest.skip(f"the kernel refuses BPF here: {log.strip()[-200:]}")


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type, attach", sorted(PROBES, key=str), ids=str)
def test_access_rules_match_the_running_kernel(prog_type, attach, kernel_618):
    """Every aligned load and store of 1, 2, 4 and 8 bytes over the structure and a little past it."""
    desc = contexts.descriptor(prog_type, "linux", attach)
    ret = desc.return_range[0] if desc.return_range else 0
    number, attach_number = PROG_TYPE_NUMBERS[prog_type], PROBES[prog_type, attach]
    limit = min(desc.size, 256) + 16
    wrong = []
    for size in (1, 2, 4, 8):
        for off in range(0, limit, size):
            for write in (False, True):
                ours = desc.refusal(off, size, write) is None
                if ours != _kernel_allows(number, attach_number, off, size, write, ret):
                    wrong.append(f"{'write' if write else 'read'} {size}@{off}: ebpflite says {ours}")
    assert not wrong, f"{len(wrong)} differences: {wrong[:20]}"


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type, attach", sorted(PROBES, key=str), ids=str)
def test_return_range_matches_the_running_kernel(prog_type, attach, kernel_618):
    desc = contexts.descriptor(prog_type, "linux", attach)
    values = (-1, 0, 1, 2, 3, 4, 100)
    kernel = [v for v in values if load_raw(PROG_TYPE_NUMBERS[prog_type], _insn(0xB7, 0, imm=v) + _insn(0x95),
                                            PROBES[prog_type, attach])[0]]
    lo, hi = desc.return_range or (-1 << 63, 1 << 63)
    assert kernel == [v for v in values if lo <= v <= hi]


# --- the verifier on these rules ---------------------------------------------------------------------------


def _verify(asm: str, prog_type: str, section: str = ""):
    return verifier.verify(replace(assemble_program(asm), prog_type=prog_type, section=section))


def test_sock_ops_may_set_reply_and_txhash():
    report = _verify("r2 = 1\n*(u32 *)(r1 + 4) = r2\n*(u32 *)(r1 + 164) = r2\nr0 = 1\nexit", "sock_ops")
    assert report.ok, report.text()
    e = _verify("r2 = 1\n*(u32 *)(r1 + 8) = r2\nr0 = 1\nexit", "sock_ops").errors[0]
    assert e.check == "ctx_access" and e.message == (
        "field args of bpf_sock_ops may only be written as its first 4 bytes, not 4 bytes at offset 8")
    e = _verify("r2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 1\nexit", "sock_ops").errors[0]
    assert e.check == "ctx_access" and e.message == "field op of bpf_sock_ops is read-only for sock_ops programs"


@pytest.mark.parametrize("asm, message", [
    ("r0 = *(u16 *)(r1 + 76)", "field data of __sk_buff may only be read whole (4 bytes), not 2 bytes at offset 76"),
    ("r0 = *(u32 *)(r1 + 2)", "a 4-byte access at offset 2 of __sk_buff is not aligned to its width"),
    ("r0 = *(u32 *)(r1 + 144)", "field flow_keys of __sk_buff is not accessible to sched_cls programs"),
    ("r0 = *(u32 *)(r1 + 192)", "invalid context access: 4 bytes at offset 192 are not a field of __sk_buff"),
    ("r0 = *(u8 *)(r1 + 182)", "invalid context access: 1 byte at offset 182 is not a field of __sk_buff"),
    ("r0 = *(u64 *)(r1 + 48)\nr0 = *(u64 *)(r1 + 64)",
     "field cb of __sk_buff may only be read 1, 2, 4 or 8 bytes at a time, not 8 bytes at offset 64"),
    ("r0 = *(u32 *)(r1 + 88)", "field family of __sk_buff is not accessible to sched_cls programs"),
])
def test_skb_access_messages(asm, message):
    e = _verify(f"{asm}\nr0 = 0\nexit", "sched_cls").errors[0]
    assert e.check == "ctx_access" and message in e.message, e.message


def test_narrow_reads_where_the_kernel_allows_them():
    assert _verify("r0 = *(u8 *)(r1 + 3)\nr0 = *(u16 *)(r1 + 50)\nr0 = 0\nexit", "sched_cls").ok
    e = _verify("r0 = *(u8 *)(r1 + 1)\nr0 = 0\nexit", "xdp").errors[0]  # xdp_md: whole u32s only
    assert e.message == "field data of xdp_md may only be read whole (4 bytes), not 1 byte at offset 1"


def test_attach_point_decides_the_fields():
    v4, v6 = "r0 = *(u32 *)(r1 + 4)\nr0 = 1\nexit", "r0 = *(u32 *)(r1 + 8)\nr0 = 1\nexit"
    assert _verify(v4, "cgroup_sock_addr", "cgroup/connect4").ok
    e = _verify(v6, "cgroup_sock_addr", "cgroup/connect4").errors[0]
    assert e.message == "field user_ip6 of bpf_sock_addr is not accessible to cgroup_sock_addr programs"
    assert _verify(v6, "cgroup_sock_addr", "cgroup/connect6").ok
    e = _verify("r0 = 0\nexit", "cgroup_sock_addr", "cgroup/recvmsg4").errors[0]
    assert e.check == "return_range" and "[1, 1]" in e.message


def test_socket_pointers_are_not_followed_yet():
    e = _verify("r0 = *(u64 *)(r1 + 168)\nr0 = 0\nexit", "sched_cls").errors[0]
    assert e.check == "unsupported" and "field sk of __sk_buff" in e.message


def test_packet_pointers_of_other_structures():
    """sk_msg_md and sock_ops hold 8-byte packet pointers; a bounds check makes the packet readable."""
    for prog_type, data, end in (("sk_msg", 0, 8), ("sock_ops", 192, 200)):
        asm = (f"r2 = *(u64 *)(r1 + {data})\nr3 = *(u64 *)(r1 + {end})\nr4 = r2\nr4 += 4\n"
               "if r4 > r3 goto out\nr0 = *(u32 *)(r2 + 0)\nout:\nr0 = 1\nexit")
        report = _verify(asm, prog_type)
        assert report.ok, report.text()


def test_fields_are_reached_from_the_unmodified_pointer():
    """The kernel refuses a load through a moved context pointer ("dereference of modified ctx ptr")."""
    e = _verify("r1 += 4\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit", "xdp").errors[0]
    assert e.check == "ctx_access" and "r1 is the context pointer moved by 4 bytes" in e.message


@pytest.mark.kernel
def test_the_kernel_refuses_a_moved_context_pointer(kernel_618):
    code = _insn(0x07, 1, imm=4) + _insn(0x61, 0, 1, 0) + _insn(0xB7, 0) + _insn(0x95)
    loaded, log = load_raw(PROG_TYPE_NUMBERS["xdp"], code)
    assert not loaded and "dereference of modified ctx ptr" in log
