/* Hash map keyed by the IPv4 source address, updated from the packet. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} seen SEC(".maps");

SEC("xdp") int hash_update(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	__u32 key = ip->saddr;
	__u64 *v = bpf_map_lookup_elem(&seen, &key);
	if (v) {
		*v += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
	}
	return XDP_PASS;
}
