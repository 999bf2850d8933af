/* ebpf-for-windows bind hook: count binds per process, deny after a limit. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, uint64_t);
	__type(value, uint32_t);
	__uint(max_entries, 1024);
} binds SEC(".maps");

SEC("bind") bind_action_t win_bind_monitor(bind_md_t *ctx)
{
	uint64_t pid = ctx->process_id;
	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT_SOFT;
	uint32_t *count = bpf_map_lookup_elem(&binds, &pid);
	if (!count) {
		uint32_t one = 1;
		bpf_map_update_elem(&binds, &pid, &one, 0);
		return BIND_PERMIT_SOFT;
	}
	*count += 1;
	if (ctx->app_id_start + 2 <= ctx->app_id_end && ctx->app_id_start[0] == 'x')
		return BIND_DENY;
	return *count > 100 ? BIND_DENY : BIND_PERMIT_SOFT;
}
