/* expect: pointer_leak -- stores a packet pointer into a map value. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} m SEC(".maps");
SEC("xdp") int pointer_leak_map(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&m, &key);
	if (v)
		*v = (__u64)(long)v;
	return XDP_PASS;
}
