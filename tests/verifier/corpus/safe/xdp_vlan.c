/* Ethernet with up to two VLAN tags (802.1Q / 802.1ad), then the IPv4 TTL. */
#include "../common.h"
SEC("xdp") int xdp_vlan(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u16 proto = eth->h_proto;
	void *cur = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = cur;
		if ((void *)(vh + 1) > end)
			return XDP_DROP;
		proto = vh->proto;
		cur = vh + 1;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = cur;
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	return ip->ttl <= 1 ? XDP_DROP : XDP_PASS;
}
