/* BPF_CORE_READ in the libbpf-bootstrap style, with the kernel types
 * declared by the program (preserve_access_index, as vmlinux.h does). By
 * default the reads carry CO-RE relocations, which a loader (libbpf, ebpflite)
 * resolves against vmlinux BTF; with
 * -DEBPFLITE_NO_CORE they become plain bpf_probe_read_kernel reads. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#ifndef EBPFLITE_NO_CORE
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif
struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
};
#ifndef EBPFLITE_NO_CORE
#pragma clang attribute pop
#endif

struct ids {
	__s32 pid;
	__s32 tgid;
	__s32 ppid;
	__u32 has_tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ids);
} seen SEC(".maps");

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(nanosleep_entry)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0;
	struct ids *ids = bpf_map_lookup_elem(&seen, &zero);

	if (!ids)
		return 0;
	ids->pid = BPF_CORE_READ(task, pid);
	ids->tgid = BPF_CORE_READ(task, tgid);
	ids->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ids->has_tgid = bpf_core_field_exists(task->tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
