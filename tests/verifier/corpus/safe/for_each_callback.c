#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 8); } counts SEC(".maps");
/* bpf_for_each_map_elem: the callback gets (map, key, value, ctx), reads
 * the key and updates the value in place, and stops at a key. */
struct acc { __u64 sum; __u32 stop_at; };

static long visit(void *map, __u32 *key, __u64 *value, void *data)
{
	struct acc *a = data;
	a->sum += *value;
	*value += 1;
	return *key == a->stop_at;
}

SEC("xdp") int for_each_callback(struct xdp_md *ctx)
{
	struct acc a = { .sum = 0, .stop_at = ctx->rx_queue_index };
	bpf_for_each_map_elem(&counts, visit, &a, 0);
	return a.sum & 1 ? XDP_DROP : XDP_PASS;
}
