/* Passes a half-initialised key to a map lookup: the kernel lets privileged programs read stack they
   never wrote (allow_uninit_stack), so it loads; ebpflite accepts it with a note (PREVAIL refuses it:
   windows/unsafe/win_uninit_stack_key.c). */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 16);
} m SEC(".maps");
SEC("xdp") int uninit_stack_key(struct xdp_md *ctx)
{
	__u64 key;
	*(__u32 *)&key = ctx->rx_queue_index; /* only half of the key is written */
	return bpf_map_lookup_elem(&m, &key) ? XDP_PASS : XDP_DROP;
}
