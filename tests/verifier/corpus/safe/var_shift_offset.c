/* xdp-filter's IPv6 extension-header walk: a length shifted by 2 or 3 depending on the header type,
   then used as a packet offset. The kernel follows each shift amount on its own path; ebpflite, when
   it joins the paths, shifts by the range [2, 3] and keeps the offset's bounds. */
#include "../common.h"
SEC("xdp") int var_shift_offset(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 2 > end)
		return XDP_PASS;
	__u32 off = (__u32)(data[1] & 7) << (data[0] == 0x3c ? 3 : 2); /* at most 56 */
	__u8 *p = data + off + 8;
	if (p + 1 > end)
		return XDP_PASS;
	return *p ? XDP_DROP : XDP_PASS;
}
