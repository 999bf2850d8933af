/* A socket filter (SO_ATTACH_BPF) in the kernel samples' style: reads the
 * IP protocol with bpf_skb_load_bytes and keeps only TCP and UDP. */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_bytes SEC(".maps");

SEC("socket")
int socket_keep_tcp_udp(struct __sk_buff *skb)
{
	__u8 proto = 0;
	__u32 key;
	__u64 *bytes;

	if (skb->pkt_type == PACKET_OUTGOING)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &proto, 1) < 0)
		return 0;
	key = proto;
	bytes = bpf_map_lookup_elem(&proto_bytes, &key);
	if (bytes)
		__sync_fetch_and_add(bytes, skb->len);
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ? skb->len : 0;
}

char _license[] SEC("license") = "GPL";
