/* expect: packet_bounds -- checks the Ethernet header, then reads the IPv4 header. */
#include "../common.h"
SEC("xdp") int pkt_off_by_one(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	struct iphdr *ip = (void *)(eth + 1);
	return ip->ttl ? XDP_PASS : XDP_DROP;
}
