"""The simulated network (helpers/net.py) and the helpers that read it: fib_lookup, sk_lookup, check_mtu.

tests/kernel/test_kernel_skb.py configures a fresh network namespace and
ebpflite's Net the same way and compares every lookup with the kernel's;
here: the tables' own rules and bad input, and the helpers on both engines.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from ebpflite.errors import ContextError, ExecutionError
from ebpflite.helpers.net import Net
from ebpflite.packets import UDP, Ether, IPv4


def test_a_new_namespace_has_only_a_loopback_device_that_does_not_forward():
    net = Net()
    assert list(net.devices) == [1] and net.loopback.mtu == 65536 and not net.forwarding[1]


def test_routes_pick_the_longest_prefix_then_the_lowest_metric():
    net = Net()
    net.add_device("eth0")
    net.add_address("10.0.0.1/24", dev="eth0")
    net.add_route("10.0.0.0/8", dev="eth0", metric=5)
    wide = net.add_route("0.0.0.0/0", via="10.0.0.254", metric=10)
    best = net.add_route("0.0.0.0/0", via="10.0.0.253", metric=1)
    assert net.route_for(ipaddress.ip_address("8.8.8.8")) is best and wide.ifindex == 2
    assert net.route_for(ipaddress.ip_address("10.0.0.7")).prefix.prefixlen == 24
    assert net.route_for(ipaddress.ip_address("10.0.0.1")).type == "local"
    assert net.route_for(ipaddress.ip_address("10.0.0.255")).type == "broadcast"
    v6 = net.add_route("2001:db8::/32", dev="eth0")
    assert v6.metric == 1024  # ip route's default for IPv6


BAD = [
    (lambda n: n.add_device("lo"), "already a device named 'lo'"),
    (lambda n: n.add_device("x", ifindex=1), "ifindex 1 is already device 'lo'"),
    (lambda n: n.add_device("x", ifindex=0), "ifindex 0 must be a positive 31-bit number"),
    (lambda n: n.add_device("x", mtu=10), "MTU 10 of 'x' must be between 68 and 65536"),
    (lambda n: n.add_device("x", mac="02:00"), "'02:00' is not a MAC address"),
    (lambda n: n.add_route("10.0.0.0/33", dev="lo"), "'10.0.0.0/33' is not a route prefix"),
    (lambda n: n.add_route("10.0.0.0/8", dev="lo", type="nat"), "route type 'nat' must be one of"),
    (lambda n: n.add_route("10.0.0.0/8", via="2001:db8::1"), "gateway 2001:db8::1 is not an IPv4 address"),
    (lambda n: n.add_route("10.0.0.0/8", via="192.0.2.1"), "give dev= \\(no route reaches gateway 192.0.2.1\\)"),
    (lambda n: n.add_route("10.0.0.0/8", dev="eth9"), "no device named 'eth9'"),
    (lambda n: n.add_neighbour("10.0.0.300", "02:00:00:00:00:01", dev="lo"), "'10.0.0.300' is not an IPv4"),
    (lambda n: n.add_address("10.0.0.1", dev=7), "no device with ifindex 7"),
    (lambda n: n.add_address("nope/24", dev="lo"), "'nope/24' is not an address with a prefix"),
    (lambda n: n.add_socket("sctp", "10.0.0.1:80"), "socket protocol 'sctp' must be tcp or udp"),
    (lambda n: n.add_socket("tcp", "10.0.0.1"), "'10.0.0.1' is not ADDRESS:PORT"),
    (lambda n: n.add_socket("tcp", "10.0.0.1:99999"), "'10.0.0.1:99999' is not ADDRESS:PORT"),
    (lambda n: n.add_socket("tcp", "10.0.0.1:80", remote="[2001:db8::1]:80"), "of different families"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m for _, m in BAD])
def test_bad_network_configuration_is_refused_with_a_message(call, message):
    with pytest.raises(ContextError, match=message):
        call(Net())


FIB = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* look the packet's IPv4 destination up and forward it: rewrite the MACs, redirect */
SEC("tc")
int router(struct __sk_buff *skb)
{
    struct bpf_fib_lookup p = {};
    __u8 macs[12];
    p.family = 2;
    p.ifindex = skb->ingress_ifindex;
    if (bpf_skb_load_bytes(skb, 30, &p.ipv4_dst, 4))
        return TC_ACT_SHOT;
    long rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
    skb->cb[0] = rc;
    skb->cb[1] = p.mtu_result;
    if (rc != BPF_FIB_LKUP_RET_SUCCESS)
        return TC_ACT_OK;
    __builtin_memcpy(macs, p.dmac, 6);
    __builtin_memcpy(macs + 6, p.smac, 6);
    bpf_skb_store_bytes(skb, 0, macs, 12, 0);
    return bpf_redirect(p.ifindex, 0);
}
char _license[] SEC("license") = "GPL";
"""


def _ctx(ingress: int) -> bytes:
    raw = bytearray(192)
    struct.pack_into("<I", raw, 36, ingress)  # ingress_ifindex
    return bytes(raw)


def test_a_tc_router_forwards_by_the_simulated_table(ebpf_load):
    obj = ebpf_load(FIB)
    net = obj.net
    net.add_device("eth0", ifindex=2, mac="02:00:00:00:00:01")
    net.add_device("eth1", ifindex=3, mac="02:00:00:00:00:02", mtu=1400)
    net.add_address("10.0.0.1/24", dev="eth0")
    net.add_address("192.168.1.1/24", dev="eth1")
    net.add_route("198.51.100.0/24", via="192.168.1.254")
    net.add_neighbour("192.168.1.254", "02:aa:bb:cc:dd:ee", dev="eth1")
    frame = bytes(Ether(dst="02:00:00:00:00:01") / IPv4(src="10.0.0.9", dst="198.51.100.7") / UDP() / b"x")
    res = obj.programs["router"].run(packet=frame, ctx=_ctx(2))
    assert res.action == "TC_ACT_REDIRECT" and res.redirect["ifindex"] == 3
    assert res.packet[:12] == bytes.fromhex("02aabbccddee") + bytes.fromhex("020000000002")
    cb0, cb1 = struct.unpack_from("<II", res.ctx, 48)
    assert (cb0, cb1) == (0, 1400)  # success; the egress device's MTU
    miss = bytes(Ether() / IPv4(dst="8.8.8.8") / UDP())
    res = obj.programs["router"].run(packet=miss, ctx=_ctx(2))
    assert res.action == "TC_ACT_OK" and struct.unpack_from("<I", res.ctx, 48)[0] == 4  # NOT_FWDED
    res = obj.programs["router"].run(packet=frame, ctx=_ctx(1))  # lo does not forward
    assert struct.unpack_from("<I", res.ctx, 48)[0] == 5  # FWD_DISABLED


LOOKUP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* is there a TCP socket for this packet's destination? cb[0] selects forgetting the release */
SEC("tc")
int lookup(struct __sk_buff *skb)
{
    struct bpf_sock_tuple t = {};
    if (bpf_skb_load_bytes(skb, 26, &t.ipv4, 12))
        return TC_ACT_SHOT;
    struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
    if (!sk)
        return TC_ACT_SHOT;
    __u32 state = sk->state;
    if (!skb->cb[0])
        bpf_sk_release(sk);
    return state;
}
char _license[] SEC("license") = "GPL";
"""


def test_socket_lookup_finds_listeners_and_connections_and_refuses_leaked_references(ebpf_load):
    # ebpflite's verifier does not type socket pointers yet: the program runs checked
    obj = ebpf_load(LOOKUP, verify=False)
    obj.net.add_socket("tcp", "10.0.0.1:80")
    obj.net.add_socket("tcp", "10.0.0.1:80", remote="10.0.0.9:5555")
    prog = obj.programs["lookup"]

    def run(src: str, sport: int, dport: int, leak: int = 0):
        frame = bytes(Ether() / IPv4(src=src, dst="10.0.0.1") / UDP(sport=sport, dport=dport))
        return prog.run(packet=frame, ctx=struct.pack("<48xI140x", leak))

    assert run("10.0.0.9", 5555, 80).return_value == 1  # the connection: BPF_TCP_ESTABLISHED
    assert run("10.0.0.8", 5555, 80).return_value == 10  # the listener: BPF_TCP_LISTEN
    assert run("10.0.0.8", 5555, 81).action == "TC_ACT_SHOT"
    with pytest.raises(ExecutionError, match="exited holding 1 socket reference"):
        run("10.0.0.9", 5555, 80, leak=1)
    assert run("10.0.0.9", 5555, 80).return_value == 1  # the next run starts clean
