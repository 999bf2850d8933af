/* A loop filling and summing a stack array. */
#include "../common.h"
SEC("xdp") int loop_stack(struct xdp_md *ctx)
{
	volatile __u32 buf[32];
	__u32 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 32; i++)
		buf[i] = i * ctx->rx_queue_index;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 32; i++)
		sum += buf[i];
	return sum > 100 ? XDP_DROP : XDP_PASS;
}
