"""__sk_buff programs in the kernel (bpftool prog run) and in ebpflite: return value, data_out, ctx_out, maps.

Each case is a packet and a ctx_in (an ``__sk_buff`` whose cb[] carries the
operation for tests/kernel/progs/tc_skb_ops.c); the kernel's answer, or its
refusal (errno), is the expected one, on the interpreter and on the JIT.
Programs run verified: the verifier's xlated program is what gives
``tc_index``/``queue_mapping`` their 16-bit kernel storage (verifier/xlate.py).
"""

from __future__ import annotations

import struct

import pytest
from kernel_runner import compile_prog, missing_capability, run_in_kernel

from ebpflite import load
from ebpflite.errors import ContextError
from ebpflite.packets import TCP, UDP, Dot1Q, Ether, IPv4, IPv6

pytestmark = pytest.mark.kernel

_MISSING = missing_capability()
if _MISSING:
    pytest.skip(f"kernel differential tests skipped: {_MISSING}", allow_module_level=True)

ENGINES = ("interp", "jit")

ERRNO_TEXT = {"Invalid argument": 22, "No such device": 19, "Argument list too long": 7}


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    out = tmp_path_factory.mktemp("skbobjs")
    return {name: compile_prog(name, out) for name in ("tc_skb_ops", "tc_skb_fields", "socket_ld_abs", "tc_fib", "tc_sklookup",
                                                        "cgroup_skb_fields", "tc_tunnel")}


def ctx(*cb: int, **fields: int) -> bytes:
    """An __sk_buff ctx_in with cb[0..] and any other field by name (offsets from the descriptor)."""
    from ebpflite.helpers.skb import SKB_SLOTS
    from ebpflite.vm.contexts import SK_BUFF_SIZE

    raw = bytearray(SK_BUFF_SIZE)
    for i, value in enumerate(cb):
        struct.pack_into("<I", raw, SKB_SLOTS[f"cb[{i}]"][0], value & 0xFFFFFFFF)
    for name, value in fields.items():
        offset, size = SKB_SLOTS[name]
        struct.pack_into({4: "<I", 8: "<Q"}[size], raw, offset, value)
    return bytes(raw)


def compare(obj_path, tmp_path, cases, engine: str, *, verify: bool = True) -> list:
    """Run ``cases`` [(packet, ctx_in or None)] in the kernel and in ebpflite; assert equal results."""
    packets = [p for p, _ in cases]
    ctx_in = [c for _, c in cases]
    kernel = run_in_kernel(obj_path, tmp_path, packets, ctx_in=ctx_in)
    obj = load(obj_path, engine=engine, verify=verify, cpus=1)
    prog = next(iter(obj.programs.values()))
    for i, (packet, c) in enumerate(cases):
        k = kernel.runs[i]
        if k.retval is None:
            code = next((n for text, n in ERRNO_TEXT.items() if text in k.error), None)
            with pytest.raises(ContextError) as info:
                prog.run(packet=packet, ctx=c)
            assert getattr(info.value, "errno", None) == code, f"case {i}: kernel said {k.error!r}: {info.value}"
            continue
        res = prog.run(packet=packet, ctx=c)
        where = f"case {i} ({engine})"
        assert res.return_value == k.retval, f"{where}: kernel returned {k.retval}, ebpflite {res.return_value}"
        assert res.packet == k.data_out, f"{where}: data_out\n kernel {k.data_out.hex()}\n ours   {res.packet.hex()}"
        if k.ctx_out is not None:
            assert res.ctx == k.ctx_out, f"{where}: ctx_out\n kernel {k.ctx_out.hex()}\n ours   {res.ctx.hex()}"
    return kernel.runs


def udp4(payload: bytes = b"hello, world", **ip) -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
                 / IPv4(src="10.1.2.3", dst="192.0.2.9", **ip) / UDP(sport=4000, dport=53) / payload)


def tcp6(payload: bytes = b"x" * 20) -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
                 / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=80) / payload)


def vlan4() -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / Dot1Q(vid=5, prio=3)
                 / IPv4(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=7, dport=9) / b"v")


def qinq4() -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / Dot1Q(vid=7) / Dot1Q(vid=5)
                 / IPv4(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=7, dport=9) / b"q")


ETH_P_IP, ETH_P_IPV6 = 0x0008, 0xDD86  # as bpf_htons(...) leaves them in a register


@pytest.mark.parametrize("engine", ENGINES)
def test_load_and_store_bytes(objs, tmp_path, engine):
    p = udp4()
    cases = [(p, ctx(1, 0)), (p, ctx(1, len(p) - 12)), (p, ctx(1, len(p) - 11)), (p, ctx(1, 1 << 31)),
             (p, ctx(2, 0, 0)), (p, ctx(2, 0, 1)), (p, ctx(2, 2, 1)), (p, ctx(2, 0, 2)), (p, ctx(2, 0x10000, 0)),
             (p, ctx(2, len(p) - 14 - 12, 1)), (p, ctx(2, len(p) - 14 - 11, 1)),
             (p, ctx(3, 6, 0, 0x11223344)), (p, ctx(3, len(p) - 4, 2, 7)), (p, ctx(3, len(p) - 3, 0, 7)),
             (p, ctx(3, 0, 4, 7)), (p, ctx(3, 0, 1, 0xAABBCCDD))]
    compare(objs["tc_skb_ops"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_checksum_replace(objs, tmp_path, engine):
    p = udp4()
    ip_csum, udp_csum = 14 + 10, 14 + 20 + 6
    old_src = struct.unpack("<I", p[26:30])[0]
    old_port = struct.unpack("<H", p[34:36])[0]
    cases = [(p, ctx(4, ip_csum, 4, old_src)), (p, ctx(4, ip_csum, 2, old_port)), (p, ctx(4, ip_csum, 0, 0)),
             (p, ctx(4, ip_csum, 3, 1)), (p, ctx(4, ip_csum + 1, 4, 1)), (p, ctx(4, 0x10000, 4, 1)),
             (p, ctx(4, len(p) - 1, 4, 1)), (p, ctx(4, ip_csum, 0x14, 1)),
             (p, ctx(5, udp_csum, 4 | 0x10, old_src)), (p, ctx(5, udp_csum, 2, old_port)),
             (p, ctx(5, udp_csum, 0x10, 0)), (p, ctx(5, udp_csum, 0x80 | 4, 5)), (p, ctx(5, udp_csum, 0x100, 5)),
             (p, ctx(5, udp_csum, 0x20 | 4, 5)), (p, ctx(5, udp_csum, 0x60 | 4, 5)), (p, ctx(5, udp_csum, 6, 5))]
    zero = bytearray(p)
    zero[udp_csum:udp_csum + 2] = b"\0\0"  # no UDP checksum: MARK_MANGLED_0 leaves it alone
    cases += [(bytes(zero), ctx(5, udp_csum, 0x20 | 2, 5)), (bytes(zero), ctx(5, udp_csum, 0x60 | 2, 5))]
    # a checksum that becomes 0 is written as 0xffff with MARK_MANGLED_0
    compare(objs["tc_skb_ops"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_resize(objs, tmp_path, engine):
    p, v6 = udp4(), tcp6()
    cases = [(p, ctx(6, len(p) + 10)), (p, ctx(6, len(p) - 5)), (p, ctx(6, 14)), (p, ctx(6, 13)),
             (p, ctx(6, 16064)), (p, ctx(6, 16065)), (p, ctx(6, 60, 1)),
             (p, ctx(7, 8)), (p, ctx(7, 0)), (p, ctx(7, 16064 - len(p))), (p, ctx(7, 16065 - len(p))),
             (p, ctx(7, 4, 1)), (p, ctx(7, 0xFFFFFFFF)),
             (p, ctx(8, 8, 0)), (p, ctx(8, 8, 1)), (p, ctx(8, -8, 0)), (p, ctx(8, -8, 1)), (p, ctx(8, -4096, 1)),
             (p, ctx(8, 4096, 1)), (p, ctx(8, 8, 2)), (p, ctx(8, -30, 1)), (p, ctx(8, -9, 0)),
             (p, ctx(8, 20, 1, 0x02)), (p, ctx(8, 28, 1, 0x02 | 0x10)), (p, ctx(8, 20, 1, 0x06)),
             (p, ctx(8, 34, 1, 0x02 | 0x40 | (14 << 16))), (p, ctx(8, 20, 1, 0x02 | 0x40 | (10 << 16))),
             (p, ctx(8, 20, 1, 0x18 | 0x02)), (p, ctx(8, 8, 1, 0x1000)), (p, ctx(8, 8, 1, 0x20)),
             (v6, ctx(8, 8, 0)), (v6, ctx(8, -8, 0)), (v6, ctx(8, 20, 1, 0x04)),
             (bytes(Ether(type=0x0806) / bytes(28)), ctx(8, 8, 1)),
             (p, ctx(9, ETH_P_IPV6)), (p, ctx(9, ETH_P_IP)), (p, ctx(9, ETH_P_IPV6, 1)),
             (v6, ctx(9, ETH_P_IP)), (v6, ctx(9, ETH_P_IPV6))]
    compare(objs["tc_skb_ops"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_vlan_and_packet_type(objs, tmp_path, engine):
    p, tagged, qinq = udp4(), vlan4(), qinq4()
    q, ad = 0x0081, 0xA888
    cases = [(p, ctx(10, q, 5, 1)), (p, ctx(10, q, 5, 2)), (p, ctx(10, ad, 0x1005, 2)), (p, ctx(10, 0x1234, 5, 1)),
             (tagged, ctx(10, q, 9, 2)), (p, ctx(11, 1)), (tagged, ctx(11, 1)), (qinq, ctx(11, 1)),
             (qinq, ctx(11, 2)), (tagged, ctx(11, 2)),
             (p, ctx(12, 0)), (p, ctx(12, 3)), (p, ctx(12, 4)), (p, ctx(12, 1))]
    compare(objs["tc_skb_ops"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_hash_checksum_level_ecn_pull_and_redirect(objs, tmp_path, engine):
    p = udp4()
    ect0, ect1, ce = udp4(tos=0x02), udp4(tos=0x01), udp4(tos=0x03)
    v6 = bytearray(tcp6())
    v6[15] |= 0x20  # traffic class ECT(0)
    cases = [(p, ctx(13, 0xCAFE)), (p, ctx(13, 0)),
             (p, ctx(14, 1)), (p, ctx(14, 2)), (p, ctx(14, 3)), (p, ctx(14, 0)), (p, ctx(14, 9)),
             (p, ctx(15, 5)), (p, ctx(16, 0)), (p, ctx(16, 20)), (p, ctx(16, 1000)),
             (p, ctx(17)), (ect0, ctx(17)), (ect1, ctx(17)), (ce, ctx(17)), (bytes(v6), ctx(17)), (tcp6(), ctx(17)),
             (p, ctx(18, 1, 1, 0)), (p, ctx(18, 4, 0, 7)), (p, ctx(18, 0, 3, 9)), (p, ctx(18, 0, 0, 5)),
             (p, ctx(19, 1, 0)), (p, ctx(19, 1, 1)), (p, ctx(19, 5, 2)),
             (p, ctx(20, 1, 0)), (p, ctx(20, 999, 0)), (p, ctx(20, 1, 2))]
    compare(objs["tc_skb_ops"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_input_gets_the_kernels_errno(objs, tmp_path, engine):
    """What BPF_PROG_TEST_RUN refuses, with its errno: sizes, short IP frames, ctx_in rules."""
    p = udp4()
    cases = [(bytes(13), None), (bytes(14), None), (p[:33], None), (p[:34], None), (tcp6()[:53], None),
             (tcp6()[:54], None), (p + bytes(3712 - len(p)), None), (p + bytes(3713 - len(p)), None),
             (p, ctx(0, tc_index=1)), (p, ctx(0, len=1)), (p, ctx(0, hash=5)), (p, ctx(0, napi_id=1)),
             (p, ctx(0, data=1)), (p, ctx(0, gso_size=9000, gso_segs=3)), (p, ctx(0, gso_segs=65536)),
             (p, ctx(0, wire_len=len(p) - 1)), (p, ctx(0, wire_len=len(p))), (p, ctx(0, wire_len=65536)),
             (p, ctx(0, wire_len=65537)), (p, ctx(0, ifindex=9999)), (p, ctx(0, ifindex=1)),
             (p, ctx(0, ingress_ifindex=77, mark=5, priority=6, tstamp=123, hwtstamp=9)),
             (p, ctx(0)[:20]), (p, ctx(0) + bytes(100)), (p, ctx(0) + b"\1"), (p, bytes(4097)), (p, b""),
             (p[:20], ctx(0, ifindex=9999))]
    compare(objs["tc_skb_fields"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_fields_as_the_kernel_builds_them(objs, tmp_path, engine):
    """Every readable field of a tc program's __sk_buff, on packets of each kind (written into the packet)."""
    frames = [udp4(), tcp6(), vlan4(), bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / IPv4() / UDP() / bytes(40)),
              bytes(Ether(dst="01:00:5e:00:00:01") / IPv4() / UDP() / bytes(40)),
              bytes(Ether(dst="00:00:00:00:00:00") / IPv4() / UDP() / bytes(40)),
              bytes.fromhex("020000000002020000000001") + b"\x00\x40" + b"\xff\xff" + bytes(100),
              bytes.fromhex("020000000002020000000001") + b"\x00\x40" + b"\xaa\xaa" + bytes(100)]
    cases = [(f, None) for f in frames] + [(f, ctx(1, 2, 3, 4, 5, mark=9, priority=2, wire_len=0))
                                           for f in frames[:2]]
    compare(objs["tc_skb_fields"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_socket_filter_ld_abs_and_kept_length(objs, tmp_path, engine):
    p, v6, short = udp4(b"z" * 40), tcp6(), udp4(b"")
    cases = [(p, None), (v6, None), (short, None), (bytes(Ether(type=0x0806) / bytes(28)), None),
             (p, ctx(3)), (p, ctx(0, mark=7))]
    compare(objs["socket_ld_abs"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_cgroup_skb_fields_and_packet(objs, tmp_path, engine):
    cases = [(udp4(), None), (tcp6(), None), (vlan4(), None), (bytes(14), None), (udp4(), ctx(0, mark=3))]
    compare(objs["cgroup_skb_fields"], tmp_path, cases, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_tunnel_key_and_options(objs, tmp_path, engine):
    p = udp4()
    cases = [(p, ctx(0)), (p, ctx(1)), (p, ctx(2)), (p, ctx(3)), (p, ctx(4)), (p, ctx(5)), (p, ctx(6)),
             (p, ctx(7)), (p, ctx(8))]
    compare(objs["tc_tunnel"], tmp_path, cases, engine)


# --- routing: the same network in a fresh namespace and in ebpflite's Net -------------------------------

NET_SETUP = [
    "ip link add eth0 index 2 address 02:00:00:00:00:01 mtu 1500 type veth peer name peer0 index 4",
    "ip link add eth1 index 3 address 02:00:00:00:00:02 mtu 9000 type veth peer name peer1 index 5",
    "ip link set peer0 up", "ip link set peer1 up", "ip link set eth0 up", "ip link set eth1 up",
    "sysctl -qw net.ipv4.conf.eth0.forwarding=1 net.ipv4.conf.eth1.forwarding=1",
    "sysctl -qw net.ipv6.conf.eth0.forwarding=1 net.ipv6.conf.eth1.forwarding=1",
    "ip addr add 10.0.0.1/24 dev eth0", "ip addr add 192.168.1.1/24 dev eth1",
    "ip -6 addr add 2001:db8::1/64 dev eth0 nodad",
    "ip route add 198.51.100.0/24 via 10.0.0.254", "ip route add 203.0.113.0/24 dev eth1 mtu 1400",
    "ip route add 203.0.113.128/25 dev eth1 mtu lock 1400",
    "ip neigh add 203.0.113.130 lladdr 02:bb:00:00:00:82 dev eth1 nud permanent",
    "ip route add blackhole 192.0.2.0/24", "ip route add unreachable 192.0.2.128/25",
    "ip route add prohibit 100.64.0.0/10", "ip route add default via 192.168.1.254 table 100",
    "ip neigh add 10.0.0.254 lladdr 02:aa:00:00:00:01 dev eth0 nud permanent",
    "ip neigh add 203.0.113.5 lladdr 02:bb:00:00:00:05 dev eth1 nud permanent",
    "ip neigh add 192.168.1.254 lladdr 02:cc:00:00:00:fe dev eth1 nud permanent",
    "ip -6 neigh add 2001:db8::99 lladdr 02:dd:00:00:00:99 dev eth0 nud permanent",
]


def same_net(net) -> None:
    """NET_SETUP, in ebpflite's simulated network."""
    net.add_device("eth0", ifindex=2, mac="02:00:00:00:00:01", mtu=1500)
    net.add_device("eth1", ifindex=3, mac="02:00:00:00:00:02", mtu=9000)
    net.add_device("peer0", ifindex=4, mac="02:00:00:00:00:04")
    net.add_device("peer1", ifindex=5, mac="02:00:00:00:00:05")
    net.forwarding.update({4: False, 5: False})
    net.add_address("10.0.0.1/24", dev="eth0")
    net.add_address("192.168.1.1/24", dev="eth1")
    net.add_address("2001:db8::1/64", dev="eth0")
    net.add_route("198.51.100.0/24", via="10.0.0.254")
    net.add_route("203.0.113.0/24", dev="eth1", mtu=1400)
    net.add_route("203.0.113.128/25", dev="eth1", mtu=1400, mtu_lock=True)
    net.add_neighbour("203.0.113.130", "02:bb:00:00:00:82", dev="eth1")
    net.add_route("192.0.2.0/24", type="blackhole")
    net.add_route("192.0.2.128/25", type="unreachable")
    net.add_route("100.64.0.0/10", type="prohibit")
    net.add_route("0.0.0.0/0", via="192.168.1.254", table=100)
    net.add_neighbour("10.0.0.254", "02:aa:00:00:00:01", dev="eth0")
    net.add_neighbour("203.0.113.5", "02:bb:00:00:00:05", dev="eth1")
    net.add_neighbour("192.168.1.254", "02:cc:00:00:00:fe", dev="eth1")
    net.add_neighbour("2001:db8::99", "02:dd:00:00:00:99", dev="eth0")


def ip4(text: str) -> int:
    return int.from_bytes(bytes(int(x) for x in text.split(".")), "little")


@pytest.mark.parametrize("engine", ENGINES)
def test_fib_lookup_in_a_namespace_configured_the_same_way(objs, tmp_path, engine):
    direct, skip_neigh, tbid, src = 1, 4, 8, 16
    p = udp4(bytes(64))
    v4 = [("198.51.100.7", 0, 2, 0), ("203.0.113.5", 0, 2, 0), ("203.0.113.5", 0, 2, 1500),
          ("203.0.113.5", 0, 2, 1300), ("203.0.113.130", 0, 2, 1500), ("203.0.113.130", 0, 2, 1400), ("203.0.113.6", 0, 2, 0), ("192.0.2.5", 0, 2, 0),
          ("192.0.2.200", 0, 2, 0), ("100.64.1.1", 0, 2, 0), ("8.8.8.8", 0, 2, 0), ("8.8.8.8", 0, 1, 0),
          ("8.8.8.8", 0, 99, 0), ("10.0.0.1", 0, 2, 0), ("10.0.0.255", 0, 2, 0),
          ("8.8.8.8", direct | tbid, 2, 100 << 16), ("8.8.8.8", direct | tbid, 2, 200 << 16),
          ("203.0.113.6", skip_neigh, 2, 0), ("198.51.100.7", src, 2, 0), ("198.51.100.7", 1 << 5, 2, 0), ("198.51.100.7", 1 << 6, 2, 0),
          ("198.51.100.7", direct, 2, 0)]
    cases = [(p, ctx(2 | flags << 8, ip4(dst), ifindex, extra)) for dst, flags, ifindex, extra in v4]
    cases += [(p, ctx(10, 0x99000000, 2, 0)), (p, ctx(10, 0x98000000, 2, 0)), (p, ctx(10, 0x99000000, 1, 0)),
              (p, ctx(7, 0, 2, 0))]
    kernel = run_in_kernel(objs["tc_fib"], tmp_path, [c for c, _ in cases], ctx_in=[x for _, x in cases],
                           net_setup=NET_SETUP)
    obj = load(objs["tc_fib"], engine=engine, cpus=1)
    same_net(obj.net)
    prog = obj.programs["tc_fib"]
    results = []
    for i, (packet, c) in enumerate(cases):
        k, res = kernel.runs[i], prog.run(packet=packet, ctx=c)
        assert (res.return_value, res.packet, res.ctx) == (k.retval, k.data_out, k.ctx_out), \
            f"case {i}: kernel {k.ctx_out[64:68].hex()} {k.data_out[14:78].hex()}\n ours {res.ctx[64:68].hex()} " \
            f"{res.packet[14:78].hex()}"
        results.append(struct.unpack_from("<i", res.ctx, 64)[0])
    assert set(results) >= {0, 1, 2, 3, 4, 5, 7, 8, -19, -22, -97}  # every outcome was exercised


SOCKETS = [  # listeners and one connection, held open by a background process for the runs
    "ip link set lo up",
    "python3 -c 'import socket, time\n"
    "s = socket.socket(); s.bind((\"10.0.0.1\", 8080)); s.listen()\n"
    "w = socket.socket(); w.bind((\"0.0.0.0\", 9090)); w.listen()\n"
    "c = socket.socket(); c.bind((\"10.0.0.1\", 40000)); c.connect((\"10.0.0.1\", 8080)); a, _ = s.accept()\n"
    "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((\"10.0.0.1\", 53))\n"
    "open(\"/tmp/.ebpflite-sockets-ready\", \"w\").close(); time.sleep(20)' >/dev/null 2>&1 &",
    "for i in $(seq 100); do [ -e /tmp/.ebpflite-sockets-ready ] && break; sleep 0.1; done",
    "rm -f /tmp/.ebpflite-sockets-ready",
]


def same_sockets(net) -> None:
    """SOCKETS, in ebpflite's simulated socket table."""
    net.add_socket("tcp", "10.0.0.1:8080")
    net.add_socket("tcp", "0.0.0.0:9090")
    net.add_socket("tcp", "10.0.0.1:40000", remote="10.0.0.1:8080")
    net.add_socket("tcp", "10.0.0.1:8080", remote="10.0.0.1:40000")
    net.add_socket("udp", "10.0.0.1:53")


def ports(sport: int, dport: int) -> int:
    return int.from_bytes(sport.to_bytes(2, "big"), "little") | int.from_bytes(dport.to_bytes(2, "big"), "little") << 16


@pytest.mark.parametrize("engine", ENGINES)
def test_socket_lookup_in_a_namespace_with_the_same_sockets(objs, tmp_path, engine):
    a, b = ip4("10.0.0.1"), ip4("10.0.0.9")
    tuples = [(6, b, a, 5555, 8080), (6, a, a, 40000, 8080), (6, a, a, 8080, 40000), (6, b, a, 1, 9090),
              (6, b, ip4("10.0.0.77"), 1, 9090), (6, b, a, 1, 8081), (17, b, a, 7, 53), (17, b, a, 7, 54),
              (6 | 13 << 8, b, a, 5555, 8080), (6 | 1 << 16, b, a, 5555, 8080), (6 | 2 << 16, b, a, 5555, 8080)]
    cases = [(udp4(), ctx(c0, s, d, ports(sp, dp))) for c0, s, d, sp, dp in tuples]
    kernel = run_in_kernel(objs["tc_sklookup"], tmp_path, [c for c, _ in cases], ctx_in=[x for _, x in cases],
                           net_setup=NET_SETUP + SOCKETS)
    # ebpflite's verifier does not type socket pointers yet: the program runs checked
    obj = load(objs["tc_sklookup"], engine=engine, cpus=1, verify=False)
    same_net(obj.net)
    same_sockets(obj.net)
    prog = obj.programs["tc_sklookup"]
    for i, (packet, c) in enumerate(cases):
        k, res = kernel.runs[i], prog.run(packet=packet, ctx=c)
        assert (res.return_value, res.ctx) == (k.retval, k.ctx_out), \
            f"case {i}: kernel {k.retval} {k.ctx_out[48:68].hex()}, ours {res.return_value} {res.ctx[48:68].hex()}"
    assert [r.retval for r in kernel.runs] == [1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1]
