/* expect: pointer_arith -- shifts a packet pointer (only add and sub work on pointers). */
#include "../common.h"
SEC("xdp") int pointer_mul(struct xdp_md *ctx)
{
	volatile long x = (long)(void *)(long)ctx->data;
	return (x >> 3) & 1;
}
