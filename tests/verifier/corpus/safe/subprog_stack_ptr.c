/* A function writing through a pointer into its caller's stack frame. */
#include "../common.h"
static __attribute__((noinline)) int fill(__u32 *out, __u32 v)
{
	out[0] = v;
	out[1] = v + 1;
	return 0;
}
SEC("xdp") int subprog_stack_ptr(struct xdp_md *ctx)
{
	__u32 pair[2];
	fill(pair, ctx->ingress_ifindex);
	return pair[0] + pair[1] > 10 ? XDP_DROP : XDP_PASS;
}
