/* bpf_printk: the format string lives in read-only data. */
#include "../common.h"
SEC("xdp") int printk(struct xdp_md *ctx)
{
	bpf_printk("queue %u", ctx->rx_queue_index);
	return XDP_PASS;
}
