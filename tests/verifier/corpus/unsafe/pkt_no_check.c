/* expect: packet_bounds -- reads the packet without any bounds check. */
#include "../common.h"
SEC("xdp") int pkt_no_check(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	return eth->h_proto == bpf_htons(ETH_P_IP) ? XDP_PASS : XDP_DROP;
}
