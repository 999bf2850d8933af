/* expect: stack_depth -- two frames of 320 bytes exceed the 512-byte combined stack. */
#include "../common.h"
static __attribute__((noinline)) int inner(__u32 v)
{
	volatile __u8 buf[320];
	__builtin_memset((void *)buf, v, sizeof(buf));
	return buf[v & 255];
}
SEC("xdp") int stack_too_deep(struct xdp_md *ctx)
{
	volatile __u8 buf[320];
	__builtin_memset((void *)buf, 1, sizeof(buf));
	return inner(ctx->rx_queue_index) + buf[ctx->ingress_ifindex & 255];
}
