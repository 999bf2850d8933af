/* Map operations from a program, for bench/test_bench_maps.py: each run makes
 * OPS lookups and OPS updates in a hash map and in an array map (keys 0..OPS-1),
 * so the per-operation cost is the run time over 4 * OPS. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define OPS 64

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} array SEC(".maps");

SEC("socket")
int map_ops(void *ctx)
{
    __u64 sum = 0;
    for (__u32 i = 0; i < OPS; i++) {
        __u32 key = i;
        __u64 value = i * 3;
        bpf_map_update_elem(&hash, &key, &value, BPF_ANY);
        bpf_map_update_elem(&array, &key, &value, BPF_ANY);
        __u64 *h = bpf_map_lookup_elem(&hash, &key);
        __u64 *a = bpf_map_lookup_elem(&array, &key);
        if (h)
            sum += *h;
        if (a)
            sum += *a;
    }
    return sum;
}

char LICENSE[] SEC("license") = "GPL";
