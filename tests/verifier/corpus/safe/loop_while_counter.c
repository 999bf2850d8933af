/* A while loop that can leave early on data but runs at most 64 times. */
#include "../common.h"
SEC("xdp") int loop_while_counter(struct xdp_md *ctx)
{
	__u32 x = ctx->ingress_ifindex, n = 0;
#pragma clang loop unroll(disable)
	while (n < 64 && x) {
		x >>= 1;
		n++;
	}
	return n > 3 ? XDP_PASS : XDP_DROP;
}
