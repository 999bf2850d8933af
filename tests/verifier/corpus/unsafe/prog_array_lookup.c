/* expect: map_type -- a prog array is read with bpf_map_lookup_elem; the kernel only lets bpf_tail_call use it. */
#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __type(key, __u32); __type(value, __u32); __uint(max_entries, 4); } jumps SEC(".maps");

SEC("xdp") int prog_array_lookup(struct xdp_md *ctx)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&jumps, &key) ? XDP_DROP : XDP_PASS;
}
