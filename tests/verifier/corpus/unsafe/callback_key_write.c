/* expect: readonly -- a bpf_for_each_map_elem callback writes to the key it is given. */
#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 8); } table SEC(".maps");

static long visit(void *map, __u32 *key, __u64 *value, void *data)
{
	*key = 0;
	return 0;
}

SEC("xdp") int callback_key_write(struct xdp_md *ctx)
{
	bpf_for_each_map_elem(&table, visit, 0, 0);
	return XDP_PASS;
}
