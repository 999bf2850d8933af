/* tc: set skb->mark from the length, a writable __sk_buff field. */
#include "../common.h"
SEC("tc") int tc_mark(struct __sk_buff *skb)
{
	skb->mark = skb->len > 1000 ? 1 : 2;
	skb->cb[0] = skb->protocol;
	return 0;
}
