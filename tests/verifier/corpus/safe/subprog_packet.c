/* A function parsing the packet: the packet pointers travel in arguments. */
#include "../common.h"
static __attribute__((noinline)) int is_ipv4(void *data, void *end)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return 0;
	return eth->h_proto == bpf_htons(ETH_P_IP);
}
SEC("xdp") int subprog_packet(struct xdp_md *ctx)
{
	return is_ipv4((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? XDP_PASS : XDP_DROP;
}
