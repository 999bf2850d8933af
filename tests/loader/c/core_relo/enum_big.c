/* An unsigned enumerator of 2^31 or more: clang writes it zero-extended, libbpf reads the BTF value
   as a signed __s32 and refuses the relocation ("unexpected insn #0 (LDIMM64) value"); so do we. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum big { BIG_A = 1, BIG_B = 0xFFFFFFF0u };

__u64 out_big;

SEC("xdp")
int enum_big(struct xdp_md *ctx)
{
	out_big = bpf_core_enum_value(enum big, BIG_B);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
