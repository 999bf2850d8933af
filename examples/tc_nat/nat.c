// SPDX-License-Identifier: MIT
/* A tc egress program that translates private IPv4 sources to public ones
 * (static source NAT) and keeps every checksum right.
 *
 *   in:  Ether / IPv4(10.0.0.5 > server, ttl=t) / TCP|UDP|ICMP ...
 *   out: Ether / IPv4(203.0.113.5 > server, ttl=t-1) / TCP|UDP|ICMP ...
 *
 * The source address is looked up in `snat` (private -> public address, the
 * control plane fills it). A translated packet gets:
 *   - its IPv4 header checksum fixed with bpf_l3_csum_replace() for the new
 *     address and for the TTL decrement (a 2-byte field: the TTL/protocol word);
 *   - its TCP or UDP checksum fixed with bpf_l4_csum_replace(BPF_F_PSEUDO_HDR):
 *     the address is part of the pseudo-header. A UDP checksum of 0 means
 *     "none" over IPv4 and stays 0 (BPF_F_MARK_MANGLED_0), and a computed 0
 *     is sent as 0xffff. ICMP has no pseudo-header; non-first fragments carry
 *     no L4 header, so only their IP header changes;
 *   - the new address written with bpf_skb_store_bytes();
 *   - skb->mark = NAT_MARK, so later tc filters or routing rules can tell.
 * Packets whose TTL would expire are dropped (TC_ACT_SHOT); everything else
 * goes on unchanged (TC_ACT_OK). `stats` counts each outcome per CPU.
 *
 * Build: ebpflite cc examples/tc_nat/nat.c -o nat.o
 * Attach (Linux): tc qdisc add dev eth0 clsact; tc filter add dev eth0 egress bpf da obj nat.o sec tc
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define IPPROTO_ICMP	1
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IP_OFFSET	0x1fff
#define NAT_MARK	0x4e4154	/* "NAT" */

#define IP_CSUM_OFF	(ETH_HLEN + 10)
#define IP_TTL_OFF	(ETH_HLEN + 8)
#define IP_SRC_OFF	(ETH_HLEN + 12)

enum { STAT_TRANSLATED, STAT_PASSED, STAT_EXPIRED, STAT_NOT_IPV4, STAT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);		/* private source address */
	__type(value, __be32);		/* public source address */
} snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

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

static __always_inline int count(__u32 what, int action)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &what);
	if (n)
		*n += 1;
	return action;
}

SEC("tc")
int snat_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv4_hdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end || skb->protocol != bpf_htons(ETH_P_IP) || (ip->ver_ihl >> 4) != 4)
		return count(STAT_NOT_IPV4, TC_ACT_OK);
	if (ip->ttl <= 1)
		return count(STAT_EXPIRED, TC_ACT_SHOT);

	__be32 old_src = ip->saddr;
	__be32 *public = bpf_map_lookup_elem(&snat, &old_src);
	if (!public)
		return count(STAT_PASSED, TC_ACT_OK);
	__be32 new_src = *public;
	__u8 protocol = ip->protocol;
	int first_fragment = !(ip->frag_off & bpf_htons(IP_OFFSET));
	__u32 l4 = ETH_HLEN + (ip->ver_ihl & 0xf) * 4;

	/* TTL - 1: the checksum covers the 16-bit TTL/protocol word */
	__be16 old_word = *(__be16 *)&ip->ttl;
	__u8 ttl = ip->ttl - 1;
	ip->ttl = ttl;
	__be16 new_word = *(__be16 *)&ip->ttl;
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_word, new_word, sizeof(new_word));

	if (first_fragment && protocol == IPPROTO_TCP)
		bpf_l4_csum_replace(skb, l4 + 16, old_src, new_src, BPF_F_PSEUDO_HDR | sizeof(new_src));
	else if (first_fragment && protocol == IPPROTO_UDP)
		bpf_l4_csum_replace(skb, l4 + 6, old_src, new_src,
				    BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_src));
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_src, new_src, sizeof(new_src));
	bpf_skb_store_bytes(skb, IP_SRC_OFF, &new_src, sizeof(new_src), 0);

	skb->mark = NAT_MARK;
	return count(STAT_TRANSLATED, TC_ACT_OK);
}

char _license[] SEC("license") = "GPL";
