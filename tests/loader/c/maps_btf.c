/* BTF-defined maps of every declaration form, and global data. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key { __u32 a; __u16 b; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct key);
	__type(value, __u64);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16);
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sized_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, __u64);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} counters SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
} inner1 SEC(".maps"), inner2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner1, [2] = &inner2 },
};

int tail_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = { [3] = (void *)&tail_target },
};

int counter = 7;
const volatile __u32 limit = 100;
__u64 zeroed;
char custom_data[8] SEC(".data.custom") = "custom!";

SEC("xdp")
int use_maps(struct xdp_md *ctx)
{
	struct key k = { .a = 1, .b = 2 };
	__u64 *v = bpf_map_lookup_elem(&hash_map, &k);
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		*c += 1;
	if (v && *v > limit)
		return XDP_DROP;
	counter++;
	zeroed += custom_data[1];
	bpf_ringbuf_output(&events, &k, sizeof(k), 0);
	bpf_tail_call(ctx, &jump_table, 3);
	return XDP_PASS;
}

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
