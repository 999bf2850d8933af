/* The XDP parse-and-verdict program of the benchmarks (bench/test_bench_xdp.py,
 * bench/report.py): Ethernet, one optional 802.1Q tag, IPv4 (with options) or
 * IPv6, then TCP or UDP ports; drop telnet (TCP 23) and discard (UDP 9), drop
 * truncated headers, pass the rest, and count each verdict in an array map
 * (unless built with -DNO_COUNTERS).
 * Self-contained apart from the headers ebpflite ships. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct eth { __u8 dst[6], src[6]; __be16 proto; };
struct vlan { __be16 tci, proto; };
struct ipv4 { __u8 vihl, tos; __be16 len, id, frag; __u8 ttl, proto; __be16 csum; __be32 src, dst; };
struct ipv6 { __be32 vtcfl; __be16 plen; __u8 next, hops; __u8 src[16], dst[16]; };
struct ports { __be16 src, dst; };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} verdicts SEC(".maps");

/* -DNO_COUNTERS leaves the map out: the pure parse-and-verdict cost, no helper call */
static __always_inline int count(__u32 action)
{
#ifndef NO_COUNTERS
    __u64 *n = bpf_map_lookup_elem(&verdicts, &action);
    if (n)
        *n += 1;
#endif
    return action;
}

SEC("xdp")
int xdp_verdict(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct eth *eth = data;
    if ((void *)(eth + 1) > end)
        return count(XDP_DROP);
    void *next = eth + 1;
    __u16 proto = eth->proto;
    if (proto == bpf_htons(0x8100)) {
        struct vlan *vlan = next;
        if ((void *)(vlan + 1) > end)
            return count(XDP_DROP);
        proto = vlan->proto;
        next = vlan + 1;
    }
    __u8 l4;
    if (proto == bpf_htons(0x0800)) {
        struct ipv4 *ip = next;
        if ((void *)(ip + 1) > end)
            return count(XDP_DROP);
        __u32 ihl = (ip->vihl & 0xf) * 4;
        if (ihl < sizeof(*ip))
            return count(XDP_DROP);
        l4 = ip->proto;
        next = (void *)ip + ihl;
    } else if (proto == bpf_htons(0x86dd)) {
        struct ipv6 *ip6 = next;
        if ((void *)(ip6 + 1) > end)
            return count(XDP_DROP);
        l4 = ip6->next;
        next = ip6 + 1;
    } else {
        return count(XDP_PASS);
    }
    if (l4 != 6 && l4 != 17)
        return count(XDP_PASS);
    struct ports *ports = next;
    if ((void *)(ports + 1) > end)
        return count(XDP_DROP);
    if ((l4 == 6 && ports->dst == bpf_htons(23)) || (l4 == 17 && ports->dst == bpf_htons(9)))
        return count(XDP_DROP);
    return count(XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
