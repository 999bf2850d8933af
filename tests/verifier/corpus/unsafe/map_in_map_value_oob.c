/* expect: map_bounds -- reads past the 8-byte value of the inner map (typed by the template). */
#include "../common.h"
struct inner_map { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); };
struct inner_map per_queue SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} tables SEC(".maps") = { .values = { &per_queue } };

SEC("xdp") int map_in_map_value_oob(struct xdp_md *ctx)
{
	__u32 outer = 0, slot = 0;
	void *inner = bpf_map_lookup_elem(&tables, &outer);
	if (!inner)
		return XDP_PASS;
	__u64 *count = bpf_map_lookup_elem(inner, &slot);
	if (count)
		return count[1] ? XDP_DROP : XDP_PASS;
	return XDP_PASS;
}
