#include "../common.h"
/* IPv4 header checksum over 10 16-bit words in a counted loop. */
SEC("xdp") int csum_loop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	__u16 *w = (void *)ip;
	__u32 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum ? XDP_DROP : XDP_PASS;
}
