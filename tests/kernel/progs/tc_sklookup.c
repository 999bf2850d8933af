/* bpf_sk_lookup_tcp/udp from tc: the tuple comes in ctx_in's cb[] (cb[0]:
 * protocol | tuple size << 8 | netns selector << 16, cb[1]: saddr, cb[2]:
 * daddr, cb[3]: sport | dport << 16, all as they lie in a packet); the socket's
 * fields come back in cb[] and the return value says whether one was found. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

SEC("tc")
int tc_sklookup(struct __sk_buff *skb)
{
    struct bpf_sock_tuple t = {};
    __u32 c0 = F(cb[0]), ports = F(cb[3]);
    __u32 size = (c0 >> 8) & 0xff, which = c0 >> 16;
    __u64 netns = which == 0 ? BPF_F_CURRENT_NETNS : which == 1 ? 0 : 0x80000000ULL;
    struct bpf_sock *sk;

    t.ipv4.saddr = F(cb[1]);
    t.ipv4.daddr = F(cb[2]);
    t.ipv4.sport = ports & 0xffff;
    t.ipv4.dport = ports >> 16;
    if (size == 0)
        size = sizeof(t.ipv4);
    if (size > sizeof(t))
        return 7;
    if ((c0 & 0xff) == 6)
        sk = bpf_sk_lookup_tcp(skb, &t, size, netns, 0);
    else
        sk = bpf_sk_lookup_udp(skb, &t, size, netns, 0);
    if (!sk)
        return 0;
    skb->cb[0] = sk->family | (sk->type << 8) | (sk->protocol << 16);
    skb->cb[1] = sk->src_ip4;
    skb->cb[2] = sk->dst_ip4;
    skb->cb[3] = sk->src_port | ((__u32)sk->dst_port << 16);
    skb->cb[4] = sk->state | (sk->bound_dev_if << 8);  /* not rx_queue_mapping: it depends on timing */
    bpf_sk_release(sk);
    return 1;
}

char _license[] SEC("license") = "GPL";
