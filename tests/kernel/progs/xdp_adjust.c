/* Buffer surgery: push an 8-byte tag in front of the frame (adjust_head),
 * trim frames longer than 64 bytes to 64 (adjust_tail), and put 8 bytes of
 * metadata before the packet (adjust_meta). The first byte of the frame
 * selects the operation so one object covers every case. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    if (data + 14 > data_end)
        return XDP_ABORTED;
    unsigned char op = *(unsigned char *)data;
    int delta = *((signed char *)data + 1);
    long rc;

    if (op == 1) {              /* grow the head by 8 and write a tag */
        rc = bpf_xdp_adjust_head(ctx, -8);
        if (rc)
            return XDP_DROP;
        data = (void *)(long)ctx->data;
        data_end = (void *)(long)ctx->data_end;
        if (data + 8 > data_end)
            return XDP_ABORTED;
        __builtin_memcpy(data, "TAGTAG!!", 8);
        return XDP_PASS;
    }
    if (op == 2) {              /* shrink the head by delta*4 (may fail) */
        rc = bpf_xdp_adjust_head(ctx, delta * 4);
        return rc ? XDP_DROP : XDP_PASS;
    }
    if (op == 3) {              /* move the tail by delta (may fail) */
        rc = bpf_xdp_adjust_tail(ctx, delta);
        return rc ? XDP_DROP : XDP_TX;
    }
    if (op == 4) {              /* 8 bytes of metadata, filled with a pattern */
        rc = bpf_xdp_adjust_meta(ctx, -8);
        if (rc)
            return XDP_DROP;
        void *meta = (void *)(long)ctx->data_meta;
        data = (void *)(long)ctx->data;
        if (meta + 8 > data)
            return XDP_ABORTED;
        __builtin_memcpy(meta, "METAMETA", 8);
        return XDP_PASS;
    }
    if (op == 5) {              /* metadata of a bad size: -EACCES / -EINVAL */
        rc = bpf_xdp_adjust_meta(ctx, delta);
        return rc == -13 ? XDP_TX : rc == -22 ? XDP_DROP : XDP_PASS;
    }
    if (op == 6) {              /* grow the head as far as delta*8 asks */
        rc = bpf_xdp_adjust_head(ctx, -(delta * 8));
        return rc ? XDP_DROP : XDP_PASS;
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
