"""Context descriptors: what ``r1`` points to at entry, per program type and platform.

A program's only way into its packet is through fields of its context: a
load of the ``data`` field yields a packet pointer, ``data_end`` the end of
the packet, ``data_meta`` the start of the metadata area. This module is the
one home of those layouts: the verifier types context loads with these
descriptors, the runtime context builders (``helpers/contexts.py``) pack
and unpack the structures through :attr:`ContextDescriptor.layout`, the JIT
batch loop (``jit/batch.py``, ``jit/lower.py``) writes ``xdp_md`` at the
offsets named here, and results name return values from ``actions``.

Linux ``xdp_md`` stores ``data``/``data_end``/``data_meta`` as ``u32``:
ebpflite allocates packet buffers below 4 GiB (``vm.memory.low_alloc``), so
the 32-bit field holds the real address and no context rewriting is needed
(docs/architecture.md). ebpf-for-windows stores them as 64-bit pointers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Field:
    """One context field. ``kind`` is ``scalar``, ``data``, ``data_end`` or ``data_meta``."""

    name: str
    offset: int
    size: int
    kind: str = "scalar"
    writable: bool = False

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class ContextDescriptor:
    """The layout of a program type's context structure on one platform."""

    name: str  #: C struct name
    size: int
    fields: tuple[Field, ...]
    #: inclusive range of return values the program type allows (None: any number)
    return_range: tuple[int, int] | None = None
    #: return value names for messages and runners (XDP_PASS...)
    actions: dict[int, str] = field(default_factory=dict)

    def field_at(self, offset: int, size: int) -> Field | None:
        """The field wholly containing ``[offset, offset + size)``, if any."""
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.end:
                return f
        return None

    def offset_of(self, kind: str) -> int:
        """Offset of the data/data_end/data_meta field, -1 if the context has none."""
        for f in self.fields:
            if f.kind == kind:
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


def _u32s(*names: str, start: int = 0, writable: tuple[str, ...] = ()) -> tuple[Field, ...]:
    return tuple(Field(n, start + 4 * i, 4, writable=n in writable) for i, n in enumerate(names))


XDP_ACTIONS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_ACTIONS = {-1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
              3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT",
              7: "TC_ACT_REDIRECT"}

LINUX_XDP = ContextDescriptor("xdp_md", 24, (
    Field("data", 0, 4, "data"), Field("data_end", 4, 4, "data_end"), Field("data_meta", 8, 4, "data_meta"),
    Field("ingress_ifindex", 12, 4), Field("rx_queue_index", 16, 4), Field("egress_ifindex", 20, 4),
), actions=XDP_ACTIONS)


def _sk_buff(packet: bool, meta: bool, writable: tuple[str, ...]) -> tuple[Field, ...]:
    """``struct __sk_buff`` (uapi/linux/bpf.h); which fields a type may use differs."""
    fields = list(_u32s("len", "pkt_type", "mark", "queue_mapping", "protocol", "vlan_present",
                        "vlan_tci", "vlan_proto", "priority", "ingress_ifindex", "ifindex", "tc_index",
                        writable=writable))
    fields += [Field(f"cb[{i}]", 48 + 4 * i, 4, writable="cb" in writable) for i in range(5)]
    fields += _u32s("hash", "tc_classid", start=68, writable=writable)
    if packet:
        fields += [Field("data", 76, 4, "data"), Field("data_end", 80, 4, "data_end")]
    fields += _u32s("napi_id", "family", "remote_ip4", "local_ip4", start=84)
    fields += [Field(f"remote_ip6[{i}]", 100 + 4 * i, 4) for i in range(4)]
    fields += [Field(f"local_ip6[{i}]", 116 + 4 * i, 4) for i in range(4)]
    fields += _u32s("remote_port", "local_port", start=132)
    if meta:
        fields.append(Field("data_meta", 140, 4, "data_meta"))
    fields += [Field("tstamp", 152, 8, writable="tstamp" in writable), Field("wire_len", 160, 4),
               Field("gso_segs", 164, 4), Field("gso_size", 176, 4), Field("hwtstamp", 184, 8)]
    return tuple(fields)


_TC_WRITABLE = ("mark", "priority", "tc_index", "cb", "tc_classid", "queue_mapping", "tstamp")

LINUX: dict[str, ContextDescriptor] = {
    "xdp": LINUX_XDP,
    "socket_filter": ContextDescriptor("__sk_buff", 192, _sk_buff(False, False, ("cb",))),
    "sched_cls": ContextDescriptor("__sk_buff", 192, _sk_buff(True, True, _TC_WRITABLE), actions=TC_ACTIONS),
    "sched_act": ContextDescriptor("__sk_buff", 192, _sk_buff(True, True, _TC_WRITABLE), actions=TC_ACTIONS),
    "cgroup_skb": ContextDescriptor("__sk_buff", 192, _sk_buff(True, False, ("mark", "priority", "cb")),
                                    return_range=(0, 1)),  # ingress (the default attach type)
    "sk_skb": ContextDescriptor("__sk_buff", 192, _sk_buff(True, False, ("mark", "priority", "tc_index",
                                                                          "cb"))),
    "lwt_in": ContextDescriptor("__sk_buff", 192, _sk_buff(True, False, ("cb",))),
    "lwt_out": ContextDescriptor("__sk_buff", 192, _sk_buff(True, False, ("cb",))),
    "lwt_xmit": ContextDescriptor("__sk_buff", 192, _sk_buff(True, False, ("mark", "priority", "cb"))),
    "cgroup_sock": ContextDescriptor("bpf_sock", 80, _u32s(
        "bound_dev_if", "family", "type", "protocol", "mark", "priority", "src_ip4", "src_ip6[0]",
        "src_ip6[1]", "src_ip6[2]", "src_ip6[3]", "src_port", "dst_port", "dst_ip4", "dst_ip6[0]",
        "dst_ip6[1]", "dst_ip6[2]", "dst_ip6[3]", "state", "rx_queue_mapping",
        writable=("bound_dev_if", "mark", "priority")), return_range=(0, 1)),
    "cgroup_sock_addr": ContextDescriptor("bpf_sock_addr", 72, _u32s(
        "user_family", "user_ip4", "user_ip6[0]", "user_ip6[1]", "user_ip6[2]", "user_ip6[3]",
        "user_port", "family", "type", "protocol", "msg_src_ip4", "msg_src_ip6[0]", "msg_src_ip6[1]",
        "msg_src_ip6[2]", "msg_src_ip6[3]",
        writable=("user_ip4", "user_ip6[0]", "user_ip6[1]", "user_ip6[2]", "user_ip6[3]", "user_port",
                  "msg_src_ip4")), return_range=(0, 1)),
    "sk_lookup": ContextDescriptor("bpf_sk_lookup", 72, _u32s(
        "sk_lo", "sk_hi", "family", "protocol", "remote_ip4", "remote_ip6[0]", "remote_ip6[1]",
        "remote_ip6[2]", "remote_ip6[3]", "remote_port", "local_ip4", "local_ip6[0]", "local_ip6[1]",
        "local_ip6[2]", "local_ip6[3]", "local_port", "ingress_ifindex"), return_range=(0, 1)),
    "cgroup_sysctl": ContextDescriptor("bpf_sysctl", 8, _u32s("write", "file_pos", writable=("file_pos",)),
                                       return_range=(0, 1)),
    "cgroup_device": ContextDescriptor("bpf_cgroup_dev_ctx", 12, _u32s("access_type", "major", "minor"),
                                       return_range=(0, 1)),
}
#: program types whose context is an opaque, read-only block of this many bytes (pt_regs, args...)
_OPAQUE = {"kprobe": 168, "tracepoint": 4096, "perf_event": 184, "raw_tracepoint": 96,
           "raw_tracepoint_writable": 96, "tracing": 96, "lsm": 96, "syscall": 4096, "unspec": 4096}
for _t, _size in _OPAQUE.items():
    LINUX[_t] = ContextDescriptor("ctx", _size, (Field("ctx", 0, _size),))

WINDOWS_XDP_ACTIONS = {1: "XDP_PASS", 2: "XDP_DROP", 3: "XDP_TX"}
BIND_ACTIONS = {0: "BIND_PERMIT_SOFT", 1: "BIND_DENY", 2: "BIND_REDIRECT", 3: "BIND_PERMIT_HARD"}

WINDOWS: dict[str, ContextDescriptor] = {
    "xdp": ContextDescriptor("xdp_md_t", 32, (
        Field("data", 0, 8, "data"), Field("data_end", 8, 8, "data_end"), Field("data_meta", 16, 8),
        Field("ingress_ifindex", 24, 4),
    ), actions=WINDOWS_XDP_ACTIONS),
    "bind": ContextDescriptor("bind_md_t", 56, (
        Field("app_id_start", 0, 8, "data"), Field("app_id_end", 8, 8, "data_end"),
        Field("process_id", 16, 8), Field("socket_address", 24, 16), Field("socket_address_length", 40, 1),
        Field("operation", 44, 4), Field("protocol", 48, 1),
    ), actions=BIND_ACTIONS),
    "sample": ContextDescriptor("sample_program_context_t", 32, (
        Field("data_start", 0, 8, "data"), Field("data_end", 8, 8, "data_end"), Field("uint32_data", 16, 4),
        Field("uint16_data", 20, 2),
    )),
    "unspec": ContextDescriptor("ctx", 4096, (Field("ctx", 0, 4096),)),
}


def descriptor(prog_type: str, platform: str = "linux") -> ContextDescriptor:
    """The context of ``prog_type`` on ``platform``; an opaque read-only block if unknown."""
    table = WINDOWS if platform == "windows" else LINUX
    found = table.get(prog_type)
    if found is not None:
        return found
    return ContextDescriptor("ctx", 4096, (Field("ctx", 0, 4096),))


def known_types(platform: str = "linux") -> tuple[str, ...]:
    return tuple(sorted(WINDOWS if platform == "windows" else LINUX))
