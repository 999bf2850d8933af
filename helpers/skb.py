"""The ``__sk_buff`` runtime: tc, socket filter, cgroup skb and lwt programs, as BPF_PROG_TEST_RUN runs them.

:class:`SkbContext` builds a packet and its ``__sk_buff`` the way the
kernel's ``bpf_prog_test_run_skb`` (net/bpf/test_run.c) does, so that a
program gives the kernel's results:

- ``data_in`` must hold 14 to 3712 bytes (a page minus NET_SKB_PAD and the
  aligned ``skb_shared_info``); IPv4 frames need 34 bytes and IPv6 frames 54
  (a whole network header), else ``EINVAL``;
- ``eth_type_trans`` on the device (the loopback device unless ``ctx_in``
  names another by ``ifindex``): ``protocol`` from the EtherType (802.3/802.2
  rules for lengths), ``pkt_type`` from the destination MAC against the
  device's own and broadcast addresses; the Ethernet header is pulled;
- tc programs (sched_cls, sched_act) see the frame from the Ethernet header
  (``len`` counts it); socket filters, cgroup skb and lwt programs see it from
  the network header, and on the way out the kernel pushes 14 zero bytes in
  front, so their ``data_out`` starts with a zeroed Ethernet header;
- ``ctx_in`` may set only mark, priority, ingress_ifindex, ifindex, cb[],
  tstamp, wire_len, gso_segs, gso_size and hwtstamp (any other non-zero byte:
  ``EINVAL``); it may be larger than ``__sk_buff`` if the rest is zero
  (``E2BIG`` otherwise, and above a page), not empty (``EINVAL``); ``wire_len``
  must lie between ``len`` and 65536, ``gso_segs`` be at most 65535, and an
  ``ifindex`` above 1 name a device (``ENODEV``). Without ``ctx_in``
  ``wire_len`` reads 0, with it ``len`` unless set;
- ``ctx_out`` is ``ctx_in`` with mark, priority, ingress_ifindex, ifindex,
  tstamp, cb[], wire_len, gso_segs and hwtstamp written back.

The context a program gets is the uapi ``struct __sk_buff`` itself, laid out
by the one descriptor (``SK_BUFF`` in vm/contexts.py), with every
field holding what the kernel's ``convert_ctx_access`` would load: packet
pointers are real addresses that fit the u32 fields (:func:`low_alloc`, as
for XDP), ``protocol`` and ``vlan_proto`` hold the big-endian value. The
fields a program may write (mark, priority, cb[], tc_index, tc_classid,
queue_mapping, tstamp) live in that structure; everything else is this
object's state, written back into the structure whenever a helper changes
it (:meth:`SkbContext.sync`). The kernel backs tc_index, tc_classid and
queue_mapping with 16-bit fields: the verifier's xlated program narrows the
stores to them the way ``convert_ctx_access`` does (verifier/xlate.py).
"""

from __future__ import annotations

import errno as _errno
import struct
from dataclasses import dataclass

import numpy as np

from ebpflite.helpers.contexts import Context
from ebpflite.helpers.net import AF_INET, AF_INET6, Device, Net, Tunnel
from ebpflite.vm.contexts import SK_BUFF, SK_BUFF_SIZE, TC_ACTIONS
from ebpflite.vm.errors import ContextError, TestRunRefused
from ebpflite.vm.memory import Region, low_alloc

ETH_HLEN = 14
#: NET_SKB_PAD on x86-64 (one cache line); NET_IP_ALIGN is 0 there
NET_SKB_PAD = 64
#: SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64
SKB_SHINFO = 320
PAGE_SIZE = 4096
#: the largest data_in BPF_PROG_TEST_RUN takes for an skb
MAX_DATA_IN = PAGE_SIZE - NET_SKB_PAD - SKB_SHINFO
#: BPF_SKB_MAX_LEN (SKB_MAX_ALLOC): the most bpf_skb_change_tail/head/adjust_room may grow to
SKB_MAX_ALLOC = 4 * PAGE_SIZE - SKB_SHINFO
GSO_MAX_SEGS = 65535
GSO_LEGACY_MAX_SIZE = 65536
IPV4_MIN_FRAME = ETH_HLEN + 20
IPV6_MIN_FRAME = ETH_HLEN + 40

ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
ETH_P_802_3, ETH_P_802_2, ETH_P_802_3_MIN = 0x0001, 0x0004, 0x0600
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE, CHECKSUM_PARTIAL = 0, 1, 2, 3

#: program types whose test run keeps the Ethernet header in the packet (is_l2)
L2_TYPES = frozenset({"sched_cls", "sched_act"})
#: program types that get data/data_end (bpf_compute_data_pointers)
DIRECT_ACCESS_TYPES = L2_TYPES | {"lwt_in", "lwt_out", "lwt_xmit", "cgroup_skb"}
#: every program type whose context this module builds
SKB_TYPES = DIRECT_ACCESS_TYPES | {"socket_filter"}

CGROUP_SKB_ACTIONS = {0: "SK_DROP", 1: "SK_PASS"}

def _slots() -> dict[str, tuple[int, int]]:
    """(offset, size) of each uapi member, from the one descriptor, with arrays of u32 (``cb``, the
    IPv6 addresses) also by element: ``cb[2]``, ``remote_ip6[0]``."""
    out: dict[str, tuple[int, int]] = {}
    for f in SK_BUFF:
        out[f.name] = (f.offset, f.size)
        if f.size > 8:
            out.update({f"{f.name}[{i}]": (f.offset + 4 * i, 4) for i in range(f.size // 4)})
    return out


#: where each member (and array element) of ``struct __sk_buff`` lies: name -> (offset, size)
SKB_SLOTS = _slots()
_FIELD = SKB_SLOTS
#: fields BPF_PROG_TEST_RUN reads from ctx_in (convert___skb_to_skb); every other byte must be 0
CTX_IN_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", *(f"cb[{i}]" for i in range(5)), "tstamp",
                 "wire_len", "gso_segs", "gso_size", "hwtstamp")
#: fields it writes back into ctx_out (convert_skb_to___skb)
CTX_OUT_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", *(f"cb[{i}]" for i in range(5)), "tstamp",
                  "wire_len", "gso_segs", "hwtstamp")
_SETTABLE = np.zeros(SK_BUFF_SIZE, dtype=bool)
for _name in CTX_IN_FIELDS:
    _SETTABLE[_FIELD[_name][0]:_FIELD[_name][0] + _FIELD[_name][1]] = True
_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


def _field(name: str) -> tuple[int, int]:
    return _FIELD[name]


def _packers(names: tuple[str, ...]) -> tuple[tuple[object, int, int], ...]:
    """(pack_into, offset, mask) per field, in order: what sync() and ctx_out() write per run
    without looking a name up (they run for every packet)."""
    out = []
    for name in names:
        off, size = _FIELD[name]
        out.append((struct.Struct(_FMT[size]).pack_into, off, (1 << 8 * size) - 1))
    return tuple(out)


#: the fields sync() writes from the SkbContext's state, in the order of its values
SYNC_FIELDS = ("len", "pkt_type", "protocol", "vlan_present", "vlan_tci", "vlan_proto", "ingress_ifindex",
               "ifindex", "hash", "data", "data_end", "data_meta", "napi_id", "family", "remote_ip4",
               "local_ip4", "remote_port", "local_port", "wire_len", "gso_segs", "gso_size", "hwtstamp",
               *(f"remote_ip6[{i}]" for i in range(4)), *(f"local_ip6[{i}]" for i in range(4)))
_SYNC_PACK = _packers(SYNC_FIELDS)
_OUT_PACK = _packers(CTX_OUT_FIELDS)
#: ctx_out fields that are SkbContext state, not __sk_buff bytes the program may have written
_OUT_STATE = {"ingress_ifindex": "skb_iif", "ifindex": None, "wire_len": "wire_len", "gso_segs": "gso_segs",
              "hwtstamp": "hwtstamp"}


@dataclass
class Socket:
    """``skb->sk``: the socket BPF_PROG_TEST_RUN attaches (AF_INET/AF_INET6 from the packet)."""

    family: int = 0
    local_ip4: int = 0  #: network-order u32 as loaded (sk_rcv_saddr)
    remote_ip4: int = 0  #: sk_daddr
    local_ip6: bytes = bytes(16)
    remote_ip6: bytes = bytes(16)


class SkbContext(Context):
    """One ``__sk_buff`` over one packet buffer, for ``prog_type`` in :data:`SKB_TYPES`."""

    exact = True

    def __init__(self, prog_type: str, packet: bytes, ctx_in: bytes | None = None, *, net: Net | None = None):
        super().__init__()
        if prog_type not in SKB_TYPES:
            raise ContextError(f"{prog_type} programs do not run on an __sk_buff built by ebpflite "
                               f"(types: {', '.join(sorted(SKB_TYPES))})")
        self.prog_type = prog_type
        self.net = net or Net()
        self.l2 = prog_type in L2_TYPES
        self.direct = prog_type in DIRECT_ACCESS_TYPES
        if prog_type in L2_TYPES:
            self.actions = TC_ACTIONS
        elif prog_type == "cgroup_skb":
            self.actions = CGROUP_SKB_ACTIONS
        self.md = low_alloc(SK_BUFF_SIZE)
        self.md_region = Region("ctx __sk_buff", self.md, "ctx", writable=True)
        #: what the JIT's native skb helpers read (jit/native_skb.py), kept current by sync():
        #: the __sk_buff's address, skb->data's and skb->len
        self.record = np.zeros(3, dtype=np.uint64)
        self.native_record = int(self.record.ctypes.data)
        self.buf = np.zeros(0, dtype=np.uint8)
        self.packet_region: Region | None = None
        self.load(packet, ctx_in)

    # -- building it as BPF_PROG_TEST_RUN does ----------------------------------------------
    def load(self, packet: bytes, ctx_in: bytes | None = None) -> None:
        """Put a fresh packet (and optional ``ctx_in``) in; refuses what the kernel refuses."""
        packet = bytes(packet)
        size = len(packet)
        if size < ETH_HLEN or size > MAX_DATA_IN:
            raise TestRunRefused(_errno.EINVAL, f"data_in of {size} bytes: an skb test run takes {ETH_HLEN} "
                                 f"to {MAX_DATA_IN} bytes")
        ctx = self._check_ctx_size(ctx_in)
        ifindex = _get(ctx, "ifindex") if ctx is not None else 0
        dev = self.net.loopback
        if ifindex > 1:
            found = self.net.device(ifindex)
            if found is None:
                raise TestRunRefused(_errno.ENODEV, f"ctx_in.ifindex {ifindex} names no device (devices: "
                                     + ", ".join(f"{d.ifindex} {d.name}" for d in self.net.devices.values()) + ")")
            dev = found
        # the buffer: NET_SKB_PAD of headroom, the data, the shared info's room after it
        cap = NET_SKB_PAD + _align(size) + SKB_SHINFO
        if len(self.buf) < cap:
            self.buf = low_alloc(cap)
        else:
            self.buf[:] = 0
        self.end = len(self.buf) - SKB_SHINFO
        self.buf[NET_SKB_PAD:NET_SKB_PAD + size] = np.frombuffer(packet, dtype=np.uint8)
        self.data = NET_SKB_PAD
        self.tail = NET_SKB_PAD + size
        self.dev = dev
        self.ctx_in = ctx
        # eth_type_trans: mac header here, pull it, protocol and pkt_type from it
        self.mac_header = self.data
        self.data += ETH_HLEN
        self.protocol = self._eth_protocol(packet)
        self.pkt_type = _pkt_type(packet[:6], dev)
        self.network_header = self.data
        self.transport_header: int | None = None
        self.sk = Socket()
        if self.protocol == ETH_P_IP:
            if size < IPV4_MIN_FRAME:
                raise TestRunRefused(_errno.EINVAL, f"an IPv4 frame of {size} bytes: the kernel needs the "
                                     f"Ethernet and IPv4 headers ({IPV4_MIN_FRAME} bytes)")
            self.sk = Socket(AF_INET, local_ip4=int.from_bytes(packet[26:30], "little"),
                             remote_ip4=int.from_bytes(packet[30:34], "little"))
        elif self.protocol == ETH_P_IPV6:
            if size < IPV6_MIN_FRAME:
                raise TestRunRefused(_errno.EINVAL, f"an IPv6 frame of {size} bytes: the kernel needs the "
                                     f"Ethernet and IPv6 headers ({IPV6_MIN_FRAME} bytes)")
            self.sk = Socket(AF_INET6, local_ip6=packet[22:38], remote_ip6=packet[38:54])
        if self.l2:
            self.data -= ETH_HLEN
        # the rest of the sk_buff
        self.meta_len = 0
        self.hash = 0
        self.l4_hash = self.sw_hash = False
        self.vlan_proto = self.vlan_tci = 0
        self.ip_summed = CHECKSUM_NONE
        self.csum = 0
        self.csum_level = 0
        self.encapsulation = False
        self.tunnel: Tunnel | None = None
        self._popped_tci = 0
        self.gso_type = 0
        self.md[:] = 0
        values = {name: _get(ctx, name) for name in CTX_IN_FIELDS} if ctx is not None else {}
        self._check_ctx_fields(ctx, values)
        self.skb_iif = values.get("ingress_ifindex", 0)
        self.wire_len = values.get("wire_len") or (self.length if ctx is not None else 0)
        self.gso_segs = values.get("gso_segs", 0)
        self.gso_size = values.get("gso_size", 0)
        self.hwtstamp = values.get("hwtstamp", 0)
        for name in ("mark", "priority", "tstamp", *(f"cb[{i}]" for i in range(5))):
            if name in values:
                self.set_field(name, values[name])
        self.sync()

    @staticmethod
    def _check_ctx_size(ctx_in: bytes | None) -> bytes | None:
        if ctx_in is None:
            return None
        ctx_in = bytes(ctx_in)
        if not ctx_in:
            raise TestRunRefused(_errno.EINVAL, "ctx_in is empty: give no ctx_in, or a __sk_buff")
        if len(ctx_in) > PAGE_SIZE:
            raise TestRunRefused(_errno.E2BIG, f"ctx_in of {len(ctx_in)} bytes is larger than a page")
        if len(ctx_in) > SK_BUFF_SIZE and any(ctx_in[SK_BUFF_SIZE:]):
            raise TestRunRefused(_errno.E2BIG, f"ctx_in has non-zero bytes after the {SK_BUFF_SIZE}-byte "
                                 "__sk_buff")
        return ctx_in[:SK_BUFF_SIZE].ljust(SK_BUFF_SIZE, b"\0")

    def _check_ctx_fields(self, ctx: bytes | None, values: dict[str, int]) -> None:
        """convert___skb_to_skb: only the settable fields may be non-zero, wire_len and gso_segs in range."""
        if ctx is None:
            return
        raw = np.frombuffer(ctx, dtype=np.uint8)
        bad = np.flatnonzero(raw.astype(bool) & ~_SETTABLE)
        if len(bad):
            where = next((f.name for f in SK_BUFF if f.offset <= bad[0] < f.end), None)
            what = f"field {where}" if where else "padding"
            raise TestRunRefused(_errno.EINVAL, f"ctx_in sets {what} (byte {bad[0]}); a caller may set only "
                                 + ", ".join(_names(CTX_IN_FIELDS)))
        wire = values["wire_len"]
        if wire and not self.length <= wire <= GSO_LEGACY_MAX_SIZE:
            raise TestRunRefused(_errno.EINVAL, f"ctx_in.wire_len {wire} must lie between the packet length "
                                 f"({self.length}) and {GSO_LEGACY_MAX_SIZE}")
        if values["gso_segs"] > GSO_MAX_SEGS:
            raise TestRunRefused(_errno.EINVAL, f"ctx_in.gso_segs {values['gso_segs']} is above {GSO_MAX_SEGS}")

    def _eth_protocol(self, frame: bytes) -> int:
        """eth_type_trans: the EtherType, or 802.3 (raw IPX, FFFF after the header) / 802.2 (LLC)."""
        proto = int.from_bytes(frame[12:14], "big")
        if proto >= ETH_P_802_3_MIN:
            return proto
        if frame[14:16] == b"\xff\xff":
            return ETH_P_802_3
        return ETH_P_802_2

    # -- what a run sees and gives back -------------------------------------------------
    @property
    def length(self) -> int:
        """skb->len: the bytes from data to the tail."""
        return self.tail - self.data

    @property
    def meta(self) -> int:
        return self.data - self.meta_len

    def address(self, offset: int) -> int:
        """The host address of ``buf[offset]``."""
        return int(self.buf.ctypes.data) + offset

    def get_field(self, name: str) -> int:
        off, size = _field(name)
        return struct.unpack_from(_FMT[size], self.md, off)[0]

    def set_field(self, name: str, value: int) -> None:
        off, size = _field(name)
        struct.pack_into(_FMT[size], self.md, off, value & ((1 << 8 * size) - 1))

    def sync(self) -> None:
        """Write this object's state into the __sk_buff and move the packet region along."""
        data = self.address(self.data)
        length = self.length
        sk = self.sk
        values = (
            length, self.pkt_type, be16(self.protocol), int(bool(self.vlan_proto or self.vlan_tci)),
            self.vlan_tci, be16(self.vlan_proto), self.skb_iif, self.dev.ifindex, self.hash, data,
            data + length if self.direct else 0, data - self.meta_len, 0, sk.family, sk.remote_ip4,
            sk.local_ip4, 0, 0, self.wire_len, self.gso_segs, self.gso_size, self.hwtstamp,
            *struct.unpack("<4I", sk.remote_ip6), *struct.unpack("<4I", sk.local_ip6),
        )
        md = self.md
        for (pack, off, mask), value in zip(_SYNC_PACK, values, strict=True):
            pack(md, off, value & mask)
        self.record[:] = (self.md_region.start, data, self.length)
        new = Region("packet", self.buf[self.meta:self.tail], "packet")
        old, self.packet_region = self.packet_region, new
        if self.memory is not None:
            if old is not None and old in self.memory.regions:
                self.memory.remove(old)
            self.memory.add(new)
        self._regions = [self.md_region, new]

    def attach(self, memory) -> None:
        self._regions = [self.md_region] + ([self.packet_region] if self.packet_region else [])
        super().attach(memory)

    def registers(self) -> tuple[int, ...]:
        return (self.md_region.start,)

    def action(self, r0: int) -> str | None:
        """The name of a return value read as the kernel does, as a signed int (TC_ACT_UNSPEC is -1)."""
        value = r0 & 0xFFFFFFFF
        return self.actions.get(value - (1 << 32) if value >> 31 else value)

    def packet_out(self) -> bytes:
        """data_out: from data (tc) or from 14 zero bytes pushed before the network header."""
        out = self.buf[self.data:self.tail].tobytes()
        return out if self.l2 else bytes(ETH_HLEN) + out

    def ctx_out(self) -> bytes:
        """ctx_out: ctx_in (zeros without one) with convert_skb_to___skb's fields written back."""
        out = bytearray(self.ctx_in or bytes(SK_BUFF_SIZE))
        md = self.md
        for name, (pack, off, mask) in zip(CTX_OUT_FIELDS, _OUT_PACK, strict=True):
            if name in _OUT_STATE:
                attr = _OUT_STATE[name]
                value = self.dev.ifindex if attr is None else getattr(self, attr)
                pack(out, off, value & mask)
            else:
                out[off:off + mask.bit_length() // 8] = md[off:off + mask.bit_length() // 8].tobytes()
        return bytes(out)

    # -- legacy packet loads (LD_ABS/LD_IND: bpf_skb_load_helper_*) --------------------------------
    def ld_abs(self, offset: int, size: int) -> int | None:
        """The big-endian value at ``offset`` from data (negative: SKF_NET_OFF/SKF_LL_OFF), or None
        when it lies outside the packet (the program then ends with r0 = 0)."""
        if offset >= 0:
            start = self.data + offset
            if offset + size > self.length:
                return None
        else:
            if offset >= SKF_NET_OFF:
                start = self.network_header + offset - SKF_NET_OFF
            elif offset >= SKF_LL_OFF:
                start = self.mac_header + offset - SKF_LL_OFF
            else:
                return None
            if start < 0 or start + size > self.tail:
                return None
        return int.from_bytes(self.buf[start:start + size].tobytes(), "big")

    # -- the kernel's buffer operations, for the helpers ---------------------------------------------
    def reserve(self, front: int, back: int) -> None:
        """Make room for ``front`` more bytes before data and ``back`` after the tail
        (pskb_expand_head: a new buffer, so packet pointers move, as in the kernel)."""
        head_room, tail_room = self.meta, self.end - self.tail
        if head_room >= front and tail_room >= back:
            return
        new_front = max(head_room, front + NET_SKB_PAD)
        new_back = max(tail_room, back) + SKB_SHINFO
        used = self.buf[self.meta:self.tail]
        buf = low_alloc(new_front + len(used) + new_back)
        buf[new_front:new_front + len(used)] = used
        shift = new_front - self.meta
        self.buf = buf
        self.end = len(buf) - SKB_SHINFO
        self.data += shift
        self.tail += shift
        self.mac_header += shift
        self.network_header += shift
        if self.transport_header is not None:
            self.transport_header += shift

    def bytes_at(self, offset: int, length: int) -> bytes:
        return self.buf[self.data + offset:self.data + offset + length].tobytes()

    def write_at(self, offset: int, data: bytes) -> None:
        self.buf[self.data + offset:self.data + offset + len(data)] = np.frombuffer(data, dtype=np.uint8)

    def load_bytes(self, offset: int, length: int) -> bytes | int:
        """``length`` bytes from data + ``offset`` (perf_event_output's packet sample), or -EFAULT."""
        if offset + length > self.length:
            return -_errno.EFAULT
        return self.bytes_at(offset, length)

    # -- header bookkeeping (skbuff.h) ------------------------------------------------------------
    @property
    def mac_len(self) -> int:
        """skb_mac_header_len: from the MAC header to the network header."""
        return self.network_header - self.mac_header

    @property
    def network_offset(self) -> int:
        return self.network_header - self.data

    @property
    def min_len(self) -> int:
        """__bpf_skb_min_len: bpf_skb_change_tail may not cut into the network (or transport) header."""
        start = self.transport_header if self.transport_header is not None else self.network_header
        return (start - self.data) & 0xFFFFFFFF

    def push(self, n: int) -> None:
        """__skb_push of ``n`` zeroed bytes."""
        self.reserve(n, 0)
        self.data -= n
        self.buf[self.data:self.data + n] = 0

    def set_length(self, new_len: int) -> None:
        """Grow (zero-filled) or trim the packet to ``new_len`` bytes."""
        if new_len > self.length:
            self.reserve(0, new_len - self.length)
            self.buf[self.tail:self.data + new_len] = 0
        self.tail = self.data + new_len

    def net_header_push(self, off: int, n: int) -> None:
        """bpf_skb_net_hdr_push: ``n`` zero bytes at ``off`` from data; the headers before move back."""
        trans_same = self.transport_header == self.network_header
        self.reserve(n, 0)
        self.data -= n
        self.buf[self.data:self.data + off] = self.buf[self.data + n:self.data + n + off].copy()
        self.buf[self.data + off:self.data + off + n] = 0
        self.mac_header -= n
        self.network_header -= n
        if trans_same:
            self.transport_header = self.network_header

    def net_header_pop(self, off: int, n: int) -> int:
        """bpf_skb_net_hdr_pop: remove ``n`` bytes at ``off``; 0 or ENOMEM past the packet's end."""
        if off + n > self.length:
            return _errno.ENOMEM
        trans_same = self.transport_header == self.network_header
        self.buf[self.data + n:self.data + n + off] = self.buf[self.data:self.data + off].copy()
        self.data += n
        self.mac_header += n
        self.network_header += n
        if trans_same:
            self.transport_header = self.network_header
        return 0

    def gso_reset(self) -> None:
        self.gso_size = self.gso_segs = self.gso_type = 0

    def reset_checksum_unnecessary(self) -> None:
        if self.ip_summed == CHECKSUM_UNNECESSARY:
            self.ip_summed, self.csum_level = CHECKSUM_NONE, 0

    # -- VLANs (skb_vlan_push/pop, net/core/skbuff.c) -----------------------------------------------
    @property
    def vlan_present(self) -> bool:
        return bool(self.vlan_proto or self.vlan_tci)

    def vlan_push(self, proto: int, tci: int) -> int:
        """A tag already in the skb moves into the packet (after the MAC addresses); the new one
        becomes the skb's (hardware-accelerated) tag. 0 or an errno."""
        if self.vlan_present:
            if self.data != self.mac_header:
                return _errno.EINVAL
            self.reserve(4, 0)
            self.data -= 4
            self.buf[self.data:self.data + 12] = self.buf[self.data + 4:self.data + 16].copy()
            self.mac_header -= 4
            self.buf[self.data + 12:self.data + 14] = np.frombuffer(self.vlan_proto.to_bytes(2, "big"), np.uint8)
            self.buf[self.data + 14:self.data + 16] = np.frombuffer(self.vlan_tci.to_bytes(2, "big"), np.uint8)
            self.protocol = self.vlan_proto
            self.network_header -= 4
        self.vlan_proto, self.vlan_tci = proto, tci
        return 0

    def vlan_pop(self) -> int:
        """Drop the skb's tag, or the packet's outer one; a further tag in the packet becomes the skb's."""
        if self.vlan_present:
            self.vlan_proto = self.vlan_tci = 0
        elif self.protocol in (ETH_P_8021Q, ETH_P_8021AD):
            rc = self._pop_packet_tag()
            if rc:
                return rc
        else:
            return 0
        if self.protocol not in (ETH_P_8021Q, ETH_P_8021AD):
            return 0
        proto = self.protocol
        rc = self._pop_packet_tag()
        if rc:
            return rc
        self.vlan_proto, self.vlan_tci = proto, self._popped_tci
        return 0

    def _pop_packet_tag(self) -> int:
        """__skb_vlan_pop: the outer 802.1Q/ad header out of the packet; the protocol is the one it wrapped."""
        if self.data != self.mac_header:
            return _errno.EINVAL
        if self.length < ETH_HLEN + 4:
            return _errno.ENOMEM
        d = self.data
        self._popped_tci = int.from_bytes(self.buf[d + 14:d + 16].tobytes(), "big")
        inner = int.from_bytes(self.buf[d + 16:d + 18].tobytes(), "big")
        if inner >= ETH_P_802_3_MIN:
            self.protocol = inner
        else:
            self.protocol = ETH_P_802_3 if self.buf[d + 18:d + 20].tobytes() == b"\xff\xff" else ETH_P_802_2
        self.buf[d + 4:d + 16] = self.buf[d:d + 12].copy()
        self.data += 4
        self.mac_header += 4
        if self.network_header - self.data < ETH_HLEN:
            self.network_header = self.data + ETH_HLEN
        return 0

    # -- hashes and ECN --------------------------------------------------------------------------
    def clear_hash(self) -> None:
        self.hash = 0
        self.l4_hash = self.sw_hash = False

    def get_hash(self) -> int:
        """skb_get_hash: the hash set (bpf_set_hash) or computed before, else the flow hash."""
        if not (self.l4_hash or self.sw_hash):
            from ebpflite.helpers.flowhash import flow_hash

            value, has_ports = flow_hash(self.buf[self.mac_header:self.tail].tobytes(), self.net.hash_seed)
            self.hash, self.l4_hash = value, has_ports
        return self.hash

    def ecn_set_ce(self) -> bool:
        """INET_ECN_set_ce: mark ECT(0)/ECT(1) as CE (fixing the IPv4 checksum); True if marked or CE."""
        nh = self.network_header
        if self.protocol == ETH_P_IP and nh + 20 <= self.tail:
            tos = int(self.buf[nh + 1])
            ecn = (tos + 1) & 3
            if not ecn & 2:
                return not ecn
            check = int.from_bytes(self.buf[nh + 10:nh + 12].tobytes(), "little")
            add = (be16(0xFFFB) + be16(ecn)) & 0xFFFF
            res = (check + add) & 0xFFFF
            res = (res + (res < add)) & 0xFFFF
            self.buf[nh + 10:nh + 12] = np.frombuffer(res.to_bytes(2, "little"), np.uint8)
            self.buf[nh + 1] = tos | 3
            return True
        if self.protocol == ETH_P_IPV6 and nh + 40 <= self.tail:
            word = int.from_bytes(self.buf[nh:nh + 4].tobytes(), "big")
            if (word >> 20) & 3 == 0:
                return False
            word |= 3 << 20
            self.buf[nh:nh + 4] = np.frombuffer(word.to_bytes(4, "big"), np.uint8)
            return True
        return False


SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000


def _align(n: int) -> int:
    return (n + 63) & ~63


def be16(value: int) -> int:
    """htons: a 16-bit value as it lies in a __be16 field, read back as a little-endian number."""
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


def _get(ctx: bytes, name: str) -> int:
    off, size = _field(name)
    return struct.unpack_from(_FMT[size], ctx, off)[0]


def _names(fields: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for name in fields:
        short = name.split("[")[0]
        if short not in out:
            out.append(short)
    return out


def _pkt_type(dest: bytes, dev: Device) -> int:
    """eth_skb_pkt_type: host, broadcast, multicast or other host, against the device's addresses."""
    if dest == dev.mac:
        return PACKET_HOST
    if dest[0] & 1:
        return PACKET_BROADCAST if dest == dev.broadcast else PACKET_MULTICAST
    return PACKET_OTHERHOST
