/* expect: ctx_access -- ebpf-for-windows contexts are read-only. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

SEC("xdp") int win_xdp_ctx_write(xdp_md_t *ctx)
{
	ctx->ingress_ifindex = 0;
	return XDP_PASS;
}
