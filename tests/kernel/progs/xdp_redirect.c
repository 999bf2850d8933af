/* redirect_map: send the frame to the devmap slot named by its last byte,
 * falling back to XDP_PASS (flags) when the slot is empty; load/store bytes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
} ports SEC(".maps");

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
    unsigned char buf[4];
    __u32 len = bpf_xdp_get_buff_len(ctx);
    if (bpf_xdp_load_bytes(ctx, len - 4, buf, 4))
        return XDP_ABORTED;
    /* mark the frame: bytes 6..9 = the last four bytes reversed */
    unsigned char rev[4] = {buf[3], buf[2], buf[1], buf[0]};
    if (bpf_xdp_store_bytes(ctx, 6, rev, 4))
        return XDP_ABORTED;
    return bpf_redirect_map(&ports, buf[3] & 7, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
