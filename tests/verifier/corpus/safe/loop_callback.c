#include "../common.h"
/* bpf_loop: the callback sums the first bytes' indexes into a context on
 * the caller's stack and stops early; the callback is verified as a
 * function of (u32 index, void *ctx) returning 0 or 1. */
struct sum { __u64 total; __u32 limit; };

static long add_index(__u32 index, void *data)
{
	struct sum *s = data;
	if (index >= s->limit)
		return 1;
	s->total += index;
	return 0;
}

SEC("xdp") int loop_callback(struct xdp_md *ctx)
{
	struct sum s = { .total = 0, .limit = ctx->rx_queue_index & 15 };
	bpf_loop(32, add_index, &s, 0);
	return s.total > 100 ? XDP_DROP : XDP_PASS;
}
