#include "../common.h"
struct inner_map { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); };
struct inner_map per_queue SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} tables SEC(".maps") = { .values = { &per_queue } };
/* Map-in-map: the outer lookup gives an inner map (or NULL); after the NULL
 * check it is a map whose values are typed by the inner template. */
SEC("xdp") int map_in_map(struct xdp_md *ctx)
{
	__u32 outer = 0, slot = ctx->rx_queue_index & 3;
	void *inner = bpf_map_lookup_elem(&tables, &outer);
	if (!inner)
		return XDP_PASS;
	__u64 *count = bpf_map_lookup_elem(inner, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}
