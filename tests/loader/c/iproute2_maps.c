/* iproute2 (tc) style: 36-byte struct bpf_elf_map in the "maps" section. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PIN_GLOBAL_NS 2

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

struct bpf_elf_map SEC("maps") acc_map = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.pinning = PIN_GLOBAL_NS,
	.max_elem = 2,
};

struct bpf_elf_map SEC("maps") map_inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.id = 42,
	.max_elem = 1,
};

struct bpf_elf_map SEC("maps") map_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.inner_id = 42,
	.max_elem = 1,
};

SEC("classifier")
int tc_account(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u32 *bytes = bpf_map_lookup_elem(&acc_map, &key);
	if (bytes)
		__sync_fetch_and_add(bytes, skb->len);
	return TC_ACT_OK;
}

SEC("action")
int tc_action(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

char __license[] SEC("license") = "GPL";
