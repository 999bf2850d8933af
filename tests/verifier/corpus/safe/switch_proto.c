/* A switch over the L4 protocol with a per-protocol counter index. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} proto_count SEC(".maps");

SEC("xdp") int switch_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	__u32 key;
	switch (ip->protocol) {
	case IPPROTO_TCP: key = 0; break;
	case IPPROTO_UDP: key = 1; break;
	case 1: key = 2; break;
	default: key = 3;
	}
	__u64 *c = bpf_map_lookup_elem(&proto_count, &key);
	if (c)
		*c += 1;
	return XDP_PASS;
}
