/* expect: global_func -- a global function returns void; the kernel (6.18) requires global functions to return a number. */
#include "../common.h"
__u32 seen;

__noinline void count(struct xdp_md *ctx)
{
	seen += ctx->ingress_ifindex;
}

SEC("xdp") int global_returns_void(struct xdp_md *ctx)
{
	count(ctx);
	return XDP_PASS;
}
