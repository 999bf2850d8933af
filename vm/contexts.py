"""Context descriptors: what ``r1`` points to at entry, per program type, attach point and platform.

A program reaches its packet, socket and metadata only through fields of its
context. The kernel decides, per program type (and for some types per attach
point), which bytes of the context structure a program may load or store and
at which widths: its ``<type>_is_valid_access`` functions. The tables below
are those decisions for Linux 6.18 (checked against the running kernel, for
every offset and width, by ``tests/verifier/test_context_access.py``), laid
over the uapi structures (``include/uapi/linux/bpf.h``, checked against the
installed header by the same tests). The verifier types context loads with
them (a load of ``data`` yields a packet pointer); the runtime context
builders lay out the same structures from the same tables.

Model: each :class:`Field` is one member of the uapi structure (arrays whole:
``cb`` is one 20-byte field), with the set of (offset within the field,
width) a program may read and write. Every access must also be aligned to its
width within the structure (the kernel's ``off % size``). One table per
structure holds the members and the kernel's common rules; each program type
is that table with the type's own changes (fields it may not touch, fields it
may write, which fields are packet pointers), as the kernel's functions are
the common ``bpf_skb_is_valid_access`` with a switch in front.

Linux ``xdp_md`` and ``__sk_buff`` store ``data``/``data_end``/``data_meta`` as
``u32``: ebpflite allocates packet buffers below 4 GiB (``vm.memory.low_alloc``),
so the 32-bit field holds the real address (docs/architecture.md).
ebpf-for-windows stores them as 64-bit pointers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

#: what a load of a field gives besides a number: packet pointers, and pointers ebpflite does not model
POINTER_KINDS = ("data", "data_end", "data_meta", "socket", "flow_keys", "btf")


@dataclass(frozen=True)
class Span:
    """Loads or stores of any of ``widths`` anywhere inside the first ``size`` bytes of a member
    (alignment is checked against the whole structure, as the kernel's ``off % size``)."""

    size: int
    widths: tuple[int, ...] = (1, 2, 4, 8)

    def allows(self, rel: int, width: int) -> bool:
        return width in self.widths and 0 <= rel and rel + width <= self.size

    def sizes(self) -> tuple[int, ...]:
        return tuple(w for w in self.widths if w <= self.size)

    @property
    def at_start_only(self) -> bool:
        return all(w == self.size for w in self.sizes())

    def __bool__(self) -> bool:
        return bool(self.sizes())


@dataclass(frozen=True)
class Exact:
    """These (offset within the member, width) pairs only (the kernel's ``case offsetof(...)``)."""

    pairs: frozenset[tuple[int, int]] = frozenset()

    def allows(self, rel: int, width: int) -> bool:
        return (rel, width) in self.pairs

    def sizes(self) -> tuple[int, ...]:
        return tuple(sorted({w for _, w in self.pairs}))

    @property
    def at_start_only(self) -> bool:
        return all(rel == 0 for rel, _ in self.pairs)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __or__(self, other: Exact) -> Exact:
        return Exact(self.pairs | other.pairs)


Access = Span | Exact  #: how a member may be read or written


@dataclass(frozen=True)
class Field:
    """One member of a context structure, as one program type may use it.

    ``kind`` is ``scalar`` or what a load yields: ``data``/``data_end``/
    ``data_meta`` (packet pointers), ``socket`` (a ``struct bpf_sock *``),
    ``flow_keys`` or ``btf`` (kernel objects). ``reads``/``writes`` hold the
    (offset within the field, width) pairs allowed; empty means not at all.
    """

    name: str
    offset: int
    size: int
    kind: str = "scalar"
    reads: Access = Exact()
    writes: Access = Exact()
    #: bytes of the kernel field a store lands in, when narrower than the uapi member
    #: (``__sk_buff.tc_index`` is a u32 backed by a u16): the xlated program narrows the store
    store_width: int = 0
    #: stores of a value at or above this are dropped (``queue_mapping``: NO_QUEUE_MAPPING)
    store_limit: int | None = None

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def readable(self) -> bool:
        return bool(self.reads)

    @property
    def writable(self) -> bool:
        return bool(self.writes)

    def widths(self, write: bool = False) -> tuple[int, ...]:
        """The widths this field may be read (written) at, at some offset."""
        return (self.writes if write else self.reads).sizes()


@dataclass(frozen=True)
class ContextDescriptor:
    """The layout of a program type's context structure on one platform, with its access rules."""

    name: str  #: C struct name
    size: int
    fields: tuple[Field, ...]
    #: inclusive range of return values the program type allows (None: any number)
    return_range: tuple[int, int] | None = None
    #: return value names for messages and runners (XDP_PASS...)
    actions: dict[int, str] = field(default_factory=dict)

    def field_at(self, offset: int, size: int = 1) -> Field | None:
        """The field holding byte ``offset`` (None: padding or outside the structure)."""
        for f in self.fields:
            if f.offset <= offset < f.end:
                return f
        return None

    def refusal(self, offset: int, size: int, write: bool, who: str = "programs") -> str | None:
        """Why a ``size``-byte load (store) at ``offset`` is not allowed, or None when it is.

        ``who`` names the programs in the message ("xdp programs").
        """
        verb = "written" if write else "read"
        f = self.field_at(offset)
        if offset < 0 or offset >= self.size or f is None:
            bytes_ = f"{size} bytes at offset {offset} are" if size > 1 else f"1 byte at offset {offset} is"
            return f"invalid context access: {bytes_} not a field of {self.name} ({self.size} bytes)"
        if not f.readable and not f.writable:
            return f"field {f.name} of {self.name} is not accessible to {who}"
        allowed = f.writes if write else f.reads
        if not allowed:
            return f"field {f.name} of {self.name} is {'read-only' if write else 'write-only'} for {who}"
        if offset % size:
            return f"a {size}-byte access at offset {offset} of {self.name} is not aligned to its width"
        if not allowed.allows(offset - f.offset, size):
            return (f"field {f.name} of {self.name} may only be {verb} {_describe(allowed, f.size)}, "
                    f"not {size} byte{'s' if size > 1 else ''} at offset {offset}")
        return None

    def offset_of(self, kind: str) -> int:
        """Offset of the readable data/data_end/data_meta field, -1 if the type has none."""
        for f in self.fields:
            if f.kind == kind and f.readable:
                return f.offset
        return -1

    @property
    def data(self) -> int:
        return self.offset_of("data")

    @property
    def data_end(self) -> int:
        return self.offset_of("data_end")

    @property
    def meta(self) -> int:
        return self.offset_of("data_meta")

    @property
    def has_packet(self) -> bool:
        return self.data >= 0

    @cached_property
    def layout(self) -> struct.Struct:
        """The structure as a little-endian :class:`struct.Struct`, one item per field in
        offset order (u8/u16/u32/u64 for 1/2/4/8-byte fields, bytes otherwise), gaps and
        the tail up to :attr:`size` as padding. The runtime packs contexts with it."""
        codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
        fmt, at = "<", 0
        for f in sorted(self.fields, key=lambda f: f.offset):
            if f.offset < at:
                raise ValueError(f"{self.name}: field {f.name} overlaps the one before it")
            fmt += f"{f.offset - at}x" if f.offset > at else ""
            fmt += codes.get(f.size, f"{f.size}s")
            at = f.end
        if at > self.size:
            raise ValueError(f"{self.name}: fields end at {at}, after the {self.size}-byte structure")
        fmt += f"{self.size - at}x" if self.size > at else ""
        return struct.Struct(fmt)


# --- access rules ----------------------------------------------------------------------------------


def span(size: int, widths: Iterable[int] = (1, 2, 4, 8)) -> Span:
    """Any width of ``widths`` anywhere inside a ``size``-byte member (alignment is checked apart)."""
    return Span(size, tuple(widths))


def whole(size: int) -> Span:
    """The member at once only."""
    return Span(size, (size,))


def at_start(*widths: int) -> Exact:
    """These widths, each at the start of the member only (the kernel's ``case offsetof(...)``)."""
    return Exact(frozenset((0, w) for w in widths))


NONE = Exact()


def _describe(rule: Access, member_size: int) -> str:
    """How a member may be accessed, in words: "whole (4 bytes)", "1, 2 or 4 bytes at a time"..."""
    widths = ", ".join(str(w) for w in rule.sizes())
    if "," in widths:
        widths = widths[::-1].replace(" ,", " ro ", 1)[::-1]  # "1, 2 or 4"
    if isinstance(rule, Span):
        if rule.sizes() == (rule.size,):
            return f"whole ({rule.size} bytes)" if rule.size >= member_size else f"as its first {rule.size} bytes"
        return f"{widths} bytes at a time" + ("" if rule.size >= member_size else f" in its first {rule.size} bytes")
    if rule.at_start_only:
        return f"as {widths} bytes at its start"
    return "as " + ", ".join(f"{w} byte{'s' if w > 1 else ''} at +{rel}" for rel, w in sorted(rule.pairs))
U32 = span(4)  #: a u32 read narrow (1, 2 or 4 bytes; the kernel's ``bpf_ctx_narrow_access_ok``)
W4, W8 = whole(4), whole(8)


def _layout(*members: tuple[str, int, int]) -> tuple[Field, ...]:
    return tuple(Field(n, o, s) for n, o, s in members)


def _u32s(start: int, names: str) -> list[tuple[str, int, int]]:
    return [(n, start + 4 * i, 4) for i, n in enumerate(names.split())]


def _view(base: tuple[Field, ...], *, reads: dict[str, Access] | None = None,
          writes: dict[str, Access] | None = None, kinds: dict[str, str] | None = None,
          deny: Iterable[str] = ()) -> tuple[Field, ...]:
    """``base`` with some members' read/write rules or kinds replaced, and some denied outright."""
    reads, writes, kinds, deny = reads or {}, writes or {}, kinds or {}, set(deny)
    names = {f.name for f in base}
    unknown = (set(reads) | set(writes) | set(kinds) | deny) - names
    assert not unknown, f"no such members: {unknown}"
    out = []
    for f in base:
        kind = kinds.get(f.name, f.kind)
        if f.name in deny:
            out.append(replace(f, reads=NONE, writes=NONE, kind=kind))
            continue
        out.append(replace(f, reads=reads.get(f.name, f.reads), writes=writes.get(f.name, f.writes), kind=kind))
    return tuple(out)


# --- struct __sk_buff ------------------------------------------------------------------------------

#: the members of ``struct __sk_buff`` (uapi/linux/bpf.h), with bpf_skb_is_valid_access's rules:
#: u32s read narrow, written whole (where a type allows it); cb any width inside; addresses and
#: packet pointers whole; tstamp 8 bytes; hwtstamp read-only; the socket read whole; flow_keys
#: and tstamp_type denied (padding too: it is no member)
SK_BUFF_MEMBERS = _layout(
    *_u32s(0, "len pkt_type mark queue_mapping protocol vlan_present vlan_tci vlan_proto priority "
              "ingress_ifindex ifindex tc_index"),
    ("cb", 48, 20), ("hash", 68, 4), ("tc_classid", 72, 4), ("data", 76, 4), ("data_end", 80, 4),
    ("napi_id", 84, 4), ("family", 88, 4), ("remote_ip4", 92, 4), ("local_ip4", 96, 4),
    ("remote_ip6", 100, 16), ("local_ip6", 116, 16), ("remote_port", 132, 4), ("local_port", 136, 4),
    ("data_meta", 140, 4), ("flow_keys", 144, 8), ("tstamp", 152, 8), ("wire_len", 160, 4),
    ("gso_segs", 164, 4), ("sk", 168, 8), ("gso_size", 176, 4), ("tstamp_type", 180, 1),
    ("hwtstamp", 184, 8))
SK_BUFF_SIZE = 192
_WHOLE_U32 = ("remote_ip4", "local_ip4", "data", "data_end", "data_meta")
SK_BUFF = _view(
    tuple(replace(f, reads=U32) for f in SK_BUFF_MEMBERS),
    reads={"cb": span(20), **{n: W4 for n in _WHOLE_U32}, "remote_ip6": span(16, (4,)),
           "local_ip6": span(16, (4,)), "tstamp": W8, "hwtstamp": W8, "sk": W8},
    kinds={"data": "data", "data_end": "data_end", "data_meta": "data_meta", "sk": "socket",
           "flow_keys": "flow_keys"},
    deny=("flow_keys", "tstamp_type"))
#: members the kernel's sk_buff keeps in 16 bits: convert_ctx_access narrows stores to them
#: (verifier/xlate.py), a queue_mapping store of NO_QUEUE_MAPPING (0xffff) or more is dropped
_NARROW_STORES = {"tc_index": (2, None), "tc_classid": (2, None), "queue_mapping": (2, 0xFFFF)}
SK_BUFF = tuple(replace(f, store_width=_NARROW_STORES[f.name][0], store_limit=_NARROW_STORES[f.name][1])
                if f.name in _NARROW_STORES else f for f in SK_BUFF)
#: how each writable member may be written (bpf_skb_is_valid_access): u32s whole, cb any width, tstamp 8
_SKB_WRITE = {"cb": span(20), "tstamp": W8}
#: members a type's is_valid_access refuses before calling bpf_skb_is_valid_access
_SOCKET_FIELDS = ("family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port")


def _skb(deny: Iterable[str], writable: Iterable[str], reads: dict[str, Access] | None = None) -> tuple[Field, ...]:
    """``__sk_buff`` as one program type sees it."""
    writes = {n: _SKB_WRITE.get(n, W4) for n in writable}
    return _view(SK_BUFF, deny=deny, writes=writes, reads=reads)


# The XDP test-run frame (net/bpf/test_run.c), which the per-packet context (helpers/contexts.py
# XdpContext) and the JIT's batch loop (jit/batch.py) both lay packets out in.
XDP_HEADROOM = 256
XDP_FRAME_SIZE = 4096
XDP_TAILROOM = 320  #: SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64
XDP_MAX_DATA = XDP_FRAME_SIZE - XDP_HEADROOM - XDP_TAILROOM
XDP_FRAME_STRUCT = 40  #: sizeof(struct xdp_frame), kept free at the head of the frame
XDP_META_MAX = 255  #: type_max(skb_shared_info.meta_len), a u8 (older kernels allowed 32)
ETH_HLEN = 14

XDP_ACTIONS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_ACTIONS = {-1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
              3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT",
              7: "TC_ACT_REDIRECT"}
SK_ACTIONS = {0: "SK_DROP", 1: "SK_PASS"}


def _sk_buff(fields: tuple[Field, ...], **kw) -> ContextDescriptor:
    return ContextDescriptor("__sk_buff", SK_BUFF_SIZE, fields, **kw)


#: tc (tc_cls_act_is_valid_access)
_TC = _skb(deny=_SOCKET_FIELDS, writable=("mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                                          "queue_mapping"), reads={"tstamp_type": at_start(1)})
#: socket filters (sk_filter_is_valid_access): no packet pointers, no socket fields, cb writable
_SOCKET_FILTER = _skb(deny=("tc_classid", "data", "data_meta", "data_end", *_SOCKET_FIELDS, "tstamp",
                            "wire_len", "hwtstamp"), writable=("cb",))
#: lwt_in/out/xmit/seg6local (lwt_is_valid_access)
_LWT = _skb(deny=("tc_classid", *_SOCKET_FIELDS, "data_meta", "tstamp", "wire_len", "hwtstamp"),
            writable=("mark", "priority", "cb"))
#: cgroup_skb (cg_skb_is_valid_access; root may read the packet and write tstamp)
_CGROUP_SKB = _skb(deny=("tc_classid", "data_meta", "wire_len"), writable=("mark", "priority", "cb", "tstamp"))
#: sk_skb (sk_skb_is_valid_access): mark is not readable either
_SK_SKB = _skb(deny=("tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp", "mark"),
               writable=("tc_index", "priority"))
#: flow dissector (flow_dissector_is_valid_access): the packet and the flow keys only
_FLOW_DISSECTOR = _view(tuple(replace(f, reads=NONE, writes=NONE) for f in SK_BUFF),
                        reads={"data": W4, "data_end": W4, "flow_keys": W8})

# --- the other structures ----------------------------------------------------------------------------

XDP_MD = _layout(*_u32s(0, "data data_end data_meta ingress_ifindex rx_queue_index egress_ifindex"))
_XDP = _view(tuple(replace(f, reads=W4) for f in XDP_MD),
             kinds={"data": "data", "data_end": "data_end", "data_meta": "data_meta"})

#: struct bpf_sock_ops: u32s read whole; reply/sk_txhash written; 8-byte counters and pointers
SOCK_OPS_MEMBERS = _layout(
    ("op", 0, 4), ("args", 4, 16),  # union { u32 args[4]; u32 reply; u32 replylong[4]; }
    *_u32s(20, "family remote_ip4 local_ip4"), ("remote_ip6", 32, 16), ("local_ip6", 48, 16),
    *_u32s(64, "remote_port local_port is_fullsock snd_cwnd srtt_us bpf_sock_ops_cb_flags state rtt_min "
               "snd_ssthresh rcv_nxt snd_nxt snd_una mss_cache ecn_flags rate_delivered rate_interval_us "
               "packets_out retrans_out total_retrans segs_in data_segs_in segs_out data_segs_out lost_out "
               "sacked_out sk_txhash"),
    ("bytes_received", 168, 8), ("bytes_acked", 176, 8), ("sk", 184, 8), ("skb_data", 192, 8),
    ("skb_data_end", 200, 8), ("skb_len", 208, 4), ("skb_tcp_flags", 212, 4), ("skb_hwtstamp", 216, 8))
_SOCK_OPS = _view(
    tuple(replace(f, reads=span(f.size, (4,)) if f.size != 8 else W8) for f in SOCK_OPS_MEMBERS),
    reads={"skb_tcp_flags": at_start(1, 2, 4)},
    writes={"args": whole(4), "sk_txhash": W4},  # reply (args[0]) and sk_txhash
    kinds={"sk": "socket", "skb_data": "data", "skb_data_end": "data_end"})

#: struct bpf_sock (cgroup_sock programs; other types reach it through a socket pointer)
SOCK_MEMBERS = _layout(
    *_u32s(0, "bound_dev_if family type protocol mark priority src_ip4"), ("src_ip6", 28, 16),
    ("src_port", 44, 4), ("dst_port", 48, 2), ("dst_ip4", 52, 4), ("dst_ip6", 56, 16), ("state", 72, 4),
    ("rx_queue_mapping", 76, 4))
#: bpf_sock_is_valid_access: whole u32s; narrow reads at the start of the small ones, anywhere in the
#: addresses; dst_port is a be16 read as 2 bytes or, as it was once a u32, 4
_SOCK = _view(tuple(replace(f, reads=W4) for f in SOCK_MEMBERS), reads={
    **{n: at_start(1, 2, 4) for n in ("family", "type", "protocol", "src_port", "state", "rx_queue_mapping")},
    "src_ip4": U32, "dst_ip4": U32, "src_ip6": span(16, (1, 2, 4)), "dst_ip6": span(16, (1, 2, 4)),
    "dst_port": at_start(1, 2, 4) | Exact(frozenset({(1, 1)}))})
_SOCK_WRITABLE = ("bound_dev_if", "mark", "priority")


def _cgroup_sock(attach: str | None) -> tuple[Field, ...]:
    """__sock_filter_check_attach_type: sock_create/release may set the device, mark and priority;
    post_bind4/6 may read the source address and port."""
    if attach in (None, "sock_create", "sock_release"):
        return _view(_SOCK, writes={n: W4 for n in _SOCK_WRITABLE}, deny=("src_ip4", "src_ip6", "src_port"))
    v6 = attach == "post_bind6"
    return _view(_SOCK, deny=(*_SOCK_WRITABLE, "src_ip6" if not v6 else "src_ip4"))


#: struct bpf_sock_addr (sock_addr_is_valid_access)
SOCK_ADDR_MEMBERS = _layout(
    ("user_family", 0, 4), ("user_ip4", 4, 4), ("user_ip6", 8, 16), ("user_port", 24, 4),
    *_u32s(28, "family type protocol msg_src_ip4"), ("msg_src_ip6", 44, 16), ("sk", 64, 8))
_SOCK_ADDR = _view(tuple(replace(f, reads=W4) for f in SOCK_ADDR_MEMBERS), kinds={"sk": "socket"}, reads={
    "user_ip4": U32, "user_port": U32, "msg_src_ip4": U32, "user_ip6": span(16), "msg_src_ip6": span(16),
    "sk": W8}, writes={
    "user_ip4": W4, "user_port": W4, "msg_src_ip4": W4, "user_ip6": span(16, (4, 8)),
    "msg_src_ip6": span(16, (4, 8))})
#: attach point -> the address members it may use (the others are refused)
_SOCK_ADDR_IP = {**{a: ("user_ip4",) for a in ("bind4", "connect4", "getpeername4", "getsockname4",
                                               "recvmsg4")},
                 **{a: ("user_ip6",) for a in ("bind6", "connect6", "getpeername6", "getsockname6",
                                               "recvmsg6")},
                 "sendmsg4": ("user_ip4", "msg_src_ip4"), "sendmsg6": ("user_ip6", "msg_src_ip6")}
_ADDRESSES = ("user_ip4", "user_ip6", "msg_src_ip4", "msg_src_ip6")


def _sock_addr(attach: str | None) -> tuple[Field, ...]:
    if attach is None:  # unknown attach point: every address member (the verdict may be too kind)
        return _SOCK_ADDR
    keep = _SOCK_ADDR_IP.get(attach, ())  # *_unix: none
    return _view(_SOCK_ADDR, deny=[n for n in _ADDRESSES if n not in keep])


SK_MSG_MEMBERS = _layout(
    ("data", 0, 8), ("data_end", 8, 8), *_u32s(16, "family remote_ip4 local_ip4"), ("remote_ip6", 28, 16),
    ("local_ip6", 44, 16), *_u32s(60, "remote_port local_port size"), ("sk", 72, 8))
_SK_MSG = _view(tuple(replace(f, reads=span(f.size, (4,)) if f.size != 8 else W8) for f in SK_MSG_MEMBERS),
                kinds={"data": "data", "data_end": "data_end", "sk": "socket"})

SK_REUSEPORT_MEMBERS = _layout(
    ("data", 0, 8), ("data_end", 8, 8), *_u32s(16, "len eth_protocol ip_protocol bind_inany hash"),
    ("sk", 40, 8), ("migrating_sk", 48, 8))
_SK_REUSEPORT = _view(tuple(replace(f, reads=U32 if f.size == 4 else W8) for f in SK_REUSEPORT_MEMBERS),
                      reads={"eth_protocol": span(4, (2, 4)), "hash": W4},
                      kinds={"data": "data", "data_end": "data_end", "sk": "socket", "migrating_sk": "socket"})

SYSCTL_MEMBERS = _layout(("write", 0, 4), ("file_pos", 4, 4))
_SYSCTL = _view(tuple(replace(f, reads=U32) for f in SYSCTL_MEMBERS), writes={"file_pos": W4})

SOCKOPT_MEMBERS = _layout(("sk", 0, 8), ("optval", 8, 8), ("optval_end", 16, 8),
                          *_u32s(24, "level optname optlen retval"))
_SOCKOPT = _view(tuple(replace(f, reads=whole(f.size)) for f in SOCKOPT_MEMBERS),
                 kinds={"sk": "socket", "optval": "data", "optval_end": "data_end"}, writes={"optlen": W4})


def _sockopt(attach: str | None) -> tuple[Field, ...]:
    """cg_sockopt_is_valid_access: setsockopt may change level and optname, getsockopt sets retval."""
    if attach == "setsockopt":
        return _view(_SOCKOPT, writes={"level": W4, "optname": W4}, deny=("retval",))
    if attach == "getsockopt":
        return _view(_SOCKOPT, writes={"retval": W4})
    return _SOCKOPT


DEVICE_MEMBERS = _layout(*_u32s(0, "access_type major minor"))
_DEVICE = _view(tuple(replace(f, reads=W4) for f in DEVICE_MEMBERS), reads={"access_type": U32})

#: remote_port is a be16 followed by 16 zero bits the kernel lets programs read: one 4-byte member here
SK_LOOKUP_MEMBERS = _layout(
    ("sk", 0, 8), *_u32s(8, "family protocol remote_ip4"), ("remote_ip6", 20, 16), ("remote_port", 36, 4),
    ("local_ip4", 40, 4), ("local_ip6", 44, 16), ("local_port", 60, 4), ("ingress_ifindex", 64, 4))
_SK_LOOKUP = _view(tuple(replace(f, reads=U32) for f in SK_LOOKUP_MEMBERS), kinds={"sk": "socket"}, reads={
    "sk": W8, "remote_ip6": span(16, (1, 2, 4)), "local_ip6": span(16, (1, 2, 4))})

#: x86-64 struct pt_regs as user space names it (asm/ptrace.h; kprobe programs, and the first 168
#: bytes of bpf_perf_event_data)
PT_REGS_MEMBERS = _layout(*[(n, 8 * i, 8) for i, n in enumerate(
    "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss".split())])
_PT_REGS = tuple(replace(f, reads=span(8)) for f in PT_REGS_MEMBERS)
_PERF_EVENT = (Field("regs", 0, 168, reads=span(168, (8,))),
               Field("sample_period", 168, 8, reads=span(8)), Field("addr", 176, 8, reads=span(8)))

NF_CTX_MEMBERS = _layout(("state", 0, 8), ("skb", 8, 8))
_NF_CTX = tuple(replace(f, reads=W8, kind="btf") for f in NF_CTX_MEMBERS)


def _raw(name: str, size: int, start: int = 0) -> ContextDescriptor:
    """A read-only context of plain numbers (tracepoint records, raw tracepoint arguments), readable
    from ``start`` on at any width."""
    return ContextDescriptor(name, size, (Field("ctx", start, size - start, reads=span(size - start)),))


_CG = (0, 1)  #: cgroup programs return 1 (allow) or 0 (deny)

#: Linux xdp_md (the JIT's batch loop writes it at these offsets)
LINUX_XDP = ContextDescriptor("xdp_md", 24, _view(_XDP, deny=("egress_ifindex",)), actions=XDP_ACTIONS)

#: program type -> its context at the type's default attach point (BY_ATTACH has the others)
LINUX: dict[str, ContextDescriptor] = {
    "xdp": LINUX_XDP,
    "socket_filter": _sk_buff(_SOCKET_FILTER),
    "sched_cls": _sk_buff(_TC, actions=TC_ACTIONS),
    "sched_act": _sk_buff(_TC, actions=TC_ACTIONS),
    "cgroup_skb": _sk_buff(_CGROUP_SKB, return_range=_CG),  # ingress; egress may return 0-3
    "sk_skb": _sk_buff(_SK_SKB, actions=SK_ACTIONS),
    "lwt_in": _sk_buff(_LWT), "lwt_out": _sk_buff(_LWT), "lwt_xmit": _sk_buff(_LWT),
    "lwt_seg6local": _sk_buff(_LWT),
    "flow_dissector": _sk_buff(_FLOW_DISSECTOR),
    "sock_ops": ContextDescriptor("bpf_sock_ops", 224, _SOCK_OPS, return_range=_CG),
    "cgroup_sock": ContextDescriptor("bpf_sock", 80, _cgroup_sock(None), return_range=_CG),
    "cgroup_sock_addr": ContextDescriptor("bpf_sock_addr", 72, _sock_addr(None), return_range=_CG),
    "sk_msg": ContextDescriptor("sk_msg_md", 80, _SK_MSG, actions=SK_ACTIONS),
    "sk_reuseport": ContextDescriptor("sk_reuseport_md", 56, _SK_REUSEPORT, actions=SK_ACTIONS),
    "sk_lookup": ContextDescriptor("bpf_sk_lookup", 72, _SK_LOOKUP, return_range=_CG, actions=SK_ACTIONS),
    "cgroup_sysctl": ContextDescriptor("bpf_sysctl", 8, _SYSCTL, return_range=_CG),
    "cgroup_sockopt": ContextDescriptor("bpf_sockopt", 40, _sockopt(None), return_range=_CG),
    "cgroup_device": ContextDescriptor("bpf_cgroup_dev_ctx", 12, _DEVICE, return_range=_CG),
    "netfilter": ContextDescriptor("bpf_nf_ctx", 16, _NF_CTX, return_range=_CG),
    "kprobe": ContextDescriptor("pt_regs", 168, _PT_REGS),
    "perf_event": ContextDescriptor("bpf_perf_event_data", 184, _PERF_EVENT),
    # the record as the tracepoint's format file describes it, past its 8 bytes of common fields
    # (PERF_MAX_TRACE_SIZE bytes in all)
    "tracepoint": _raw("trace_event_raw", 8192, start=8),
    "raw_tracepoint": _raw("bpf_raw_tracepoint_args", 96),  # u64 args[12]
    "raw_tracepoint_writable": _raw("bpf_raw_tracepoint_args", 96),
    "tracing": _raw("ctx", 96), "lsm": _raw("ctx", 96),
    "syscall": _raw("ctx", 4096), "unspec": _raw("ctx", 4096),
}

#: (program type, attach point) -> its context where the attach point changes it
BY_ATTACH: dict[tuple[str, str], ContextDescriptor] = {
    ("xdp", "devmap"): replace(LINUX["xdp"], fields=_XDP),
    ("cgroup_skb", "egress"): replace(LINUX["cgroup_skb"], return_range=(0, 3)),
    **{("cgroup_sock", a): replace(LINUX["cgroup_sock"], fields=_cgroup_sock(a))
       for a in ("sock_create", "sock_release", "post_bind4", "post_bind6")},
    **{("cgroup_sock_addr", a): replace(LINUX["cgroup_sock_addr"], fields=_sock_addr(a), return_range=rr)
       for a, rr in (("bind4", (0, 3)), ("bind6", (0, 3)), ("connect4", _CG), ("connect6", _CG),
                     ("connect_unix", _CG), ("sendmsg4", _CG), ("sendmsg6", _CG), ("sendmsg_unix", _CG),
                     ("recvmsg4", (1, 1)), ("recvmsg6", (1, 1)), ("recvmsg_unix", (1, 1)),
                     ("getpeername4", (1, 1)), ("getpeername6", (1, 1)), ("getpeername_unix", (1, 1)),
                     ("getsockname4", (1, 1)), ("getsockname6", (1, 1)), ("getsockname_unix", (1, 1)))},
    **{("cgroup_sockopt", a): replace(LINUX["cgroup_sockopt"], fields=_sockopt(a))
       for a in ("getsockopt", "setsockopt")},
}

# --- ebpf-for-windows ----------------------------------------------------------------------------------

WINDOWS_XDP_ACTIONS = {1: "XDP_PASS", 2: "XDP_DROP", 3: "XDP_TX"}
BIND_ACTIONS = {0: "BIND_PERMIT_SOFT", 1: "BIND_DENY", 2: "BIND_REDIRECT", 3: "BIND_PERMIT_HARD"}


def _any(size: int) -> Access:
    return span(size)


WINDOWS: dict[str, ContextDescriptor] = {
    "xdp": ContextDescriptor("xdp_md_t", 32, (
        Field("data", 0, 8, "data", W8), Field("data_end", 8, 8, "data_end", W8),
        Field("data_meta", 16, 8, reads=_any(8)), Field("ingress_ifindex", 24, 4, reads=_any(4)),
    ), actions=WINDOWS_XDP_ACTIONS),
    "bind": ContextDescriptor("bind_md_t", 56, (
        Field("app_id_start", 0, 8, "data", W8), Field("app_id_end", 8, 8, "data_end", W8),
        Field("process_id", 16, 8, reads=_any(8)), Field("socket_address", 24, 16, reads=_any(16)),
        Field("socket_address_length", 40, 1, reads=_any(1)), Field("operation", 44, 4, reads=_any(4)),
        Field("protocol", 48, 1, reads=_any(1)),
    ), actions=BIND_ACTIONS),
    "sample": ContextDescriptor("sample_program_context_t", 32, (
        Field("data_start", 0, 8, "data", W8), Field("data_end", 8, 8, "data_end", W8),
        Field("uint32_data", 16, 4, reads=_any(4)), Field("uint16_data", 20, 2, reads=_any(2)),
    )),
    "unspec": _raw("ctx", 4096),
}


def attach_of(section: str | None) -> str | None:
    """The attach point a libbpf section names (``cgroup/connect4`` -> ``connect4``), if any.

    The kernel decides some context fields, return values and helpers by the
    program's expected attach type; libbpf derives that from the section,
    whose suffix is the attach point's name.
    """
    if not section or "/" not in section:
        return None
    return section.split("/", 1)[1] or None


def descriptor(prog_type: str, platform: str = "linux", attach: str | None = None) -> ContextDescriptor:
    """The context of ``prog_type`` (at ``attach``, a libbpf section suffix) on ``platform``.

    Unknown types get an opaque read-only 4 KiB block.
    """
    if platform == "windows":
        return WINDOWS.get(prog_type) or WINDOWS["unspec"]
    if attach is not None:
        found = BY_ATTACH.get((prog_type, attach))
        if found is not None:
            return found
    return LINUX.get(prog_type) or LINUX["unspec"]


def known_types(platform: str = "linux") -> tuple[str, ...]:
    return tuple(sorted(WINDOWS if platform == "windows" else LINUX))
