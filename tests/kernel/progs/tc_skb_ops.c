/* One tc program, many __sk_buff helper calls: ctx_in's cb[0] picks the
 * operation, cb[1..3] are its arguments; the helper's return value comes
 * back in cb[4] (ctx_out) and results in cb[1..3], the packet (data_out) or
 * the return value. The differential test runs each case in the kernel
 * (BPF_PROG_TEST_RUN) and in ebpflite and compares all of it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* one load per field read: clang may not merge two u32 context loads into a u64 one */
#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)
#include <bpf/bpf_endian.h>

static __always_inline __u32 word(const __u8 *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((__u32)p[3] << 24);
}

SEC("tc")
int tc_skb_ops(struct __sk_buff *skb)
{
    __u32 op = F(cb[0]), a = F(cb[1]), b = F(cb[2]), c = F(cb[3]);
    __u8 buf[16] = {};
    long rc = -1000;

    switch (op) {
    case 1:   /* load 12 bytes at offset a */
        rc = bpf_skb_load_bytes(skb, a, buf, 12);
        skb->cb[1] = word(buf); skb->cb[2] = word(buf + 4); skb->cb[3] = word(buf + 8);
        break;
    case 2:   /* load 12 bytes at a from the header b (MAC 0, NET 1, other) */
        rc = bpf_skb_load_bytes_relative(skb, a, buf, 12, b);
        skb->cb[1] = word(buf); skb->cb[2] = word(buf + 4); skb->cb[3] = word(buf + 8);
        break;
    case 3:   /* store 4 bytes (c) at a with flags b */
        *(__u32 *)buf = c;
        rc = bpf_skb_store_bytes(skb, a, buf, 4, b);
        break;
    case 4:   /* l3_csum_replace(a, from=c, to=~c, flags=b) */
        rc = bpf_l3_csum_replace(skb, a, c, b == 0 ? 0x1234 : ~c, b);
        break;
    case 5:   /* l4_csum_replace(a, from=c, to=c+0x0101, flags=b) */
        rc = bpf_l4_csum_replace(skb, a, b & 0xf ? c : 0, c + 0x0101, b);
        break;
    case 6:   /* change the tail to a bytes (flags b) */
        rc = bpf_skb_change_tail(skb, a, b);
        break;
    case 7:   /* push a bytes of head room (flags b) */
        rc = bpf_skb_change_head(skb, a, b);
        break;
    case 8:   /* adjust_room(len_diff a, mode b, flags c): encap flags in c's low byte, L2 len in bits 8.. */
        rc = bpf_skb_adjust_room(skb, (int)a, b, (c & 0xffff) | ((__u64)(c >> 16) << 56));
        break;
    case 9:   /* change_proto(a, flags b) */
        rc = bpf_skb_change_proto(skb, a, b);
        break;
    case 10:  /* vlan push (proto a, tci b) c times, then report the skb's tag */
        rc = bpf_skb_vlan_push(skb, a, b);
        if (c > 1 && !rc)
            rc = bpf_skb_vlan_push(skb, a, b + 1);
        skb->cb[1] = F(vlan_present); skb->cb[2] = F(vlan_tci); skb->cb[3] = F(vlan_proto);
        break;
    case 11:  /* vlan pop a times */
        rc = bpf_skb_vlan_pop(skb);
        if (a > 1 && !rc)
            rc = bpf_skb_vlan_pop(skb);
        skb->cb[1] = F(vlan_present); skb->cb[2] = F(vlan_tci); skb->cb[3] = F(protocol);
        break;
    case 12:  /* change the packet type to a */
        rc = bpf_skb_change_type(skb, a);
        skb->cb[1] = F(pkt_type);
        break;
    case 13:  /* set_hash(a), read it back, invalidate, read the field */
        rc = bpf_set_hash(skb, a);
        skb->cb[1] = bpf_get_hash_recalc(skb);
        skb->cb[2] = F(hash);
        bpf_set_hash_invalid(skb);
        skb->cb[3] = F(hash);
        break;
    case 14:  /* csum_level(a), then query */
        rc = bpf_csum_level(skb, a);
        skb->cb[1] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
        break;
    case 15:  /* csum_update */
        rc = bpf_csum_update(skb, a);
        break;
    case 16:  /* pull a bytes */
        rc = bpf_skb_pull_data(skb, a);
        break;
    case 17:  /* ECN CE */
        rc = bpf_skb_ecn_set_ce(skb);
        break;
    case 18:  /* csum_diff of the first a*4 bytes against b*4 bytes at offset 14 */
        if (a > 4 || b > 4)
            break;
        {
            __u8 x[16] = {}, y[16] = {};
            bpf_skb_load_bytes(skb, 0, x, 16);
            bpf_skb_load_bytes(skb, 14, y, 16);
            rc = bpf_csum_diff((__be32 *)x, a * 4, (__be32 *)y, b * 4, c);
        }
        break;
    case 19:  /* redirect to ifindex a with flags b */
        rc = bpf_redirect(a, b);
        skb->cb[4] = rc;
        return rc;
    case 20:  /* clone_redirect(a, b) */
        rc = bpf_clone_redirect(skb, a, b);
        break;
    default:
        return TC_ACT_UNSPEC;
    }
    skb->cb[4] = rc;
    return F(len);
}

char _license[] SEC("license") = "GPL";
