/* Every map type and helper an XDP program uses in replay, chosen per packet.
 *
 * The low four bits of byte 11 (the last byte of the source MAC, which the
 * test captures vary) pick what the packet does, so one capture exercises
 * every case: each action, adjust_head/tail/meta (at their limits: bytes
 * 12 and 13 give the deltas), bpf_redirect and bpf_redirect_map through a
 * devmap, devmap_hash, cpumap and xskmap (present and empty slots, the
 * flags' fallback), LPM and LRU lookups (tiny LRU maps, so they evict),
 * array/hash-of-maps lookups, ring buffer output and reserve/submit/discard,
 * perf event samples (with packet bytes),
 * the clock helpers, the seeded generator, the CPU, csum_diff and
 * load/store_bytes, tail calls (a chain, a self call to the limit, an empty
 * slot). Every case counts what it saw in `seen`, so a
 * difference shows in the maps as well as in the verdicts and packets.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
	 __uint(max_entries, 64); } seen SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __type(key, struct lpm_key); __type(value, __u32);
	 __uint(max_entries, 16); __uint(map_flags, BPF_F_NO_PREALLOC); } prefixes SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __type(key, __u32); __type(value, __u64);
	 __uint(max_entries, 8); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH); __type(key, __u16); __type(value, __u64);
	 __uint(max_entries, 4); } flows_cpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u32);
	 __uint(max_entries, 32); } table SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __type(key, __u32); __type(value, __u32);
	 __uint(max_entries, 8); } ports SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP_HASH); __type(key, __u32); __type(value, __u32);
	 __uint(max_entries, 8); } ports_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_CPUMAP); __type(key, __u32); __type(value, __u32);
	 __uint(max_entries, 4); } cpus SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_XSKMAP); __type(key, __u32); __type(value, __u32);
	 __uint(max_entries, 4); } sockets SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4);
	 __uint(max_entries, 4); } samples SEC(".maps");

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
	       __uint(max_entries, 4); } inner0 SEC(".maps"), inner1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __type(key, __u32); __uint(max_entries, 4);
	 __array(values, struct inner); } outer_array SEC(".maps") = { .values = { &inner0, &inner1 } };
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __type(key, __u32); __uint(max_entries, 4);
	 __array(values, struct inner); } outer_hash SEC(".maps");

int xdp_tail_a(struct xdp_md *ctx);
int xdp_tail_b(struct xdp_md *ctx);
int xdp_world(struct xdp_md *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __type(key, __u32); __uint(max_entries, 4);
	 __array(values, int (struct xdp_md *)); } jumps SEC(".maps") = { .values = { &xdp_tail_a, &xdp_tail_b, &xdp_world } };

static __always_inline void count(__u32 slot, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&seen, &slot);
	if (v)
		*v += by;
}

SEC("xdp")
int xdp_world(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if (data + 16 > data_end)
		return XDP_ABORTED;
	__u32 op = p[11] & 15;
	int d1 = (signed char)p[12];
	int d2 = (signed char)p[13];
	__u32 key = p[10];
	long rc;

	count(op, 1);
	switch (op) {
	case 0:
		return XDP_DROP;
	case 1:
		return XDP_TX;
	case 2:                       /* grow the head by up to 254*4 bytes: fails past the limit */
		rc = bpf_xdp_adjust_head(ctx, -(d1 & 0xff) * 4);
		count(16, rc == 0);
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		if (data + 4 <= data_end)
			__builtin_memcpy(data, "HEAD", 4);
		return XDP_PASS;
	case 3:                       /* shrink the head; move the tail either way */
		rc = bpf_xdp_adjust_head(ctx, (d1 & 0x3f));
		count(17, rc == 0);
		rc = bpf_xdp_adjust_tail(ctx, d2 * 16);
		count(18, rc == 0);
		return rc ? XDP_DROP : XDP_TX;
	case 4:                       /* metadata of any size: -EINVAL, -EACCES or room for it */
		rc = bpf_xdp_adjust_meta(ctx, d1);
		count(19, rc == 0);
		count(20, rc == -13);
		if (!rc) {
			__u8 *meta = (void *)(long)ctx->data_meta;
			data = (void *)(long)ctx->data;
			if ((void *)(meta + 4) <= data)
				__builtin_memcpy(meta, "META", 4);
		}
		return XDP_PASS;
	case 5:
		return bpf_redirect(key & 3, d1 & 1);
	case 6:
		return bpf_redirect_map(&ports, key & 7, d1 & 3);
	case 7:
		return bpf_redirect_map(&ports_hash, key & 7, XDP_DROP);
	case 8:
		return bpf_redirect_map(key & 1 ? &cpus : &sockets, key & 3, XDP_PASS);
	case 9: {                     /* LPM on the first four bytes of the destination MAC */
		struct lpm_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, p, 4);
		__u32 *v = bpf_map_lookup_elem(&prefixes, &k);
		count(21, v ? *v : 99);
		return v ? XDP_DROP : XDP_PASS;
	}
	case 10: {                    /* LRU: look up, insert, evict */
		__u32 k = key & 15;
		__u64 *v = bpf_map_lookup_elem(&flows, &k);
		if (v) {
			*v += 1;
			count(22, 1);
		} else {
			__u64 one = 1;
			count(23, bpf_map_update_elem(&flows, &k, &one, BPF_NOEXIST) == 0);
		}
		__u16 k2 = key & 7;
		__u64 *c = bpf_map_lookup_elem(&flows_cpu, &k2);
		if (c)
			*c += bpf_get_smp_processor_id() + 1;
		else {
			__u64 ten = 10;
			bpf_map_update_elem(&flows_cpu, &k2, &ten, BPF_ANY);
		}
		return XDP_PASS;
	}
	case 11: {                    /* maps of maps */
		__u32 slot = key & 3;
		void *inner = bpf_map_lookup_elem(key & 4 ? (void *)&outer_hash : (void *)&outer_array, &slot);
		if (!inner)
			return XDP_DROP;
		__u32 zero = 0;
		__u64 *v = bpf_map_lookup_elem(inner, &zero);
		if (v)
			*v += 1;
		return XDP_PASS;
	}
	case 12: {                    /* ring buffer: output, or reserve then submit/discard */
		__u64 stamp = bpf_ktime_get_ns();
		if (key & 1)
			return bpf_ringbuf_output(&events, &stamp, sizeof(stamp), 0) ? XDP_DROP : XDP_PASS;
		__u64 *rec = bpf_ringbuf_reserve(&events, 40, 0);  /* 48-byte records: some straddle the ring's end */
		if (!rec)
			return XDP_ABORTED;
		rec[0] = stamp;
		rec[1] = bpf_ktime_get_boot_ns();
		rec[2] = bpf_get_prandom_u32();
		if (key & 2)
			bpf_ringbuf_discard(rec, 0);
		else
			bpf_ringbuf_submit(rec, 0);
		return XDP_PASS;
	}
	case 13: {                    /* clocks and random numbers into the counters */
		count(24, bpf_ktime_get_ns() & 0xffff);
		count(25, bpf_ktime_get_coarse_ns() & 0xffffff);
		count(26, bpf_ktime_get_tai_ns() & 0xffff);
		count(27, bpf_jiffies64());
		count(28, bpf_get_prandom_u32());
		__u32 k = bpf_get_prandom_u32() & 31;
		__u32 v = bpf_get_smp_processor_id();
		bpf_map_update_elem(&table, &k, &v, BPF_ANY);
		/* a perf sample with up to 63 packet bytes: -EFAULT past the packet, -E2BIG for index 7 */
		__u64 stamp = bpf_ktime_get_ns();
		__u64 flags = (key & 128 ? 7 : BPF_F_CURRENT_CPU) | ((__u64)(p[12] & 63) << 32);
		count(34, bpf_perf_event_output(ctx, &samples, flags, &stamp, sizeof(stamp)) + 100);
		return XDP_PASS;
	}
	case 14: {                    /* checksum of the first 8 bytes and load/store_bytes */
		__u8 buf[8];
		if (bpf_xdp_load_bytes(ctx, 2, buf, 8))
			return XDP_ABORTED;
		count(29, bpf_csum_diff((void *)buf, 4, (void *)buf + 4, 4, d1));
		__u32 len = bpf_xdp_get_buff_len(ctx);
		count(30, len);
		if (bpf_xdp_store_bytes(ctx, len - 8, buf, 8))
			return XDP_DROP;
		return XDP_TX;
	}
	default:                      /* tail calls: two targets, this program itself (to the limit), an empty slot */
		bpf_tail_call(ctx, &jumps, key & 3);   /* returns only when it fails (void, as in the kernel) */
		count(31, 1);
		return d1 & 1 ? XDP_ABORTED : 7;   /* an action the kernel does not name */
	}
}

SEC("xdp")
int xdp_tail_a(struct xdp_md *ctx)
{
	count(32, 1);
	if (bpf_xdp_adjust_head(ctx, -8))
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + 8 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, "TAILCALL", 8);
	return XDP_TX;
}

SEC("xdp")
int xdp_tail_b(struct xdp_md *ctx)
{
	count(33, 1);
	bpf_tail_call(ctx, &jumps, 0);    /* a chain: on to xdp_tail_a */
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
