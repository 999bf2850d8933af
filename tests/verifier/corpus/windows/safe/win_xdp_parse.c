/* ebpf-for-windows XDP: 64-bit data pointers; drop IPv4 fragments. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

SEC("xdp") int win_xdp_parse(xdp_md_t *ctx)
{
	uint8_t *data = ctx->data, *end = ctx->data_end;
	if (data + 34 > end)
		return XDP_PASS;
	if (data[12] != 0x08 || data[13] != 0x00)
		return XDP_PASS;
	return (data[20] & 0x3f) || data[21] ? XDP_DROP : XDP_PASS;
}
