#include "../common.h"
/* IPv6 extension headers: skip up to 4 hop-by-hop/routing/dest-opts headers. */
SEC("xdp") int ipv6_ext(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	__u8 next = ip6->nexthdr;
	__u8 *cur = (void *)(ip6 + 1);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (next != 0 && next != 43 && next != 60)
			break;
		if ((void *)(cur + 2) > end)
			return XDP_DROP;
		next = cur[0];
		cur += (cur[1] + 1) * 8;
	}
	if (next != IPPROTO_UDP)
		return XDP_PASS;
	struct udphdr *udp = (void *)cur;
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	return udp->dest == bpf_htons(53) ? XDP_DROP : XDP_PASS;
}
