/* expect: ctx_access -- writes a read-only xdp_md field. */
#include "../common.h"
SEC("xdp") int ctx_write_readonly(struct xdp_md *ctx)
{
	ctx->ingress_ifindex = 1;
	return XDP_PASS;
}
