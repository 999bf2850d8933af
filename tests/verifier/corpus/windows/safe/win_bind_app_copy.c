/* Copy the application id (at most 64 bytes) into a map with bpf_memcpy:
 * its size is app_id_end - app_id_start, capped. The `end == start` test
 * makes the size non-zero; the size is linked to the distance to the end, so
 * the copy stays inside the app id on the uncapped path, and the cap's test
 * proves 64 bytes on the other. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, uint64_t); __type(value, char[64]); __uint(max_entries, 64); } names SEC(".maps");
SEC("bind") bind_action_t win_bind_app_copy(bind_md_t *ctx)
{
	char name[64] = {0};
	uint64_t pid = ctx->process_id;
	uint8_t *start = ctx->app_id_start, *end = ctx->app_id_end;
	if (end == start)
		return BIND_PERMIT_SOFT;
	uint64_t len = end - start;
	if (len > sizeof(name))
		len = sizeof(name);
	bpf_memcpy(name, sizeof(name), start, len);
	bpf_map_update_elem(&names, &pid, name, 0);
	return BIND_PERMIT_SOFT;
}
