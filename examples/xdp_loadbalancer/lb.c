// SPDX-License-Identifier: MIT
/* An XDP layer-4 load balancer that forwards with IP-in-IP encapsulation.
 *
 * Packets to a virtual service (VIP, port, protocol) listed in `services`
 * are sent to one of the service's backends, chosen by a hash of the flow so
 * every packet of a connection reaches the same backend (as Katran does):
 *
 *   in:  Ether(client > lb) / IPv4(client > VIP, ttl=t) / TCP|UDP ...
 *   out: Ether(lb > backend) / IPv4(lb > backend, proto=4 IPIP) / IPv4(client > VIP, ttl=t-1) / ...
 *
 * bpf_xdp_adjust_head() grows the frame by 20 bytes at the front for the
 * outer header; the outer checksum is computed from scratch and the inner
 * one is updated incrementally for the TTL decrement (RFC 1624). The frame
 * goes back out of the interface it came in on (XDP_TX). Anything else
 * passes to the kernel's stack; packets whose TTL would expire pass too, so
 * the stack can answer with ICMP time-exceeded.
 *
 * Maps (the control plane fills them):
 *   services: {be32 vip; be16 port; u8 protocol; u8 pad} -> u32 backend count n
 *   backends: {be32 vip; be16 port; u8 protocol; u8 slot} -> {be32 ip; u8 mac[6]; u16 pad}, slot < n
 *   lb_config[0]: {be32 source; u8 mac[6]; u16 pad}: the outer source address and our MAC
 *
 * Build: ebpflite cc examples/xdp_loadbalancer/lb.c -o lb.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct ipv4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ports {
	__be16 source;
	__be16 dest;
};

#define ETH_P_IP	0x0800
#define IPPROTO_IPIP	4
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IP_DF		0x4000
#define MAX_BACKENDS	64

struct service_key {
	__be32 vip;
	__be16 port;
	__u8 protocol;
	__u8 slot; /* 0 in `services`; the backend's slot in `backends` */
};

struct backend {
	__be32 ip;
	__u8 mac[6];
	__u16 pad;
};

struct lb_config {
	__be32 source;
	__u8 mac[6];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct service_key);
	__type(value, __u32);
	__uint(max_entries, 64);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct service_key);
	__type(value, struct backend);
	__uint(max_entries, 64 * MAX_BACKENDS);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_config);
	__uint(max_entries, 1);
} lb_config SEC(".maps");

/* The flow hash (host-order inputs), simple enough to model in a test:
 * h = (saddr ^ (sport << 16 | dport) ^ protocol) * 0x9E3779B1; h ^= h >> 16. */
static __always_inline __u32 flow_hash(__u32 saddr, __u16 sport, __u16 dport, __u8 protocol)
{
	__u32 h = (saddr ^ ((__u32)sport << 16 | dport) ^ protocol) * 0x9E3779B1u;

	return h ^ (h >> 16);
}

/* The Internet checksum of a 20-byte IPv4 header (its check field zero). */
static __always_inline __u16 ipv4_checksum(struct ipv4_hdr *ip)
{
	__u16 *words = (__u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += words[i];
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return ~sum;
}

/* Decrement the TTL and patch the checksum (RFC 1624: HC' = ~(~HC + ~m + m')). */
static __always_inline void decrement_ttl(struct ipv4_hdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100); /* the TTL is the high byte of its 16-bit word */
	ip->check = (__sum16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	struct ipv4_hdr *ip = (void *)(eth + 1);
	struct service_key key = {};
	struct lb_config *cfg;
	struct backend *be;
	struct ports *l4;
	__u32 zero = 0, *count, hash;

	if ((void *)(ip + 1) > data_end || eth->proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ver_ihl != 0x45 || (ip->frag_off & bpf_htons(0x3FFF)))
		return XDP_PASS; /* options or fragments: leave them to the stack */
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	l4 = (void *)(ip + 1);
	if ((void *)(l4 + 1) > data_end)
		return XDP_PASS;

	key.vip = ip->daddr;
	key.port = l4->dest;
	key.protocol = ip->protocol;
	count = bpf_map_lookup_elem(&services, &key);
	if (!count || *count == 0 || *count > MAX_BACKENDS)
		return XDP_PASS;
	if (ip->ttl <= 1)
		return XDP_PASS;

	hash = flow_hash(bpf_ntohl(ip->saddr), bpf_ntohs(l4->source), bpf_ntohs(l4->dest), ip->protocol);
	key.slot = hash % *count;
	be = bpf_map_lookup_elem(&backends, &key);
	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!be || !cfg)
		return XDP_ABORTED;

	decrement_ttl(ip);

	/* Room for the outer header in front; every packet pointer is stale afterwards. */
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv4_hdr)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct eth_hdr *new_eth = data;
	struct ipv4_hdr *outer = (void *)(new_eth + 1);
	struct ipv4_hdr *inner = outer + 1;
	if ((void *)(inner + 1) > data_end)
		return XDP_ABORTED;

	__builtin_memcpy(new_eth->dst, be->mac, 6);
	__builtin_memcpy(new_eth->src, cfg->mac, 6);
	new_eth->proto = bpf_htons(ETH_P_IP);

	outer->ver_ihl = 0x45;
	outer->tos = inner->tos;
	outer->tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(*outer));
	outer->id = 0;
	outer->frag_off = bpf_htons(IP_DF);
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = cfg->source;
	outer->daddr = be->ip;
	outer->check = ipv4_checksum(outer);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
