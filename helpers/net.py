"""The simulated network namespace tc and socket programs run in: devices, routes, neighbours, sockets.

A kernel program sees more of the host than its packet: ``skb->ifindex``
names a device, ``bpf_redirect`` needs a target device, ``bpf_fib_lookup``
consults the routing table and the neighbour cache, ``bpf_sk_lookup_tcp``
the socket table. :class:`Net` holds those tables for one loaded object
(``obj.net``); tests fill them in, and the helpers read them. It starts the
way ``BPF_PROG_TEST_RUN`` sees a fresh namespace: the loopback device
(ifindex 1, all-zero addresses, MTU 65536) and nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ebpflite.vm.errors import ContextError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AF_INET, AF_INET6 = 2, 10


def parse_mac(text: str | bytes) -> bytes:
    """``"02:00:00:00:00:01"`` (or 6 raw bytes) -> 6 bytes; ContextError otherwise."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) != 6:
            raise ContextError(f"a MAC address has 6 bytes, not {len(text)}")
        return bytes(text)
    parts = text.replace("-", ":").split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raw = b""
    if len(parts) != 6 or len(raw) != 6 or any(len(p) > 2 for p in parts):
        raise ContextError(f"{text!r} is not a MAC address (six hex bytes: 02:00:00:00:00:01)")
    return raw


def parse_ip(text: str | IPAddress) -> IPAddress:
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return text
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ContextError(f"{text!r} is not an IPv4 or IPv6 address") from None


@dataclass
class Device:
    """A network device: what ``dev_get_by_index`` finds for an ifindex."""

    ifindex: int
    name: str
    mac: bytes = bytes(6)
    mtu: int = 1500
    #: the link-layer broadcast address; the loopback device has none (all zero), so an
    #: ff:ff:ff:ff:ff:ff destination arriving on it is PACKET_MULTICAST, as in the kernel
    broadcast: bytes = b"\xff" * 6
    hard_header_len: int = 14
    up: bool = True


LOOPBACK_MTU = 65536


#: ip_tunnel key flags (TUNNEL_* bits) that bpf_skb_get_tunnel_key reports with BPF_F_TUNINFO_FLAGS
TUNNEL_CSUM, TUNNEL_KEY, TUNNEL_SEQ, TUNNEL_DONT_FRAGMENT, TUNNEL_NOCACHE = 0x01, 0x04, 0x08, 0x0100, 0x2000
TUNNEL_OPTIONS_PRESENT = 0x0800 | 0x1000 | 0x4000 | 0x8000  #: GENEVE, VXLAN, ERSPAN, GTP options


@dataclass
class Tunnel:
    """A packet's tunnel metadata (``ip_tunnel_info`` of its metadata dst), as the kernel keeps it:
    ``src``/``dst`` in network order, 4 bytes (IPv4) or 16 (IPv6). bpf_skb_set_tunnel_key writes
    the key's remote address into ``dst`` and its local one into ``src``; bpf_skb_get_tunnel_key
    reads remote from ``src`` and local from ``dst`` (the receive side's view)."""

    is_ipv6: bool = False
    tun_id: int = 0
    src: bytes = bytes(4)
    dst: bytes = bytes(4)
    tos: int = 0
    ttl: int = 0
    label: int = 0
    flags: int = TUNNEL_KEY | TUNNEL_CSUM | TUNNEL_NOCACHE
    options: bytes = b""


# --- routes and neighbours ------------------------------------------------------------------------

#: route types (the kernel's RTN_*) a route may have
ROUTE_TYPES = ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit")
RT_TABLE_MAIN, RT_TABLE_LOCAL = 254, 255


@dataclass
class Route:
    """One route: ``ip route add PREFIX [via GATEWAY] dev DEV [metric N] [mtu N] [src ADDR] [table N]``."""

    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
    ifindex: int = 0
    gateway: IPAddress | None = None
    type: str = "unicast"
    metric: int = 0
    mtu: int = 0  #: 0: the device's MTU
    src: IPAddress | None = None
    table: int = RT_TABLE_MAIN
    #: ``mtu lock``: an IPv4 route's MTU binds forwarding only when locked (ip_mtu_from_fib_result)
    mtu_lock: bool = False


@dataclass
class Socket:
    """A socket bpf_sk_lookup_tcp/udp can find: a listener (``remote`` unset) or a connection.

    ``view`` is its ``struct bpf_sock`` as programs read it (filled in by
    helpers/impl/sockets.py); ``refs`` counts the references programs hold."""

    protocol: str  #: "tcp" or "udp"
    local: IPAddress
    local_port: int
    remote: IPAddress | None = None
    remote_port: int = 0
    state: int = 0  #: BPF_TCP_* (1 established, 10 listen, ...); 0: derived from remote
    bound_dev_if: int = 0
    mark: int = 0
    priority: int = 0
    cookie: int = 0

    @property
    def family(self) -> int:
        return AF_INET6 if self.local.version == 6 else AF_INET


def _net_of(text: str | ipaddress.IPv4Network | ipaddress.IPv6Network):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ContextError(f"{text!r} is not a route prefix (like 10.0.0.0/8 or 2001:db8::/32)") from None


class RoutingMixin:
    """Routes, neighbours, addresses and sockets of :class:`Net` (kept apart for readability)."""

    devices: dict[int, Device]

    def _init_tables(self) -> None:
        self.routes: list[Route] = []
        self.neighbours: dict[tuple[int, IPAddress], bytes] = {}
        self.addresses: dict[int, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
        self.sockets: list[Socket] = []
        #: per-device IPv4/IPv6 forwarding (net.ipv4.conf.DEV.forwarding); devices added later default on
        self.forwarding: dict[int, bool] = {}

    def add_route(self, prefix: str, *, dev: str | int | None = None, via: str | None = None,
                  type: str = "unicast", metric: int | None = None, mtu: int = 0, src: str | None = None,
                  table: int = RT_TABLE_MAIN, mtu_lock: bool = False) -> Route:
        """Add a route; ``dev`` by name or ifindex (a gateway's device when omitted: the route to it).
        ``metric`` defaults as ``ip route`` does: 0 for IPv4, 1024 for IPv6."""
        network = _net_of(prefix)
        if metric is None:
            metric = 1024 if network.version == 6 else 0
        if type not in ROUTE_TYPES:
            raise ContextError(f"route type {type!r} must be one of {', '.join(ROUTE_TYPES)}")
        gateway = parse_ip(via) if via is not None else None
        if gateway is not None and gateway.version != network.version:
            raise ContextError(f"gateway {gateway} is not an IPv{network.version} address like {prefix}")
        if dev is None and type == "unicast":
            found = self.route_for(gateway) if gateway is not None else None
            if found is None:
                raise ContextError(f"route {prefix}: give dev= (no route reaches gateway {gateway})")
            ifindex = found.ifindex
        else:
            ifindex = self._ifindex(dev) if dev is not None else 0
        route = Route(network, ifindex, gateway, type, metric, mtu, parse_ip(src) if src else None, table,
                      mtu_lock)
        self.routes.append(route)
        return route

    def add_neighbour(self, address: str, mac: str | bytes, *, dev: str | int) -> None:
        """``ip neigh add ADDRESS lladdr MAC dev DEV`` (a reachable entry)."""
        self.neighbours[(self._ifindex(dev), parse_ip(address))] = parse_mac(mac)

    def add_address(self, interface: str, *, dev: str | int) -> None:
        """``ip addr add 10.0.0.1/24 dev DEV``: also the connected route, as the kernel adds it."""
        try:
            iface = ipaddress.ip_interface(interface)
        except ValueError:
            raise ContextError(f"{interface!r} is not an address with a prefix (like 10.0.0.1/24)") from None
        ifindex = self._ifindex(dev)
        self.addresses.setdefault(ifindex, []).append(iface)
        # the kernel's routes for a new address: the connected prefix (IPv6: metric 256), the
        # address itself in the local table and, for IPv4, the prefix's broadcast address
        self.add_route(str(iface.network), dev=ifindex, src=str(iface.ip), metric=256 if iface.version == 6 else 0)
        self.routes.append(Route(ipaddress.ip_network(iface.ip), ifindex, None, "local", 0, 0, iface.ip,
                                 RT_TABLE_LOCAL))
        if iface.version == 4 and iface.network.prefixlen < 31:
            self.routes.append(Route(ipaddress.ip_network(iface.network.broadcast_address), ifindex, None,
                                     "broadcast", 0, 0, iface.ip, RT_TABLE_LOCAL))

    def add_socket(self, protocol: str, local: str, *, remote: str | None = None, state: int = 0,
                   bound_dev_if: int = 0, mark: int = 0, priority: int = 0) -> Socket:
        """A socket the lookup helpers find: ``add_socket("tcp", "10.0.0.1:80")`` listens,
        ``remote="10.0.0.9:5555"`` makes it a connected one."""
        if protocol not in ("tcp", "udp"):
            raise ContextError(f"socket protocol {protocol!r} must be tcp or udp")
        addr, port = parse_endpoint(local)
        peer, peer_port = parse_endpoint(remote) if remote is not None else (None, 0)
        if peer is not None and peer.version != addr.version:
            raise ContextError(f"socket {local} -> {remote}: the addresses are of different families")
        sock = Socket(protocol, addr, port, peer, peer_port, state, bound_dev_if, mark, priority,
                      cookie=len(self.sockets) + 1)
        self.sockets.append(sock)
        return sock

    def _ifindex(self, dev: str | int) -> int:
        if isinstance(dev, int):
            if dev not in self.devices:
                raise ContextError(f"no device with ifindex {dev}")
            return dev
        return self.device_named(dev).ifindex  # type: ignore[attr-defined]

    def route_for(self, address: IPAddress, table: int | None = None) -> Route | None:
        """The longest-prefix match (lowest metric among equals) in ``table`` (both the local and
        the main table when None: local routes first, as the kernel's default rules look)."""
        tables = (RT_TABLE_LOCAL, RT_TABLE_MAIN) if table is None else (table,)
        for tb in tables:
            best = None
            for route in self.routes:
                if route.table != tb or route.prefix.version != address.version or address not in route.prefix:
                    continue
                if best is None or (route.prefix.prefixlen, -route.metric) > (best.prefix.prefixlen, -best.metric):
                    best = route
            if best is not None:
                return best
        return None


def parse_endpoint(text: str) -> tuple[IPAddress, int]:
    """``"10.0.0.1:80"`` or ``"[2001:db8::1]:80"`` -> (address, port); ContextError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ContextError(f"{text!r} is not ADDRESS:PORT (like 10.0.0.1:80 or [2001:db8::1]:80)")
    return parse_ip(host.strip("[]")), int(port)


class Net(RoutingMixin):
    """Devices, routes, neighbours and sockets of one simulated network namespace."""

    def __init__(self) -> None:
        self.devices: dict[int, Device] = {}
        self._init_tables()
        self.add_device("lo", ifindex=1, mac=bytes(6), mtu=LOOPBACK_MTU, broadcast=bytes(6))
        self.forwarding[1] = False  # a fresh namespace forwards nothing; devices added later do
        #: the key of the flow hash (skb_get_hash); the kernel draws its own at boot
        self.hash_seed = 0
        #: what bpf_get_cgroup_classid / bpf_skb_cgroup_id report for the packet's socket
        self.cgroup_classid = 0
        self.cgroup_id = 0

    # -- devices -----------------------------------------------------------------------
    def add_device(self, name: str, *, ifindex: int | None = None, mac: str | bytes = bytes(6),
                   mtu: int = 1500, broadcast: str | bytes = b"\xff" * 6) -> Device:
        """Add a device (the next free ifindex unless given); returns it."""
        if ifindex is None:
            ifindex = max(self.devices, default=0) + 1
        if not 0 < ifindex < 1 << 31:
            raise ContextError(f"ifindex {ifindex} must be a positive 31-bit number")
        if ifindex in self.devices:
            raise ContextError(f"ifindex {ifindex} is already device {self.devices[ifindex].name!r}")
        if any(d.name == name for d in self.devices.values()):
            raise ContextError(f"there is already a device named {name!r}")
        if not 68 <= mtu <= LOOPBACK_MTU:
            raise ContextError(f"MTU {mtu} of {name!r} must be between 68 and {LOOPBACK_MTU}")
        dev = Device(ifindex, name, parse_mac(mac), mtu, parse_mac(broadcast))
        self.devices[ifindex] = dev
        self.forwarding[ifindex] = True
        return dev

    def device(self, ifindex: int) -> Device | None:
        return self.devices.get(ifindex)

    def device_named(self, name: str) -> Device:
        for dev in self.devices.values():
            if dev.name == name:
                return dev
        raise ContextError(f"no device named {name!r} (devices: {', '.join(d.name for d in self.devices.values())})")

    @property
    def loopback(self) -> Device:
        return self.devices[1]
