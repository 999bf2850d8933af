/* expect: unreleased -- a reserved ring buffer record is neither submitted nor discarded on one path. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp") int ringbuf_leak(struct xdp_md *ctx)
{
	__u32 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return XDP_PASS;
	*e = ctx->ingress_ifindex;
	if (ctx->rx_queue_index == 0)
		return XDP_DROP; /* leaks the record */
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
