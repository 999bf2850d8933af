/* expect: ctx_access -- reads past the end of xdp_md (24 bytes). */
#include "../common.h"
SEC("xdp") int ctx_out_of_range(struct xdp_md *ctx)
{
	return ((volatile __u32 *)ctx)[8] ? XDP_PASS : XDP_DROP;
}
