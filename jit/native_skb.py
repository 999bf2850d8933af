"""The ``__sk_buff`` helpers tc programs call per packet, emitted natively.

``bpf_skb_load_bytes``, ``bpf_skb_store_bytes``, ``bpf_l3_csum_replace`` and
``bpf_l4_csum_replace`` are what a tc program that reads headers it cannot
reach directly, or rewrites an address and fixes the checksums, calls for
every packet (examples/tc_nat, Cilium's NAT and load balancer). Each gives
what ``helpers/impl/skb.py`` gives, -errno for -errno and byte for byte.

Native code cannot see the Python ``SkbContext``. It sees the *skb record*
the run context points at (``Ctx.SKB``): three u64 words the context keeps
current (``SkbContext.sync``): the address of the ``__sk_buff`` the program
got in r1, the address of ``skb->data`` and ``skb->len``. A helper declines
(the Python helper runs instead) when there is no record or r1 is not that
``__sk_buff``: another program type's context (flow dissector and
sk_reuseport programs call ``bpf_skb_load_bytes`` on other structures), a
run the runtime did not set up. It also declines the one case that changes
Python state: ``bpf_skb_store_bytes`` with ``BPF_F_INVALIDATE_HASH``.

Like every native helper these run only in unchecked mode, where the
verifier has proved r1 is the context and the buffer argument covers its
size; the packet bounds (offset and length against ``skb->len``) are
checked here exactly as the Python helpers check them.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx
from ebpflite.jit.native_ir import I32, I64, Emitter, _c

I16 = ir.IntType(16)

# the skb record (helpers/skb.py SkbContext.record): u64 words
REC_MD, REC_DATA, REC_LEN = 0, 8, 16
EINVAL, EFAULT = 22, 14
INT_MAX = (1 << 31) - 1
M32 = 0xFFFFFFFF
BPF_F_RECOMPUTE_CSUM, BPF_F_INVALIDATE_HASH = 1, 2
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0, BPF_F_MARK_ENFORCE, BPF_F_IPV6 = 1 << 4, 1 << 5, 1 << 6, 1 << 7
L4_FLAGS = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6
CSUM_MANGLED_0 = 0xFFFF


class _SkbHelper:
    """Entry of an skb helper: the record for r1 (declining without one), data and len."""

    def __init__(self, module: ir.Module, name: str):
        self.e = e = Emitter(module, name)
        ctx, self.r1, self.r2, self.r3, self.r4, self.r5 = e.fn.args
        b = e.b
        self.declined = e.block("decline")
        e.at(self.declined)
        e.decline()
        e.at(e.fn.entry_basic_block)
        record = b.load(b.gep(ctx, [_c(I64, int(Ctx.SKB))], source_etype=I64), typ=I64)
        e.branch_if(b.icmp_unsigned("==", record, _c(I64, 0)), self.declined, "has_record")
        e.branch_if(b.icmp_unsigned("!=", e.load(record, I64, REC_MD), self.r1), self.declined, "is_skb")
        self.data = e.load(record, I64, REC_DATA)
        self.len = e.load(record, I64, REC_LEN)
        self.fault = e.block("efault")
        self.invalid = e.block("einval")

    def out_of_packet(self, offset, length):
        """``offset > INT_MAX || offset + length > skb->len`` (both u32 in i64: no overflow)."""
        b = self.e.b
        return b.or_(b.icmp_unsigned(">", offset, _c(I64, INT_MAX)),
                     b.icmp_unsigned(">", b.add(offset, length), self.len))

    def errors(self) -> None:
        """The -EFAULT and -EINVAL exits."""
        self.e.at(self.fault)
        self.e.ret(-EFAULT)
        self.e.at(self.invalid)
        self.e.ret(-EINVAL)


def build_skb_load_bytes(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_skb_load_bytes(skb, offset, to, len)``: 0, or -EFAULT with ``to`` zeroed."""
    h = _SkbHelper(module, "ebpf_native_skb_load_bytes")
    e, b = h.e, h.e.b
    offset, length = b.and_(h.r2, _c(I64, M32)), b.and_(h.r4, _c(I64, M32))
    outside = e.block("outside")
    e.branch_if(h.out_of_packet(offset, length), outside, "inside")
    e.memmove(h.r3, b.add(h.data, offset), length)
    e.ret(0)
    e.at(outside)
    e.memset(h.r3, length)
    b.branch(h.fault)
    h.errors()
    return e.fn


def build_skb_store_bytes(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_skb_store_bytes(skb, offset, from, len, flags)``; BPF_F_INVALIDATE_HASH declines
    (the hash is Python state). BPF_F_RECOMPUTE_CSUM changes nothing: a test run's packets
    are never CHECKSUM_COMPLETE."""
    h = _SkbHelper(module, "ebpf_native_skb_store_bytes")
    e, b = h.e, h.e.b
    offset, length, flags = b.and_(h.r2, _c(I64, M32)), b.and_(h.r4, _c(I64, M32)), h.r5
    known = BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
    e.branch_if(b.icmp_unsigned("!=", b.and_(flags, _c(I64, ~known)), _c(I64, 0)), h.invalid, "flags_ok")
    e.branch_if(b.icmp_unsigned("!=", b.and_(flags, _c(I64, BPF_F_INVALIDATE_HASH)), _c(I64, 0)),
                h.declined, "keeps_hash")
    e.branch_if(h.out_of_packet(offset, length), h.fault, "inside")
    e.memmove(b.add(h.data, offset), h.r3, length)
    e.ret(0)
    h.errors()
    return e.fn


# --- checksum arithmetic (include/net/checksum.h), as helpers/impl/skb.py writes it ------------


def _csum_add(b: ir.IRBuilder, a, c):
    """32-bit one's complement add (i32 operands)."""
    res = b.add(a, c)
    return b.add(res, b.zext(b.icmp_unsigned("<", res, c), I32))


def _csum_fold(b: ir.IRBuilder, csum):
    """i32 -> the complemented i16 a header carries."""
    for _ in range(2):
        csum = b.add(b.and_(csum, _c(I32, 0xFFFF)), b.lshr(csum, _c(I32, 16)))
    return b.trunc(b.xor(csum, _c(I32, M32)), I16)


def _replace4(b: ir.IRBuilder, old16, frm, to):
    """csum_replace4: csum_fold(csum_add(csum_sub(~old, from), to)) (frm, to: i32)."""
    tmp = _csum_add(b, b.xor(b.zext(old16, I32), _c(I32, M32)), b.xor(frm, _c(I32, M32)))
    return _csum_fold(b, _csum_add(b, tmp, to))


def _replace_by_diff(b: ir.IRBuilder, old16, diff):
    """csum_replace_by_diff: csum_fold(csum_add(diff, ~old))."""
    return _csum_fold(b, _csum_add(b, diff, b.xor(b.zext(old16, I32), _c(I32, M32))))


def _replace2(b: ir.IRBuilder, old16, frm, to):
    """csum_replace2: ~csum16_add(csum16_add(~old, ~from), to) in 16 bits."""
    def add16(a, c):
        res = b.add(a, c)
        return b.add(res, b.zext(b.icmp_unsigned("<", res, c), I16))

    ones = _c(I16, 0xFFFF)
    return b.xor(add16(add16(b.xor(old16, ones), b.xor(frm, ones)), to), ones)


class _CsumHelper(_SkbHelper):
    """l3/l4_csum_replace: flags, the checksum's offset, the old sum, one new sum per size."""

    def __init__(self, module: ir.Module, name: str, allowed: int):
        super().__init__(module, name)
        e, b = self.e, self.e.b
        self.offset, self.frm, self.to, self.flags = b.and_(self.r2, _c(I64, M32)), self.r3, self.r4, self.r5
        e.branch_if(b.icmp_unsigned("!=", b.and_(self.flags, _c(I64, ~allowed)), _c(I64, 0)), self.invalid,
                    "flags_ok")
        odd = b.icmp_unsigned("!=", b.and_(self.offset, _c(I64, 1)), _c(I64, 0))
        e.branch_if(b.or_(b.icmp_unsigned(">", self.offset, _c(I64, 0xFFFF)), odd), self.fault, "offset_ok")
        e.branch_if(b.icmp_unsigned(">", b.add(self.offset, _c(I64, 2)), self.len), self.fault, "inside")
        self.where = b.add(self.data, self.offset)
        self.old = e.load(self.where, I16)
        self.size = b.and_(self.flags, _c(I64, BPF_F_HDR_FIELD_MASK))

    def by_size(self, sums) -> ir.Value:
        """The new sum chosen by the field size in flags: ``sums`` builds (size 0, 2, 4) in
        their own blocks; size 0 with a non-zero ``from`` and other sizes are -EINVAL."""
        e, b = self.e, self.e.b
        blocks = [e.block(f"size{n}") for n in (0, 2, 4)]
        join = e.block("sum")
        sw = b.switch(self.size, self.invalid)
        for n, block in zip((0, 2, 4), blocks, strict=True):
            sw.add_case(_c(I64, n), block)
        e.at(blocks[0])
        e.branch_if(b.icmp_unsigned("!=", self.frm, _c(I64, 0)), self.invalid, "diff")
        blocks[0] = b.block
        values = []
        for i, block in enumerate(blocks):
            if i:
                e.at(block)
            values.append(sums[i]())
            blocks[i] = b.block
            b.branch(join)
        e.at(join)
        new = b.phi(I16)
        for value, block in zip(values, blocks, strict=True):
            new.add_incoming(value, block)
        return new


def _lo32(b: ir.IRBuilder, v):
    return b.trunc(v, I32)


def build_l3_csum_replace(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_l3_csum_replace(skb, offset, from, to, flags)``."""
    h = _CsumHelper(module, "ebpf_native_l3_csum_replace", BPF_F_HDR_FIELD_MASK)
    e, b = h.e, h.e.b
    new = h.by_size((
        lambda: _replace_by_diff(b, h.old, _lo32(b, h.to)),
        lambda: _replace2(b, h.old, b.trunc(h.frm, I16), b.trunc(h.to, I16)),
        lambda: _replace4(b, h.old, _lo32(b, h.frm), _lo32(b, h.to)),
    ))
    e.store(new, h.where)
    e.ret(0)
    h.errors()
    return e.fn


def build_l4_csum_replace(module: ir.Module, shared: dict[str, ir.Function]) -> ir.Function:
    """``bpf_l4_csum_replace(skb, offset, from, to, flags)``: BPF_F_MARK_MANGLED_0 leaves a zero
    (unused UDP) checksum alone unless BPF_F_MARK_ENFORCE, and writes a new zero as 0xffff;
    a 2-byte field is summed in the 4-byte form (inet_proto_csum_replace2)."""
    h = _CsumHelper(module, "ebpf_native_l4_csum_replace", L4_FLAGS)
    e, b = h.e, h.e.b
    mangled0 = b.icmp_unsigned("!=", b.and_(h.flags, _c(I64, BPF_F_MARK_MANGLED_0)), _c(I64, 0))
    enforce = b.icmp_unsigned("!=", b.and_(h.flags, _c(I64, BPF_F_MARK_ENFORCE)), _c(I64, 0))
    unused = e.block("unused")
    skip = b.and_(b.and_(mangled0, b.not_(enforce)), b.icmp_unsigned("==", h.old, _c(I16, 0)))
    e.branch_if(skip, unused, "used")
    m16 = _c(I32, 0xFFFF)
    new = h.by_size((
        lambda: _replace_by_diff(b, h.old, _lo32(b, h.to)),
        lambda: _replace4(b, h.old, b.and_(_lo32(b, h.frm), m16), b.and_(_lo32(b, h.to), m16)),
        lambda: _replace4(b, h.old, _lo32(b, h.frm), _lo32(b, h.to)),
    ))
    zero = b.icmp_unsigned("==", new, _c(I16, 0))
    e.store(b.select(b.and_(mangled0, zero), _c(I16, CSUM_MANGLED_0), new), h.where)
    e.ret(0)
    e.at(unused)
    e.ret(0)
    h.errors()
    return e.fn


#: helper name -> builder, registered in jit/native.py's NATIVE_HELPERS (Linux only)
HELPERS = {
    "bpf_skb_load_bytes": build_skb_load_bytes,
    "bpf_skb_store_bytes": build_skb_store_bytes,
    "bpf_l3_csum_replace": build_l3_csum_replace,
    "bpf_l4_csum_replace": build_l4_csum_replace,
}
