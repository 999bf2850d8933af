/* Indexing an array inside a map value with a masked (bounded) index. */
#include "../common.h"
struct table { __u32 slots[16]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct table);
	__uint(max_entries, 1);
} tables SEC(".maps");

SEC("xdp") int map_array_index(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct table *t = bpf_map_lookup_elem(&tables, &key);
	if (!t)
		return XDP_PASS;
	__u32 i = ctx->rx_queue_index & 15;
	t->slots[i] += 1;
	return XDP_PASS;
}
