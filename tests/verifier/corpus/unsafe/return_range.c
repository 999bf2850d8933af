/* expect: return_range -- cgroup_skb programs must return 0 or 1. */
#include "../common.h"
SEC("cgroup_skb/ingress") int return_range(struct __sk_buff *skb)
{
	return skb->len > 100 ? 7 : 1;
}
