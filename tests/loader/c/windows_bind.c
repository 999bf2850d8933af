/* The ebpf-for-windows tutorial's kind of program: a bind hook counting
 * binds per process, with BTF-defined maps, and an XDP program. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

typedef struct _process_entry {
	uint32_t count;
	uint8_t name[64];
} process_entry_t;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, uint64_t);
	__type(value, process_entry_t);
	__uint(max_entries, 1024);
} process_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, uint32_t);
	__type(value, uint32_t);
	__uint(max_entries, 1);
} limits_map SEC(".maps");

SEC("bind")
bind_action_t
BindMonitor(bind_md_t *ctx)
{
	uint32_t key = 0;
	uint32_t *limit = bpf_map_lookup_elem(&limits_map, &key);
	if (!limit || *limit == 0)
		return BIND_PERMIT_SOFT;
	uint64_t pid = ctx->process_id;
	process_entry_t *entry = bpf_map_lookup_elem(&process_map, &pid);
	if (!entry) {
		process_entry_t fresh = {0};
		bpf_map_update_elem(&process_map, &pid, &fresh, 0);
		entry = bpf_map_lookup_elem(&process_map, &pid);
		if (!entry)
			return BIND_PERMIT_SOFT;
	}
	if (ctx->operation == BIND_OPERATION_BIND) {
		if (entry->count >= *limit)
			return BIND_DENY;
		entry->count++;
	}
	bpf_printk("bind by %llu", pid);
	return BIND_PERMIT_SOFT;
}

SEC("xdp")
int DropPacket(xdp_md_t *ctx)
{
	if ((char *)ctx->data + 14 > (char *)ctx->data_end)
		return XDP_DROP;
	return XDP_PASS;
}
