/* expect: unbounded_offset -- indexes a stack array with an unchecked number. */
#include "../common.h"
SEC("xdp") int stack_index_unbounded(struct xdp_md *ctx)
{
	volatile __u8 buf[64];
	__builtin_memset((void *)buf, 0, sizeof(buf));
	return buf[ctx->rx_queue_index] ? XDP_PASS : XDP_DROP;
}
