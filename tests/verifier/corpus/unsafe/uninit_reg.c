/* expect: uninit_reg -- returns r7, which nothing wrote. */
#include "../common.h"
SEC("xdp") int uninit_reg(struct xdp_md *ctx)
{
	long r;
	asm volatile("%[r] = r7" : [r] "=r"(r));
	return r;
}
