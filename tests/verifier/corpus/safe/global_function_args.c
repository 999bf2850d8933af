/* Global functions with the arguments the kernel allows: the context, a number, and a pointer the function checks for NULL before using (it may write through it). */
#include "../common.h"

__noinline int queue_of(struct xdp_md *ctx, __u32 scale, __u32 *out)
{
	__u32 queue = ctx->rx_queue_index * scale;

	if (!out)
		return 0;
	*out = queue;
	return queue > 8;
}

SEC("xdp") int global_function_args(struct xdp_md *ctx)
{
	__u32 queue = 0;

	if (queue_of(ctx, 2, &queue))
		return XDP_DROP;
	return queue == 4 ? XDP_TX : XDP_PASS;
}
