/* Global variables (.bss/.data) live in a map value reached by lddw. */
#include "../common.h"
__u64 packets = 0;
__u32 threshold = 5;
SEC("xdp") int global_data(struct xdp_md *ctx)
{
	packets++;
	return packets > threshold ? XDP_DROP : XDP_PASS;
}
