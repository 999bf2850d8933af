/* A program that needs CO-RE relocations (field offsets resolved at load time). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

SEC("kprobe/wake_up_new_task")
int read_pid(struct task_struct *task)
{
	return task->tgid;
}

SEC("xdp")
int plain(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
