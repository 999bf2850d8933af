#include "../common.h"
/* After bpf_xdp_adjust_head/adjust_meta on different paths the context and
 * packet pointers live in different registers; the paths meet before the
 * metadata write (tests/kernel/progs/xdp_adjust.c, which the kernel accepts). */
SEC("xdp") int adjust_meta_paths(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 14 > end)
		return XDP_ABORTED;
	unsigned char op = *(unsigned char *)data;
	int delta = *((signed char *)data + 1);

	if (op == 1) {
		if (bpf_xdp_adjust_head(ctx, -8))
			return XDP_DROP;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (data + 8 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, "TAGTAG!!", 8);
		return XDP_PASS;
	}
	if (op == 2)
		return bpf_xdp_adjust_head(ctx, delta * 4) ? XDP_DROP : XDP_PASS;
	if (op == 4) {
		if (bpf_xdp_adjust_meta(ctx, -8))
			return XDP_DROP;
		void *meta = (void *)(long)ctx->data_meta;
		data = (void *)(long)ctx->data;
		if (meta + 8 > data)
			return XDP_ABORTED;
		__builtin_memcpy(meta, "METAMETA", 8);
		return XDP_PASS;
	}
	if (op == 6)
		return bpf_xdp_adjust_head(ctx, -(delta * 8)) ? XDP_DROP : XDP_PASS;
	return XDP_PASS;
}
