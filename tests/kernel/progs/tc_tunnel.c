/* Tunnel metadata: set it, read it back (the receive side's view: remote and
 * local swap), options; ctx_in cb[0] picks the case, results in cb[1..4]. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* one load per field read: clang may not merge two u32 context loads into a u64 one */
#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

SEC("tc")
int tc_tunnel(struct __sk_buff *skb)
{
    struct bpf_tunnel_key key = {}, got = {};
    __u8 opt[16] = {1, 2, 3, 4, 5, 6, 7, 8}, back[16] = {};
    __u32 op = F(cb[0]);
    long rc = 0, rc2 = 0;

    key.tunnel_id = 0x12345;
    key.remote_ipv4 = 0x0a000001;
    key.local_ipv4 = 0x0a000002;
    key.tunnel_tos = 7;
    key.tunnel_ttl = 64;
    if (op == 3) {
        key.remote_ipv6[0] = 0x20010db8; key.remote_ipv6[3] = 1;
        key.local_ipv6[0] = 0x20010db8; key.local_ipv6[3] = 2;
        key.tunnel_label = 0xfff12345;
    }
    if (op == 4)
        key.tunnel_label = 5;
    if (op != 0 && op != 6)
        rc = bpf_skb_set_tunnel_key(skb, &key, sizeof(key), op == 3 ? BPF_F_TUNINFO_IPV6 : BPF_F_DONT_FRAGMENT);
    if (op == 5 || op == 6 || op == 7) {
        rc2 = bpf_skb_set_tunnel_opt(skb, opt, op == 7 ? 6 : 8);
        rc = bpf_skb_get_tunnel_opt(skb, back, op == 5 ? 16 : 4);
        skb->cb[1] = back[0] | (back[7] << 8) | (back[8] << 16);
        skb->cb[2] = rc2;
        skb->cb[3] = 0;
        skb->cb[4] = rc;
        return 0;
    }
    if (op == 8)
        rc2 = bpf_skb_get_tunnel_key(skb, &got, 28, BPF_F_TUNINFO_FLAGS);
    else
        rc2 = bpf_skb_get_tunnel_key(skb, &got, sizeof(got), op == 2 || op == 3 ? BPF_F_TUNINFO_IPV6 : 0);
    skb->cb[1] = got.tunnel_id ^ got.remote_ipv6[0] ^ (got.remote_ipv6[3] << 8);
    skb->cb[2] = got.local_ipv6[0] ^ (got.local_ipv6[3] << 4) ^ got.tunnel_label;
    skb->cb[3] = got.tunnel_tos | (got.tunnel_ttl << 8) | ((__u32)got.tunnel_flags << 16);
    skb->cb[4] = (rc & 0xffff) | (rc2 << 16);
    return 0;
}

char _license[] SEC("license") = "GPL";
