/* expect: helper_arg -- uses the inner map from a map-in-map lookup without checking it for NULL. */
#include "../common.h"
struct inner_map { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); };
struct inner_map per_queue SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} tables SEC(".maps") = { .values = { &per_queue } };

SEC("xdp") int map_in_map_null(struct xdp_md *ctx)
{
	__u32 outer = 0, slot = 0;
	void *inner = bpf_map_lookup_elem(&tables, &outer);
	__u64 *count = bpf_map_lookup_elem(inner, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}
