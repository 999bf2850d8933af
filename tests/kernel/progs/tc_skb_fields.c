/* Every __sk_buff field a tc program may read, written over the packet
 * (after the Ethernet header) so data_out shows what the kernel built. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* one load per field read: clang may not merge two u32 context loads into a u64 one */
#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

SEC("tc")
int tc_skb_fields(struct __sk_buff *skb)
{
    void *data = (void *)(long)F(data), *data_end = (void *)(long)F(data_end);
    __u32 *out = data + 14;
    if ((void *)(out + 24) > data_end)
        return F(len);
    out[0] = F(len); out[1] = F(pkt_type); out[2] = F(mark); out[3] = F(queue_mapping);
    out[4] = F(protocol); out[5] = F(vlan_present); out[6] = F(vlan_tci); out[7] = F(vlan_proto);
    out[8] = F(priority); out[9] = F(ingress_ifindex); out[10] = F(ifindex); out[11] = F(tc_index);
    out[12] = F(cb[0]) ^ F(cb[4]); out[13] = F(hash); out[14] = F(tc_classid); out[15] = F(napi_id);
    out[16] = F(wire_len); out[17] = F(gso_segs); out[18] = F(gso_size); out[19] = (__u32)F(tstamp);
    out[20] = (__u32)F(hwtstamp); out[21] = F(data_meta) - F(data);
    out[22] = F(data_end) - F(data);
    out[23] = *(volatile __u8 *)((void *)skb + 4) | (*(volatile __u16 *)((void *)skb + 16) << 8);
    return 0;
}

char _license[] SEC("license") = "GPL";
