/* expect: packet_bounds -- the length check proves p[1..len] but the loop index is not tied to len (the kernel agrees). */
#include "../common.h"
/* A length read from the packet bounds a copy into a stack buffer. */
SEC("xdp") int var_len_copy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if ((void *)(p + 1) > end)
		return XDP_PASS;
	__u32 len = p[0] & 31;
	if ((void *)(p + 1 + len) > end)
		return XDP_PASS;
	__u8 buf[32] = {};
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < 32; i++) {
		if (i >= len)
			break;
		buf[i] = p[1 + i];
	}
	return buf[0] == 7 ? XDP_DROP : XDP_PASS;
}
