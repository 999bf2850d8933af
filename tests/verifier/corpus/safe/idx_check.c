/* Array index from the packet, bounded by a comparison before use. */
#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 1); } m SEC(".maps");
struct val { __u64 c[16]; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct val); __uint(max_entries, 1); } t SEC(".maps");
SEC("xdp") int idx_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if ((void *)(p + 20) > end) return XDP_PASS;
	__u32 idx = p[19];
	__u32 k = 0;
	struct val *v = bpf_map_lookup_elem(&t, &k);
	if (!v) return XDP_PASS;
	if (idx < 16)
		v->c[idx]++;
	return XDP_PASS;
}
