/* A non-inlined function called twice with numbers. */
#include "../common.h"
static __attribute__((noinline)) __u32 mix(__u32 a, __u32 b)
{
	return (a * 31) ^ (b >> 3);
}
SEC("xdp") int subprog(struct xdp_md *ctx)
{
	__u32 h = mix(ctx->ingress_ifindex, ctx->rx_queue_index);
	h = mix(h, 7);
	return h & 1 ? XDP_PASS : XDP_DROP;
}
