/* expect: return_range -- a bpf_loop callback must return 0 (continue) or 1 (stop), not 2. */
#include "../common.h"
static long step(__u32 index, void *data)
{
	return index == 3 ? 2 : 0;
}

SEC("xdp") int callback_return_range(struct xdp_md *ctx)
{
	bpf_loop(8, step, 0, 0);
	return XDP_PASS;
}
