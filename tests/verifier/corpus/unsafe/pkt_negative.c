/* expect: packet_bounds -- reads before the start of the packet. */
#include "../common.h"
SEC("xdp") int pkt_negative(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if ((void *)(p + 8) > end)
		return XDP_PASS;
	return *(volatile __u8 *)(p - 1);
}
