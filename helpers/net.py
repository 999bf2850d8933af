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

from ebpflite.errors import ContextError

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


class Net:
    """Devices, routes, neighbours and sockets of one simulated network namespace."""

    def __init__(self) -> None:
        self.devices: dict[int, Device] = {}
        self.add_device("lo", ifindex=1, mac=bytes(6), mtu=LOOPBACK_MTU, broadcast=bytes(6))
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
