/* bpf_fib_lookup from tc: the lookup's inputs come in ctx_in's cb[] (cb[0]:
 * family | flags << 8, cb[1]: IPv4 destination or the last word of an IPv6
 * one under 2001:db8::/32, cb[2]: input ifindex, cb[3]: tot_len | tbid << 16),
 * its return value goes to cb[4] and the whole struct bpf_fib_lookup after the
 * call is stored over the packet after the Ethernet header, so data_out shows
 * every output field. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

SEC("tc")
int tc_fib(struct __sk_buff *skb)
{
    struct bpf_fib_lookup p = {};
    __u32 c0 = F(cb[0]), dst = F(cb[1]), c3 = F(cb[3]);

    p.family = c0 & 0xff;
    p.ifindex = F(cb[2]);
    p.tot_len = c3 & 0xffff;
    if (p.family == 2) {
        p.ipv4_dst = dst;
        p.ipv4_src = 0x0100000a;               /* 10.0.0.1 */
    } else {
        p.ipv6_dst[0] = 0xb80d0120;            /* 2001:db8:: */
        p.ipv6_dst[3] = dst;
        p.ipv6_src[0] = 0xb80d0120;
        p.ipv6_src[3] = 0x01000000;
    }
    if (c3 >> 16)
        p.tbid = c3 >> 16;
    long rc = bpf_fib_lookup(skb, &p, sizeof(p), c0 >> 8);
    skb->cb[4] = rc;
    bpf_skb_store_bytes(skb, 14, &p, sizeof(p), 0);
    return 0;
}

char _license[] SEC("license") = "GPL";
