/* Socket filter: copy the Ethernet header with bpf_skb_load_bytes, keep IPv4. */
#include "../common.h"
SEC("socket") int socket_load_bytes(struct __sk_buff *skb)
{
	struct ethhdr eth;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return 0;
	return eth.h_proto == bpf_htons(ETH_P_IP) ? skb->len : 0;
}
