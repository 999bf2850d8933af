/* A tc (cls_bpf, direct-action) classifier with linux/pkt_cls.h: shoots IPv4
 * TCP to port 80, marks UDP, passes the rest; counts verdicts. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_ACT_VALUE_MAX + 1);
	__type(key, __u32);
	__type(value, __u64);
} tc_verdicts SEC(".maps");

static __always_inline int count(int verdict)
{
	__u32 key = verdict;
	__u64 *n = bpf_map_lookup_elem(&tc_verdicts, &key);

	if (n)
		*n += 1;
	return verdict;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return count(TC_ACT_OK);
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)iph + iph->ihl * 4;

		if ((void *)(tcp + 1) > data_end)
			return count(TC_ACT_OK);
		if (tcp->dest == bpf_htons(80))
			return count(TC_ACT_SHOT);
	} else if (iph->protocol == IPPROTO_UDP) {
		skb->mark = TC_H_MAKE(1 << 16, 1);
	}
	return count(TC_ACT_OK);
}

char __license[] SEC("license") = "GPL";
