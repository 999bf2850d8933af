/* xdp-tutorial packet03 style: answer ICMP echo requests in place (swap the
 * MAC and IP addresses, turn the request into a reply, fix the checksum
 * incrementally) and send them back with XDP_TX. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/icmp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 csum_fold_helper(__u32 csum)
{
	__u32 sum;

	sum = (csum >> 16) + (csum & 0xffff);
	sum += (sum >> 16);
	return ~sum;
}

/* RFC 1624 incremental update for a 16-bit word changing from old to new */
static __always_inline __u16 icmp_checksum_diff(__u16 seed, struct icmphdr *icmphdr_new,
						struct icmphdr *icmphdr_old)
{
	__u32 csum, size = sizeof(struct icmphdr);

	csum = bpf_csum_diff((__be32 *)icmphdr_old, size, (__be32 *)icmphdr_new, size, seed);
	return csum_fold_helper(csum);
}

static __always_inline void swap_src_dst_mac(struct ethhdr *eth)
{
	__u8 h_tmp[ETH_ALEN];

	__builtin_memcpy(h_tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, h_tmp, ETH_ALEN);
}

static __always_inline void swap_src_dst_ipv4(struct iphdr *iphdr)
{
	__be32 tmp = iphdr->saddr;

	iphdr->saddr = iphdr->daddr;
	iphdr->daddr = tmp;
}

SEC("xdp")
int xdp_icmp_echo_func(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct icmphdr *icmph;
	struct icmphdr icmphdr_old;
	__u16 old_csum;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl != 5 || iph->protocol != IPPROTO_ICMP)
		return XDP_PASS;
	icmph = (void *)(iph + 1);
	if ((void *)(icmph + 1) > data_end || icmph->type != ICMP_ECHO)
		return XDP_PASS;

	swap_src_dst_ipv4(iph);
	swap_src_dst_mac(eth);

	old_csum = icmph->checksum;
	icmph->checksum = 0;
	icmphdr_old = *icmph;
	icmph->type = ICMP_ECHOREPLY;
	icmph->checksum = icmp_checksum_diff(~old_csum, icmph, &icmphdr_old);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
