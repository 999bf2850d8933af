/* IPv4 with options: the L4 header sits ihl*4 bytes in (a variable packet offset). */
#include "../common.h"
SEC("xdp") int xdp_ipv4_options(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	__u32 hlen = ip->ihl * 4;
	if (hlen < sizeof(*ip))
		return XDP_DROP;
	struct udphdr *udp = (void *)ip + hlen;
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	return udp->dest == bpf_htons(53) ? XDP_DROP : XDP_PASS;
}
