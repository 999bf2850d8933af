#include "../common.h"
struct counter { struct bpf_spin_lock lock; __u32 pad; __u64 packets; __u64 bytes; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct counter); } stats SEC(".maps");
/* Two counters updated together under a bpf_spin_lock in the map value. */
SEC("tc") int spin_lock(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct counter *c = bpf_map_lookup_elem(&stats, &zero);
	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->packets += 1;
	c->bytes += skb->len;
	bpf_spin_unlock(&c->lock);
	return 0;
}
