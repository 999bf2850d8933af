/* expect: uninit_stack -- passes an uninitialised key to a map lookup. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 16);
} m SEC(".maps");
SEC("xdp") int uninit_stack_key(struct xdp_md *ctx)
{
	__u64 key;
	*(__u32 *)&key = ctx->rx_queue_index; /* only half of the key is written */
	return bpf_map_lookup_elem(&m, &key) ? XDP_PASS : XDP_DROP;
}
