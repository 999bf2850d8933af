/* UDP: count packets per destination port (low byte) in an array map. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 256);
} port_count SEC(".maps");

SEC("xdp") int xdp_udp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	__u32 key = bpf_ntohs(udp->dest) & 0xff;
	__u64 *count = bpf_map_lookup_elem(&port_count, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}
