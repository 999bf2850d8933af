#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32); __uint(max_entries, 4); } mode SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 1); } drops SEC(".maps");
/* `p && *p == X`: the paths where p is NULL and where it points to a value
 * meet before p is used again; each keeps its own type. */
SEC("xdp") int null_or_value_join(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index & 3, zero = 0;
	__u32 *m = bpf_map_lookup_elem(&mode, &key);
	__u64 *d;

	if (m && *m == 1)
		return XDP_DROP;
	d = bpf_map_lookup_elem(&drops, &zero);
	if (d)
		*d += 1;
	if (m)
		return *m == 2 ? XDP_TX : XDP_PASS;
	return XDP_PASS;
}
