/* expect: pointer_leak -- returns a stack address. */
#include "../common.h"
SEC("xdp") int return_pointer(struct xdp_md *ctx)
{
	volatile int x = 1;
	return (long)&x;
}
