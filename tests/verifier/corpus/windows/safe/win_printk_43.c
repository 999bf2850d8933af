/* bpf_printk with a 43-character format (44 bytes with the NUL, written to
 * the stack as 8-byte and smaller stores) and with values: the format bytes
 * must all count as initialised (a reported "fp-43 is uninitialised"). */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

SEC("bind") bind_action_t win_printk_43(bind_md_t *ctx)
{
	bpf_printk("0123456789012345678901234567890123456789012");
	bpf_printk("pid %llu operation %u 0123456789012345678", ctx->process_id, (uint32_t)ctx->operation);
	return BIND_PERMIT_SOFT;
}
