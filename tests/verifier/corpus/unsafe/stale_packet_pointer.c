/* expect: deref_number -- uses a packet pointer after bpf_xdp_adjust_head. */
#include "../common.h"
SEC("xdp") int stale_packet_pointer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if ((void *)(p + 1) > end)
		return XDP_PASS;
	bpf_xdp_adjust_head(ctx, 0);
	return *p ? XDP_PASS : XDP_DROP;
}
