/* A negative enumerator relocated (tests/loader/test_loader_core.py): clang 14 marks `enum neg`
   unsigned in BTF (no signedness flag before clang 15) but writes -5 sign-extended, as libbpf
   expects (it reads every 32-bit enumerator as a signed __s32). target.c says NEG_A = -7. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum neg { NEG_A = -5, NEG_B = 3 };

__s64 out_neg;

SEC("xdp")
int enum_sign(struct xdp_md *ctx)
{
	out_neg = bpf_core_enum_value(enum neg, NEG_A);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
