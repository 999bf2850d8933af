/* Per-CPU array counter with a struct value. */
#include "../common.h"
struct stats { __u64 packets; __u64 bytes; };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 1);
} stats SEC(".maps");

SEC("xdp") int percpu_counter(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct stats *s = bpf_map_lookup_elem(&stats, &key);
	if (!s)
		return XDP_ABORTED;
	s->packets++;
	s->bytes += ctx->data_end - ctx->data;
	return XDP_PASS;
}
