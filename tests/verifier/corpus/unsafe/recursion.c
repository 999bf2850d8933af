/* expect: cfg -- two functions calling each other. */
#include "../common.h"
static __attribute__((noinline)) int pong(int n);
static __attribute__((noinline)) int ping(int n)
{
	return n <= 0 ? 0 : pong(n - 1) * 3 + 1;
}
static __attribute__((noinline)) int pong(int n)
{
	return n <= 0 ? 1 : ping(n - 1) * 5 + 2;
}
SEC("xdp") int recursion(struct xdp_md *ctx)
{
	return ping(ctx->rx_queue_index & 3) & 1 ? XDP_PASS : XDP_DROP;
}
