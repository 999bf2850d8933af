/* expect: map_type -- bpf_tail_call is given an array map instead of a prog array (the kernel: "cannot pass map_type 2 into func bpf_tail_call"). */
#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32); __uint(max_entries, 4); } jumps SEC(".maps");

SEC("xdp") int tail_call_not_prog_array(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jumps, 0);
	return XDP_PASS;
}
