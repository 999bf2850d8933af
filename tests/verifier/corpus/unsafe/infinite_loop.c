/* expect: termination -- the Collatz loop has no bound the verifier can see. */
#include "../common.h"
SEC("xdp") int infinite_loop(struct xdp_md *ctx)
{
	volatile __u64 x = ctx->ingress_ifindex;
	while (x != 1)
		x = (x & 1) ? 3 * x + 1 : x / 2;
	return XDP_PASS;
}
