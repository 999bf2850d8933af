/* expect: helper_arg -- passes a number where the helper wants a key pointer. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} m SEC(".maps");
SEC("xdp") int helper_number_as_key(struct xdp_md *ctx)
{
	return bpf_map_lookup_elem(&m, (void *)(long)ctx->rx_queue_index) ? XDP_PASS : XDP_DROP;
}
