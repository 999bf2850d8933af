#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 64); } by_src SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 64); } by_dst SEC(".maps");
/* Count by source or destination address. clang merges the two lookups into
 * one call whose r1 is "by_src or by_dst": the paths must keep their maps
 * apart (a join would make r1 a mixed value). */
SEC("xdp") int join_two_maps(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u64 *n;
	__u32 addr;

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	if (ip->tos & 1) {
		addr = ip->saddr;
		n = bpf_map_lookup_elem(&by_src, &addr);
	} else {
		addr = ip->daddr;
		n = bpf_map_lookup_elem(&by_dst, &addr);
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}
