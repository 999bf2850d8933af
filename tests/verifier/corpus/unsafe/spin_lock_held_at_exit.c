/* expect: spin_lock -- returns on one path without unlocking the bpf_spin_lock. */
#include "../common.h"
struct counter { struct bpf_spin_lock lock; __u32 pad; __u64 packets; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct counter); } stats SEC(".maps");

SEC("tc") int spin_lock_held_at_exit(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct counter *c = bpf_map_lookup_elem(&stats, &zero);
	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	if (skb->len > 1000)
		return 1;
	c->packets += 1;
	bpf_spin_unlock(&c->lock);
	return 0;
}
