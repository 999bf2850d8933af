// SPDX-License-Identifier: MIT
/* An XDP firewall: source block lists, per-port policy and per-CPU counters.
 *
 * For each frame it:
 *   1. walks the Ethernet header and up to two VLAN tags (802.1Q, 802.1ad);
 *   2. parses IPv4 (honouring the IHL) or IPv6 (skipping hop-by-hop, routing,
 *      destination-options and fragment extension headers);
 *   3. drops the frame if its source address matches a prefix in the
 *      `blocklist_v4` / `blocklist_v6` LPM tries (the matched entry's value
 *      counts the drops it caused);
 *   4. looks the (protocol, destination port) pair up in `port_policy` and
 *      applies the action found there (XDP_DROP or XDP_PASS);
 *   5. counts packets and bytes per action (`action_stats`) and per
 *      destination port (`port_stats`) in per-CPU arrays, which need no
 *      atomic operations: each CPU has its own copy.
 * Frames too short for the headers they announce are dropped (and counted
 * as drops); frames that are neither IPv4 nor IPv6 (ARP...) pass.
 *
 * Build: ebpflite cc examples/xdp_firewall/firewall.c -o firewall.o
 * (or: clang -target bpf -O2 -g -I include -c firewall.c -o firewall.o)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The wire headers this program reads, spelled out so the example needs no
 * kernel headers. All multi-byte fields are in network byte order. */
struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto; /* the EtherType of what follows the tag */
};

struct ipv4_hdr {
	__u8 ver_ihl; /* version (4 bits), header length in 32-bit words (4 bits) */
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off; /* flags (3 bits), fragment offset (13 bits) */
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6_hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The first two bytes of every IPv6 extension header we skip. */
struct ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-byte units, not counting the first 8 bytes */
};

struct ports {
	__be16 source;
	__be16 dest;
};

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8

#define IPPROTO_HOPOPTS	0
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IPPROTO_ROUTING	43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS	60

#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF

#define MAX_VLAN_TAGS	2
#define MAX_IPV6_EXT	4
#define PORT_SLOTS	1024 /* ports 1..1023 have their own counter; slot 0 counts the rest */

/* --- maps ---------------------------------------------------------------- */

/* Keys of the block lists: a prefix length in bits, then the address. */
struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4_key);
	__type(value, __u64); /* packets dropped by this entry */
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* the kernel requires it for LPM tries */
} blocklist_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v6_key);
	__type(value, __u64);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} blocklist_v6 SEC(".maps");

/* Per-port policy: key (protocol, destination port), value an XDP action. */
struct port_key {
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
	__u16 port;    /* host byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct port_key);
	__type(value, __u32);
	__uint(max_entries, 256);
} port_policy SEC(".maps");

struct datarec {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32); /* the XDP action */
	__type(value, struct datarec);
	__uint(max_entries, XDP_REDIRECT + 1);
} action_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32); /* destination port below 1024, else 0 */
	__type(value, struct datarec);
	__uint(max_entries, PORT_SLOTS);
} port_stats SEC(".maps");

/* --- parsing ------------------------------------------------------------- */

/* What the parser found: the source address family and bytes, the L4 protocol
 * and destination port (0 when there is none: fragments, ICMP...). */
struct packet_info {
	__u16 l3_proto; /* ETH_P_IP or ETH_P_IPV6, host order; 0 for anything else */
	__u8 l4_proto;
	__u8 malformed;
	__u16 dport;
	__u16 vlan_id;  /* the innermost VLAN ID, 0 when untagged */
	struct lpm_v4_key v4;
	struct lpm_v6_key v6;
};

static __always_inline int parse_ports(void *l4, void *data_end, struct packet_info *info)
{
	struct ports *p = l4;

	if (info->l4_proto != IPPROTO_TCP && info->l4_proto != IPPROTO_UDP)
		return 0;
	if ((void *)(p + 1) > data_end)
		return -1;
	info->dport = bpf_ntohs(p->dest);
	return 0;
}

static __always_inline int parse_ipv4(void *l3, void *data_end, struct packet_info *info)
{
	struct ipv4_hdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > data_end)
		return -1;
	hlen = (ip->ver_ihl & 0x0F) * 4;
	if ((ip->ver_ihl >> 4) != 4 || hlen < sizeof(*ip))
		return -1;
	info->v4.prefixlen = 32;
	__builtin_memcpy(info->v4.addr, &ip->saddr, 4);
	info->l4_proto = ip->protocol;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return 0; /* a later fragment: no transport header to read */
	return parse_ports(l3 + hlen, data_end, info);
}

static __always_inline int parse_ipv6(void *l3, void *data_end, struct packet_info *info)
{
	struct ipv6_hdr *ip6 = l3;
	void *cursor = ip6 + 1;
	__u8 next;

	if (cursor > data_end)
		return -1;
	info->v6.prefixlen = 128;
	__builtin_memcpy(info->v6.addr, ip6->saddr, 16);
	next = ip6->nexthdr;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		struct ipv6_opt_hdr *opt = cursor;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT)
			break;
		if ((void *)(opt + 1) > data_end)
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			/* fragment header: 8 bytes; the offset is in bytes 2-3 */
			__be16 *frag = cursor + 2;

			if ((void *)(frag + 1) > data_end)
				return -1;
			if (*frag & bpf_htons(0xFFF8)) {
				info->l4_proto = opt->nexthdr;
				return 0; /* not the first fragment: no ports */
			}
			next = opt->nexthdr;
			cursor += 8;
		} else {
			next = opt->nexthdr;
			cursor += (opt->hdrlen + 1) * 8;
		}
	}
	info->l4_proto = next;
	return parse_ports(cursor, data_end, info);
}

/* Walk Ethernet, VLAN tags and the IP header; -1 when the frame is truncated. */
static __always_inline int parse(void *data, void *data_end, struct packet_info *info)
{
	struct eth_hdr *eth = data;
	void *cursor = eth + 1;
	__u16 proto;

	if (cursor > data_end)
		return -1;
	proto = bpf_ntohs(eth->proto);

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vlan = cursor;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if ((void *)(vlan + 1) > data_end)
			return -1;
		info->vlan_id = bpf_ntohs(vlan->tci) & 0x0FFF;
		proto = bpf_ntohs(vlan->proto);
		cursor = vlan + 1;
	}

	if (proto == ETH_P_IP) {
		info->l3_proto = ETH_P_IP;
		return parse_ipv4(cursor, data_end, info);
	}
	if (proto == ETH_P_IPV6) {
		info->l3_proto = ETH_P_IPV6;
		return parse_ipv6(cursor, data_end, info);
	}
	return 0; /* ARP, LLDP...: not ours to filter */
}

/* --- policy and accounting ------------------------------------------------ */

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct datarec *rec = bpf_map_lookup_elem(map, &key);

	if (rec) { /* per-CPU: no other CPU writes this copy, so no atomics */
		rec->packets += 1;
		rec->bytes += bytes;
	}
}

static __always_inline __u32 decide(struct packet_info *info)
{
	__u64 *hits = NULL;
	struct port_key pk = {};
	__u32 *action;

	if (info->l3_proto == ETH_P_IP) {
		hits = bpf_map_lookup_elem(&blocklist_v4, &info->v4);
	} else if (info->l3_proto == ETH_P_IPV6) {
		hits = bpf_map_lookup_elem(&blocklist_v6, &info->v6);
	} else {
		return XDP_PASS;
	}
	if (hits) { /* shared between CPUs: count atomically */
		__sync_fetch_and_add(hits, 1);
		return XDP_DROP;
	}
	if (!info->dport)
		return XDP_PASS;
	pk.protocol = info->l4_proto;
	pk.port = info->dport;
	action = bpf_map_lookup_elem(&port_policy, &pk);
	if (action && (*action == XDP_DROP || *action == XDP_PASS))
		return *action;
	return XDP_PASS;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct packet_info info = {};
	__u64 bytes = data_end - data;
	__u32 action;

	if (parse(data, data_end, &info) < 0)
		action = XDP_DROP; /* truncated headers */
	else
		action = decide(&info);

	count(&action_stats, action, bytes);
	count(&port_stats, info.dport < PORT_SLOTS ? info.dport : 0, bytes);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
