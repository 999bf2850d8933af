#include "../common.h"
/* TCP options: walk up to 10 options looking for MSS (kind 2). */
SEC("xdp") int tcp_opts(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	__u8 *opt = (void *)(tcp + 1);
	__u32 mss = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 10; i++) {
		if ((void *)(opt + 1) > end)
			break;
		__u8 kind = *opt;
		if (kind == 0)
			break;
		if (kind == 1) { opt++; continue; }
		if ((void *)(opt + 2) > end)
			break;
		__u8 len = opt[1];
		if (kind == 2 && len == 4) {
			if ((void *)(opt + 4) > end)
				break;
			mss = (opt[2] << 8) | opt[3];
			break;
		}
		if (len < 2)
			break;
		opt += len;
	}
	return mss > 1400 ? XDP_DROP : XDP_PASS;
}
