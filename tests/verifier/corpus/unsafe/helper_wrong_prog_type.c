/* expect: helper_type -- an XDP program calls bpf_skb_store_bytes, which only skb programs have (the kernel: "program of this type cannot use helper"). */
#include "../common.h"

SEC("xdp") int helper_wrong_prog_type(struct xdp_md *ctx)
{
	__u32 zero = 0;

	bpf_skb_store_bytes((struct __sk_buff *)ctx, 0, &zero, sizeof(zero), 0);
	return XDP_PASS;
}
