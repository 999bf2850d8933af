/* A tail call through a program array, falling back to PASS. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 4);
} jump_table SEC(".maps");

SEC("xdp") int tail_call(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump_table, ctx->rx_queue_index & 3);
	return XDP_PASS;
}
