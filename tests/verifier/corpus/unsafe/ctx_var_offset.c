/* expect: ctx_access -- reads a context field at a variable offset. */
#include "../common.h"
SEC("xdp") int ctx_var_offset(struct xdp_md *ctx)
{
	__u32 i = ctx->rx_queue_index & 1;
	return ((__u32 *)ctx)[3 + i] ? XDP_PASS : XDP_DROP;
}
