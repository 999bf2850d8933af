/* IPv6: drop hop-limit-expired packets and ICMPv6 echo to a fixed prefix byte. */
#include "../common.h"
SEC("xdp") int xdp_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end)
		return XDP_DROP;
	if (ip6->hop_limit <= 1)
		return XDP_DROP;
	if (ip6->nexthdr == 58 && ip6->daddr[0] == 0xff)
		return XDP_DROP;
	return XDP_PASS;
}
