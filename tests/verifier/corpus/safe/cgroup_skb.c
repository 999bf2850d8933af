/* cgroup_skb: allow or deny (return value must be 0 or 1). */
#include "../common.h"
SEC("cgroup_skb/ingress") int cgroup_skb(struct __sk_buff *skb)
{
	return skb->len < 9000;
}
