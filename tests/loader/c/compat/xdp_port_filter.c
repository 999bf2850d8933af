/* A firewall in the libbpf style: IPv4 (with options) and IPv6, TCP flags
 * through the tcphdr bitfields and tcp_flag_word, UDP ports. Drops TCP SYNs
 * (without ACK) to port 23, UDP to port 9, and TCP segments with a data
 * offset below 5; counts dropped packets per IP protocol. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u8);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline int verdict_tcp(struct tcphdr *tcp, void *data_end)
{
	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (tcp->doff < 5)
		return XDP_DROP;
	/* the flag word and the bitfields must agree */
	if (!!(tcp_flag_word(tcp) & TCP_FLAG_SYN) != tcp->syn)
		return XDP_ABORTED;
	if (tcp->syn && !tcp->ack && tcp->dest == bpf_htons(23))
		return XDP_DROP;
	return XDP_PASS;
}

static __always_inline int verdict_udp(struct udphdr *udp, void *data_end)
{
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	return udp->dest == bpf_htons(9) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_port_filter(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	void *l4;
	__u8 proto;
	int verdict = XDP_PASS;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
			return XDP_PASS;
		proto = iph->protocol;
		l4 = (void *)iph + iph->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end || ip6h->version != 6)
			return XDP_PASS;
		proto = ip6h->nexthdr;
		l4 = ip6h + 1;
	} else {
		return XDP_PASS;
	}
	if (proto == IPPROTO_TCP)
		verdict = verdict_tcp(l4, data_end);
	else if (proto == IPPROTO_UDP)
		verdict = verdict_udp(l4, data_end);
	if (verdict == XDP_DROP) {
		__u64 one = 1, *count = bpf_map_lookup_elem(&drops, &proto);

		if (count)
			__sync_fetch_and_add(count, 1);
		else
			bpf_map_update_elem(&drops, &proto, &one, BPF_NOEXIST);
	}
	return verdict;
}

char _license[] SEC("license") = "GPL";
