/* A global (non-static) function returning a number: the kernel verifies it on its own, which it may. */
#include "../common.h"

__noinline int scaled(__u32 value)
{
	return (value & 0xff) * 3;
}

SEC("xdp") int global_function(struct xdp_md *ctx)
{
	return scaled(ctx->ingress_ifindex) > 300 ? XDP_DROP : XDP_PASS;
}
