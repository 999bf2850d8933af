/* cgroup_skb: the socket fields (family, addresses, ports) BPF_PROG_TEST_RUN
 * derives from the packet, and the packet from the network header on. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* one load per field read: clang may not merge two u32 context loads into a u64 one */
#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

SEC("cgroup_skb/ingress")
int cgroup_skb_fields(struct __sk_buff *skb)
{
    void *data = (void *)(long)F(data), *data_end = (void *)(long)F(data_end);
    skb->cb[0] = F(family) | (F(pkt_type) << 8) | (F(protocol) << 16);
    skb->cb[1] = F(local_ip4);
    skb->cb[2] = F(remote_ip4);
    skb->cb[3] = F(local_ip6[0]) ^ F(remote_ip6[3]) ^ F(local_ip6[3]);
    skb->cb[4] = F(len) | ((__u32)(data_end - data) << 16);
    skb->mark = F(remote_port) ^ F(local_port) ^ (F(ifindex) << 8);
    skb->priority = F(remote_ip6[0]) ^ F(remote_ip6[1]);
    if (data + 1 > data_end)
        return 0;
    return *(__u8 *)data >> 4 == 4;
}

char _license[] SEC("license") = "GPL";
