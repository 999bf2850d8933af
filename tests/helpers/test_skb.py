"""The __sk_buff runtime without a kernel: how the context is built, what it refuses, and the skb helpers.

The same rules are checked against the kernel itself in tests/kernel/test_kernel_skb.py;
here every expectation is derived from the packet (lengths, addresses,
recomputed checksums), so the suite needs no root.
"""

from __future__ import annotations

import errno
import struct

import pytest

from ebpflite.errors import ContextError
from ebpflite.helpers import skb as S
from ebpflite.helpers.net import Net
from ebpflite.packets import UDP, Dot1Q, Ether, IPv4, IPv6, checksum_errors, decode
from ebpflite.vm.contexts import SK_BUFF_SIZE

FIELDS = S.SKB_SLOTS  #: name -> (offset, size), cb[i] and remote_ip6[i] included


def frame(**ip) -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
                 / IPv4(src="10.1.2.3", dst="192.0.2.9", **ip) / UDP(sport=4000, dport=53) / b"payload!")


def ctx_in(**values: int) -> bytes:
    raw = bytearray(SK_BUFF_SIZE)
    for name, value in values.items():
        offset, size = FIELDS[name]
        struct.pack_into({4: "<I", 8: "<Q"}[size], raw, offset, value)
    return bytes(raw)


def field(context: S.SkbContext, name: str) -> int:
    return context.get_field(name)


# --- building the context ----------------------------------------------------------------------------


def test_a_tc_context_starts_at_the_ethernet_header():
    pkt = frame()
    c = S.SkbContext("sched_cls", pkt)
    assert field(c, "len") == len(pkt) and c.packet_out() == pkt
    assert field(c, "protocol") == 0x0008  # htons(ETH_P_IP) as a u32 load reads it
    assert field(c, "pkt_type") == S.PACKET_OTHERHOST  # lo's address is 00:00:00:00:00:00
    assert field(c, "ifindex") == 1 and field(c, "ingress_ifindex") == 0
    assert field(c, "wire_len") == 0  # no ctx_in: cb->pkt_len is never set
    data, end = field(c, "data"), field(c, "data_end")
    assert end - data == len(pkt) and data == c.address(c.data) and field(c, "data_meta") == data
    assert field(c, "family") == 2 and field(c, "local_ip4") == int.from_bytes(pkt[26:30], "little")
    assert field(c, "remote_ip4") == int.from_bytes(pkt[30:34], "little")
    assert c.action(2) == "TC_ACT_SHOT"


def test_socket_filters_see_the_network_header_and_get_a_zeroed_ethernet_header_back():
    pkt = frame()
    c = S.SkbContext("socket_filter", pkt)
    assert field(c, "len") == len(pkt) - 14
    assert c.ld_abs(9, 1) == 17  # IPv4 protocol, offsets count from the network header
    assert c.ld_abs(S.SKF_LL_OFF + 12, 2) == 0x0800 and c.ld_abs(S.SKF_NET_OFF, 1) == 0x45
    assert c.ld_abs(len(pkt) - 14 - 1, 2) is None and c.ld_abs(-1, 1) is None
    assert c.packet_out() == bytes(14) + pkt[14:]


def test_cgroup_skb_has_direct_access_from_the_network_header():
    pkt = frame()
    c = S.SkbContext("cgroup_skb", pkt)
    assert field(c, "data_end") - field(c, "data") == len(pkt) - 14
    assert c.action(1) == "SK_PASS"


@pytest.mark.parametrize("dest, pkt_type", [("02:00:00:00:00:aa", S.PACKET_HOST),
                                             ("ff:ff:ff:ff:ff:ff", S.PACKET_BROADCAST),
                                             ("01:00:5e:00:00:01", S.PACKET_MULTICAST),
                                             ("02:00:00:00:00:bb", S.PACKET_OTHERHOST)])
def test_pkt_type_and_ifindex_come_from_the_device_ctx_in_names(dest, pkt_type):
    net = Net()
    net.add_device("eth0", ifindex=2, mac="02:00:00:00:00:aa")
    pkt = bytes(Ether(dst=dest) / IPv4() / UDP())
    c = S.SkbContext("sched_cls", pkt, ctx_in(ifindex=2, ingress_ifindex=5, mark=9), net=net)
    assert field(c, "pkt_type") == pkt_type and field(c, "ifindex") == 2
    assert field(c, "ingress_ifindex") == 5 and field(c, "mark") == 9
    assert field(c, "wire_len") == len(pkt)  # with ctx_in, wire_len defaults to len


@pytest.mark.parametrize("ethertype, next2, protocol", [(0x0800, b"\x45\x00", 0x0800), (0x0400, b"\xff\xff", 0x0001),
                                                        (0x0040, b"\xaa\xaa", 0x0004), (0x86DD, b"\x60\x00", 0x86DD)])
def test_protocol_follows_eth_type_trans(ethertype, next2, protocol):
    pkt = bytes(6) + bytes(6) + ethertype.to_bytes(2, "big") + next2 + bytes(60)
    assert S.SkbContext("sched_cls", pkt).protocol == protocol


def test_ctx_out_writes_back_what_the_kernel_does():
    pkt = frame()
    c = S.SkbContext("sched_cls", pkt, ctx_in(mark=1, priority=2, tstamp=3, hwtstamp=4, gso_size=1400, gso_segs=2))
    c.set_field("mark", 77)
    c.set_field("cb[3]", 0xABCD)
    out = c.ctx_out()
    assert struct.unpack_from("<I", out, FIELDS["mark"][0])[0] == 77
    assert struct.unpack_from("<I", out, FIELDS["cb[3]"][0])[0] == 0xABCD
    assert struct.unpack_from("<I", out, FIELDS["wire_len"][0])[0] == len(pkt)
    assert struct.unpack_from("<I", out, FIELDS["ifindex"][0])[0] == 1
    assert struct.unpack_from("<I", out, FIELDS["gso_size"][0])[0] == 1400  # ctx_in's, not written back
    assert struct.unpack_from("<Q", out, FIELDS["hwtstamp"][0])[0] == 4


BAD = [
    (bytes(13), None, errno.EINVAL, "13 bytes: an skb test run takes 14 to 3712 bytes"),
    (frame() + bytes(3713 - len(frame())), None, errno.EINVAL, "3713 bytes"),
    (frame()[:33], None, errno.EINVAL, "IPv4 frame of 33 bytes"),
    (bytes(Ether() / IPv6() / UDP())[:53], None, errno.EINVAL, "IPv6 frame of 53 bytes"),
    (frame(), b"", errno.EINVAL, "ctx_in is empty"),
    (frame(), bytes(4097), errno.E2BIG, "larger than a page"),
    (frame(), bytes(192) + b"\1", errno.E2BIG, "non-zero bytes after the 192-byte __sk_buff"),
    (frame(), ctx_in(tc_index=1), errno.EINVAL, "ctx_in sets field tc_index"),
    (frame(), ctx_in(len=1), errno.EINVAL, "ctx_in sets field len"),
    (frame(), bytes(181) + b"\1" + bytes(10), errno.EINVAL, "ctx_in sets padding"),
    (frame(), ctx_in(wire_len=5), errno.EINVAL, "wire_len 5 must lie between the packet length"),
    (frame(), ctx_in(wire_len=65537), errno.EINVAL, "wire_len 65537"),
    (frame(), ctx_in(gso_segs=65536), errno.EINVAL, "gso_segs 65536 is above 65535"),
    (frame(), ctx_in(ifindex=42), errno.ENODEV, "ctx_in.ifindex 42 names no device"),
]


@pytest.mark.parametrize("packet, ctx, code, message", BAD, ids=[m for *_, m in BAD])
def test_what_bpf_prog_test_run_refuses(packet, ctx, code, message):
    with pytest.raises(ContextError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        S.SkbContext("sched_cls", packet, ctx)
    assert info.value.errno == code
    assert errno.errorcode[code] in str(info.value)


def test_only_skb_program_types_get_an_skb():
    with pytest.raises(ContextError, match="xdp programs do not run on an __sk_buff"):
        S.SkbContext("xdp", frame())


# --- through programs, on both engines -------------------------------------------------------------

NAT = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* rewrite the IPv4 source to 198.51.100.7 and the UDP source port to 9999, fixing both checksums */
SEC("tc")
int nat(struct __sk_buff *skb)
{
    __u32 old_ip, new_ip = bpf_htonl(0xC6336407);
    __u16 old_port, new_port = bpf_htons(9999);
    if (bpf_skb_load_bytes(skb, 26, &old_ip, 4) || bpf_skb_load_bytes(skb, 34, &old_port, 2))
        return TC_ACT_SHOT;
    bpf_l4_csum_replace(skb, 40, old_ip, new_ip, BPF_F_PSEUDO_HDR | sizeof(new_ip));
    bpf_l3_csum_replace(skb, 24, old_ip, new_ip, sizeof(new_ip));
    bpf_skb_store_bytes(skb, 26, &new_ip, 4, 0);
    bpf_l4_csum_replace(skb, 40, old_port, new_port, sizeof(new_port));
    bpf_skb_store_bytes(skb, 34, &new_port, 2, 0);
    return TC_ACT_OK;
}
char _license[] SEC("license") = "GPL";
"""


def test_checksum_helpers_keep_headers_valid(ebpf_load):
    obj = ebpf_load(NAT)
    res = obj.programs["nat"].run(packet=frame())
    out = decode(res.packet)
    assert res.action == "TC_ACT_OK" and not checksum_errors(res.packet)
    assert str(out[IPv4].src) == "198.51.100.7" and out[UDP].sport == 9999


GROW = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* grow the packet to cb[0] bytes (from ctx_in), then write 0x5a into its last byte */
SEC("tc")
int grow(struct __sk_buff *skb)
{
    __u32 want = skb->cb[0];
    if (bpf_skb_change_tail(skb, want, 0))
        return TC_ACT_SHOT;
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    unsigned char *last = data + ((want - 1) & 0x3fff);
    if ((void *)(last + 1) > end)
        return TC_ACT_UNSPEC;
    *last = 0x5a;
    return skb->len;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("size", [80, 3712, 16064])
def test_change_tail_grows_past_the_first_buffer_and_the_program_sees_the_new_bytes(ebpf_load, size):
    pkt = frame()
    obj = ebpf_load(GROW)
    res = obj.programs["grow"].run(packet=pkt, ctx=ctx_in(**{"cb[0]": size}))
    assert res.return_value == size and len(res.packet) == size
    assert res.packet[:len(pkt)] == pkt and res.packet[-1] == 0x5A
    assert res.packet[len(pkt):-1] == bytes(size - len(pkt) - 1)  # grown bytes are zeroed


def test_change_tail_refuses_to_grow_past_the_limit(ebpf_load):
    obj = ebpf_load(GROW)
    assert obj.programs["grow"].run(packet=frame(), ctx=ctx_in(**{"cb[0]": 16065})).action == "TC_ACT_SHOT"


VLAN = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* tag twice: the first tag goes into the skb, the second push moves it into the packet */
SEC("tc")
int vlan(struct __sk_buff *skb)
{
    if (bpf_skb_vlan_push(skb, bpf_htons(0x8100), 10) || bpf_skb_vlan_push(skb, bpf_htons(0x88a8), 20))
        return TC_ACT_SHOT;
    skb->cb[0] = skb->vlan_tci;
    return skb->vlan_proto;
}
char _license[] SEC("license") = "GPL";
"""


def test_vlan_push_moves_the_previous_tag_into_the_packet(ebpf_load):
    pkt = frame()
    res = ebpf_load(VLAN).programs["vlan"].run(packet=pkt, ctx=ctx_in())
    assert res.return_value == 0xA888  # the skb's tag is the last one pushed (htons(0x88a8))
    assert struct.unpack_from("<I", res.ctx, FIELDS["cb[0]"][0])[0] == 20
    assert res.packet == pkt[:12] + b"\x81\x00\x00\x0a" + pkt[12:]
    assert decode(res.packet)[Dot1Q].vid == 10


TAIL = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} stages SEC(".maps");

/* the second stage marks the packet and passes it; the __sk_buff goes along with the tail call */
SEC("tc")
int stage1(struct __sk_buff *skb)
{
    skb->mark = 0x100;
    skb->cb[0] = skb->len;
    return TC_ACT_OK;
}

SEC("tc")
int entry(struct __sk_buff *skb)
{
    skb->priority = 5;
    bpf_tail_call(skb, &stages, 1);
    return TC_ACT_SHOT;  /* slot 1 empty */
}
char _license[] SEC("license") = "GPL";
"""


def test_tail_calls_carry_the_skb_on_both_engines(ebpf_load):
    """Verified code on the JIT runs without an instruction count: a tail call must not underflow it."""
    obj = ebpf_load(TAIL)
    pkt = frame()
    assert obj.programs["entry"].run(packet=pkt).action == "TC_ACT_SHOT"
    obj.maps["stages"].set_program(1, obj.programs["stage1"].program)
    res = obj.programs["entry"].run(packet=pkt, ctx=ctx_in())
    assert res.action == "TC_ACT_OK"
    assert struct.unpack_from("<I", res.ctx, FIELDS["mark"][0])[0] == 0x100
    assert struct.unpack_from("<I", res.ctx, FIELDS["priority"][0])[0] == 5
    assert struct.unpack_from("<I", res.ctx, FIELDS["cb[0]"][0])[0] == len(pkt)
