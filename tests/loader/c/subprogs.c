/* Subprograms in .text, several programs per section, custom sections,
 * a static function in a program section and a callback (bpf_loop). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int results[4];
static const char greeting[] = "hi";

static __noinline int add(int a, int b)
{
	return a + b + greeting[0];
}

__noinline int twice(int x)
{
	return add(x, x);
}

static __noinline int deep(int x)
{
	return twice(x) + add(x, 1);
}

static int step(__u32 index, void *ctx)
{
	results[index & 3] += index;
	return 0;
}

SEC("xdp")
int xdp_first(struct xdp_md *ctx)
{
	return deep(ctx->ingress_ifindex) & 3;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	return twice(ctx->rx_queue_index) ? XDP_PASS : XDP_DROP;
}

SEC("my_custom_section")
int custom(void *ctx)
{
	bpf_loop(4, step, 0, 0);
	return results[1];
}

SEC("kprobe/do_sys_open")
int probe(struct pt_regs *ctx)
{
	bpf_printk("open %d", (int)ctx->di);
	return 0;
}

char _license[] SEC("license") = "GPL";
