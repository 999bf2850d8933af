// SPDX-License-Identifier: MIT
/* A tracing program: report every kill() to user space through a ring buffer.
 *
 * Attached to the syscalls:sys_enter_kill tracepoint, it reads the raw
 * tracepoint record (the layout in
 * /sys/kernel/tracing/events/syscalls/sys_enter_kill/format), asks who is
 * calling (bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
 * bpf_get_current_comm) and writes one `struct event` per call into the
 * `events` ring buffer with bpf_ringbuf_reserve/submit. It also counts calls
 * per signal (`signal_counts`), counts the events it could not report
 * because the ring was full (`dropped`), and bpf_printk()s every SIGKILL.
 *
 * Build: ebpflite cc examples/tracing_ringbuf/trace.c -o trace.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16
#define SIGKILL 9

/* The raw record of syscalls:sys_enter_kill. */
struct sys_enter_kill_args {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__s32 syscall_nr;
	__u32 pad;
	__s64 pid; /* the target */
	__s64 sig;
};

/* One record in the ring buffer, as user space reads it. */
struct event {
	__u64 ts_ns;
	__u32 tgid;   /* the sending process */
	__u32 tid;    /* the sending thread */
	__u32 uid;
	__s32 target; /* the pid argument of kill() */
	__s32 sig;
	char comm[TASK_COMM_LEN];
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* bytes; a power of two and a multiple of the page size */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __s32);   /* signal number */
	__type(value, __u64); /* kill() calls with it */
	__uint(max_entries, 64);
} signal_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} dropped SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_kill")
int trace_kill(struct sys_enter_kill_args *ctx)
{
	__s32 sig = (__s32)ctx->sig;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 one = 1, *count;
	__u32 zero = 0;
	struct event *e;

	count = bpf_map_lookup_elem(&signal_counts, &sig);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&signal_counts, &sig, &one, BPF_NOEXIST);

	if (sig == SIGKILL)
		bpf_printk("kill -9 %d from pid %d", (int)ctx->pid, (int)(pid_tgid >> 32));

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) { /* the reader is too slow: count what we lose */
		count = bpf_map_lookup_elem(&dropped, &zero);
		if (count)
			__sync_fetch_and_add(count, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->target = (__s32)ctx->pid;
	e->sig = sig;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
