/* target.c renamed opts.d to renamed_d: this unguarded read cannot be relocated. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct opts { int a; int c; int d; } __attribute__((preserve_access_index));

SEC("xdp")
int renamed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct opts *o = data;
	if (data + 64 > end)
		return XDP_ABORTED;
	return o->d ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
