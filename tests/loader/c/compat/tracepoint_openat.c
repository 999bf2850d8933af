/* A tracepoint program as the kernel samples write them: the context is the
 * tracepoint's format (/sys/kernel/tracing/events/syscalls/sys_enter_openat/
 * format), declared by the program; opens are counted per flags value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sys_enter_openat_args {
	unsigned long long unused;	/* common_type, flags, preempt_count, pid */
	long syscall_nr;
	long dfd;
	const char *filename;
	long flags;
	long mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} opens_by_flags SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_enter_openat(struct sys_enter_openat_args *ctx)
{
	__u32 flags = ctx->flags;
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&opens_by_flags, &flags);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&opens_by_flags, &flags, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
