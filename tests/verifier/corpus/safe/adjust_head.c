/* bpf_xdp_adjust_head invalidates packet pointers: reload and re-check them. */
#include "../common.h"
SEC("xdp") int adjust_head(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 *tag = data;
	if ((void *)(tag + 1) > end)
		return XDP_ABORTED;
	*tag = 0x12345678;
	return XDP_TX;
}
