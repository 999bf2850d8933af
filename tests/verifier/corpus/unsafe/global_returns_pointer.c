/* expect: global_func -- a global (non-static) function returns a pointer; the kernel verifies global functions on their own and only allows them to return a number. */
#include "../common.h"
__u32 counters[2];

__noinline __u32 *counter_for(__u32 index)
{
	return &counters[index & 1];
}

SEC("xdp") int global_returns_pointer(struct xdp_md *ctx)
{
	__u32 *counter = counter_for(ctx->ingress_ifindex);

	return *counter ? XDP_PASS : XDP_DROP;
}
