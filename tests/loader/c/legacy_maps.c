/* libbpf < 1.0 style: 20-byte struct bpf_map_def in the "maps" section. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def SEC("maps") packet_count = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") flows = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = 8,
	.value_size = 4,
	.max_entries = 10000,
	.map_flags = BPF_F_NO_COMMON_LRU,
};

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	__u32 key = skb->protocol & 0xff;
	__u64 *value = bpf_map_lookup_elem(&packet_count, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	__u64 fkey = skb->len;
	__u32 one = 1;
	bpf_map_update_elem(&flows, &fkey, &one, BPF_ANY);
	return 0;
}

char _license[] SEC("license") = "GPL";
