/* expect: global_func -- a global function takes a void *, whose size the kernel cannot determine. */
#include "../common.h"

__noinline int is_set(void *p)
{
	return p != 0;
}

SEC("xdp") int global_arg_void_pointer(struct xdp_md *ctx)
{
	return is_set(ctx) ? XDP_PASS : XDP_DROP;
}
