/* kprobes in the libbpf style with bpf_tracing.h: BPF_KPROBE gives the
 * probed function's arguments (do_unlinkat(int dfd, struct filename *name)),
 * BPF_KRETPROBE its return value, PT_REGS_* the raw registers. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct filename;

struct call {
	__s64 dfd;
	__u64 name;
	__u64 ip;
	__s64 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call);
} last_call SEC(".maps");

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(do_unlinkat, int dfd, struct filename *name)
{
	__u32 zero = 0;
	struct call *c = bpf_map_lookup_elem(&last_call, &zero);

	if (!c)
		return 0;
	c->dfd = dfd;
	c->name = (__u64)name;
	c->ip = PT_REGS_IP(ctx);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(do_unlinkat_exit, long ret)
{
	__u32 zero = 0;
	struct call *c = bpf_map_lookup_elem(&last_call, &zero);

	if (c)
		c->ret = ret;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
