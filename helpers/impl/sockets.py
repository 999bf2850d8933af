"""Socket lookup helpers over the simulated socket table: sk_lookup_tcp/udp, skc_lookup_tcp, sk_release.

``__bpf_skc_lookup`` (net/core/filter.c): the tuple's size picks the family
(12 bytes: IPv4, 36: IPv6, anything else finds nothing), ``flags`` must be 0
and ``netns`` the current namespace (a negative s32, BPF_F_CURRENT_NETNS) or
a namespace id (ebpflite simulates one namespace, so other ids find
nothing). TCP looks for a connection first (its local end is the tuple's
destination, its remote end the source), then a listener on the destination
address or the wildcard; UDP for a connected socket, then a bound one. The
returned pointer is the socket's ``struct bpf_sock`` (laid out by the
``bpf_sock`` context descriptor, the one cgroup_sock programs see); each
lookup takes a reference the program must give back with bpf_sk_release,
and the runtime checks at exit that it did (the kernel's verifier proves it).
Tests fill the table with ``obj.net.add_socket("tcp", "10.0.0.1:80", remote=...)``.
"""

from __future__ import annotations

import ipaddress
import struct

import numpy as np

from ebpflite.helpers.impl._common import M32, M64, read
from ebpflite.helpers.net import Net, Socket
from ebpflite.vm.env import Environment
from ebpflite.vm.errors import HelperError
from ebpflite.vm.memory import Region, low_alloc

BPF_TCP_ESTABLISHED, BPF_TCP_LISTEN, BPF_TCP_CLOSE = 1, 10, 7
TUPLE_V4, TUPLE_V6 = 12, 36
SOCK_STREAM, SOCK_DGRAM = 1, 2
IPPROTO = {"tcp": 6, "udp": 17}


def _view(sock: Socket) -> np.ndarray:
    """``struct bpf_sock`` of ``sock``, member by member from the one layout (``SOCK_MEMBERS``)."""
    from ebpflite.vm.contexts import SOCK_MEMBERS

    size = max(f.end for f in SOCK_MEMBERS)
    buf = low_alloc(size)
    state = sock.state or (BPF_TCP_ESTABLISHED if sock.remote is not None
                           else BPF_TCP_LISTEN if sock.protocol == "tcp" else BPF_TCP_CLOSE)
    ip4 = sock.family == 2
    remote = sock.remote.packed if sock.remote is not None else bytes(4 if ip4 else 16)
    u32 = {"bound_dev_if": sock.bound_dev_if, "family": sock.family,
           "type": SOCK_STREAM if sock.protocol == "tcp" else SOCK_DGRAM, "protocol": IPPROTO[sock.protocol],
           "mark": sock.mark, "priority": sock.priority, "src_port": sock.local_port, "state": state,
           "rx_queue_mapping": M32}  # -1: no receive queue recorded
    raw = {name: (value & M32).to_bytes(4, "little") for name, value in u32.items()}
    raw["dst_port"] = sock.remote_port.to_bytes(2, "big")  # a __be16, as the kernel's skc_dport
    if ip4:
        raw["src_ip4"], raw["dst_ip4"] = sock.local.packed, remote
    else:
        raw["src_ip6"], raw["dst_ip6"] = sock.local.packed, remote
    for f in SOCK_MEMBERS:
        if f.name in raw:
            buf[f.offset:f.offset + len(raw[f.name])] = np.frombuffer(raw[f.name], dtype=np.uint8)
    return buf


def _match(net: Net, protocol: str, family: int, saddr, sport: int, daddr, dport: int) -> Socket | None:
    candidates = [s for s in net.sockets if s.protocol == protocol and s.family == family]
    for s in candidates:  # a connection: local = the tuple's destination, remote = its source
        if s.remote is not None and s.local == daddr and s.local_port == dport and s.remote == saddr \
                and s.remote_port == sport:
            return s
    for s in candidates:  # a listener (TCP) or a bound socket (UDP): exact address first, then the wildcard
        if s.remote is None and s.local_port == dport and s.local == daddr:
            return s
    for s in candidates:
        if s.remote is None and s.local_port == dport and s.local.is_unspecified:
            return s
    return None


def _lookup(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int, protocol: str, helper: str) -> int:
    ctx = env.world.ctx
    if ctx is None or not hasattr(ctx, "md_region") or r1 & M64 != ctx.md_region.start:
        raise HelperError(f"{helper}: r1 (0x{r1 & M64:x}) must be the program's context pointer")
    net: Net = getattr(ctx, "net", None) or env.world.net or Net()
    size, netns, flags = r3 & M32, r4 & M64, r5
    if size not in (TUPLE_V4, TUPLE_V6):
        return 0
    if flags or not (netns & M32) >> 31:  # not (s32)netns < 0: a namespace id; only the current one
        return 0                           # namespace is simulated, so an id finds nothing
    raw = read(env, r2, size)
    n = 4 if size == TUPLE_V4 else 16
    saddr, daddr = ipaddress.ip_address(raw[:n]), ipaddress.ip_address(raw[n:2 * n])
    sport, dport = struct.unpack(">HH", raw[2 * n:2 * n + 4])
    sock = _match(net, protocol, 2 if n == 4 else 10, saddr, sport, daddr, dport)
    if sock is None:
        return 0
    views = env.world.sockets
    address = next((at for at, (held, _, _) in views.items() if held is sock), None)
    if address is None:  # its bpf_sock, mapped read-only for the rest of the run
        region = Region(f"bpf_sock {protocol} {sock.local}:{sock.local_port}", _view(sock), "ctx",
                        writable=False)
        env.memory.add(region)
        address = region.start
        views[address] = (sock, region, 0)
    held, region, refs = views[address]
    views[address] = (held, region, refs + 1)
    return address


def sk_lookup_tcp(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_sk_lookup_tcp(ctx, tuple, tuple_size, netns, flags): a TCP socket (a reference) or NULL."""
    return _lookup(env, r1, r2, r3, r4, r5, "tcp", "bpf_sk_lookup_tcp")


def skc_lookup_tcp(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skc_lookup_tcp: as sk_lookup_tcp (ebpflite's sockets are all full sockets)."""
    return _lookup(env, r1, r2, r3, r4, r5, "tcp", "bpf_skc_lookup_tcp")


def sk_lookup_udp(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_sk_lookup_udp(ctx, tuple, tuple_size, netns, flags): a UDP socket (a reference) or NULL."""
    return _lookup(env, r1, r2, r3, r4, r5, "udp", "bpf_sk_lookup_udp")


def sk_release(env: Environment, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_sk_release(sk): give back a reference from a lookup."""
    views = env.world.sockets
    entry = views.get(r1 & M64)
    if entry is None or entry[2] == 0:
        raise HelperError(f"bpf_sk_release: 0x{r1 & M64:x} is not a socket this program holds")
    views[r1 & M64] = (entry[0], entry[1], entry[2] - 1)
    return 0


def held_references(env: Environment) -> int:
    """Socket references taken and not released in this run (the runtime checks this at exit)."""
    return sum(refs for _, _, refs in env.world.sockets.values())


def forget(env: Environment) -> None:
    """Drop the run's socket views from the address space (after a run)."""
    views, env.world.sockets = env.world.sockets, {}
    for _, region, _ in views.values():
        if region in env.memory.regions:
            env.memory.remove(region)


IMPLS = {"sk_lookup_tcp": sk_lookup_tcp, "skc_lookup_tcp": skc_lookup_tcp, "sk_lookup_udp": sk_lookup_udp,
         "sk_release": sk_release}
