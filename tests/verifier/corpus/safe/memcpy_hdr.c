#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, struct ethhdr); __type(value, __u64); __uint(max_entries, 64); } macs SEC(".maps");
/* Copy the Ethernet header into a stack key with __builtin_memcpy; use it as a hash key. */
SEC("xdp") int memcpy_hdr(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > end)
		return XDP_PASS;
	struct ethhdr key;
	__builtin_memcpy(&key, data, sizeof(key));
	__u64 *n = bpf_map_lookup_elem(&macs, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}
