/* expect: null_deref -- uses a map lookup result without a NULL check. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} m SEC(".maps");
SEC("xdp") int map_null(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index;
	__u64 *v = bpf_map_lookup_elem(&m, &key);
	*v += 1;
	return XDP_PASS;
}
