/* expect: null_deref -- a global function dereferences its pointer argument without a NULL check; the kernel verifies global functions on their own, where that pointer may be NULL, whatever the callers pass. */
#include "../common.h"

__noinline int first_word(__u32 *words)
{
	return *words;
}

SEC("xdp") int global_arg_unchecked(struct xdp_md *ctx)
{
	__u32 queue = ctx->rx_queue_index;

	return first_word(&queue) & 1;
}
