/* A bounded loop over the first 16 payload bytes, each access checked. */
#include "../common.h"
SEC("xdp") int loop_packet_sum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 16; i++) {
		if ((void *)(p + i + 1) > end)
			break;
		sum += p[i];
	}
	return sum & 1 ? XDP_DROP : XDP_PASS;
}
