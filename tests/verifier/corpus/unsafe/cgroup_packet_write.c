/* expect: readonly -- cgroup_skb programs may not write to the packet. */
#include "../common.h"
SEC("cgroup_skb/ingress") int cgroup_packet_write(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data;
	if ((void *)(p + 1) > end)
		return 1;
	*p = 0;
	return 1;
}
