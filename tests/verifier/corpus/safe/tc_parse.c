/* tc: direct packet access through __sk_buff data/data_end. */
#include "../common.h"
SEC("tc") int tc_parse(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return 0;
	if (ip->protocol == IPPROTO_UDP)
		skb->mark = 17;
	return 0;
}
