/* expect: packet_bounds -- reads the app id without checking it against app_id_end. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

SEC("bind") bind_action_t win_bind_app_id(bind_md_t *ctx)
{
	return ctx->app_id_start[4] == 'x' ? BIND_DENY : BIND_PERMIT_SOFT;
}
