/* expect: map_bounds -- writes past the end of an 8-byte map value. */
#include "../common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} m SEC(".maps");
SEC("xdp") int map_value_oob(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&m, &key);
	if (!v)
		return XDP_PASS;
	v[1] = 7;
	return XDP_PASS;
}
