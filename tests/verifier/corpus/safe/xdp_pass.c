/* The smallest XDP program: pass everything. */
#include "../common.h"
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
