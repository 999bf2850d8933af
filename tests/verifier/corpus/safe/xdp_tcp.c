/* TCP: drop SYNs to port 23. */
#include "../common.h"
SEC("xdp") int xdp_tcp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (tcp->syn && !tcp->ack && tcp->dest == bpf_htons(23))
		return XDP_DROP;
	return XDP_PASS;
}
