/* XDP metadata: grow it with bpf_xdp_adjust_meta, bound it against data, write it. */
#include "../common.h"
SEC("xdp") int meta(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_meta(ctx, -4))
		return XDP_PASS;
	void *data = (void *)(long)ctx->data;
	__u32 *m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > data)
		return XDP_PASS;
	*m = 42;
	return XDP_PASS;
}
