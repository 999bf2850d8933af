/* The shipped uapi structs have the kernel's sizes and offsets (x86-64,
 * little-endian eBPF): a compile-time check, plus a trivial XDP program so
 * the object loads like any other. */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof(" #T ") != " #n)
#define OFF(T, f, n) _Static_assert(offsetof(T, f) == (n), "offsetof(" #T ", " #f ") != " #n)

SIZE(struct ethhdr, 14);
OFF(struct ethhdr, h_source, 6);
OFF(struct ethhdr, h_proto, 12);
SIZE(struct iphdr, 20);
OFF(struct iphdr, tos, 1);
OFF(struct iphdr, tot_len, 2);
OFF(struct iphdr, frag_off, 6);
OFF(struct iphdr, ttl, 8);
OFF(struct iphdr, protocol, 9);
OFF(struct iphdr, check, 10);
OFF(struct iphdr, saddr, 12);
OFF(struct iphdr, daddr, 16);
OFF(struct iphdr, addrs, 12);
SIZE(struct in_addr, 4);
SIZE(struct sockaddr_in, 16);
SIZE(struct in6_addr, 16);
SIZE(struct sockaddr_in6, 28);
OFF(struct sockaddr_in6, sin6_addr, 8);
SIZE(struct ipv6hdr, 40);
OFF(struct ipv6hdr, flow_lbl, 1);
OFF(struct ipv6hdr, payload_len, 4);
OFF(struct ipv6hdr, nexthdr, 6);
OFF(struct ipv6hdr, hop_limit, 7);
OFF(struct ipv6hdr, saddr, 8);
OFF(struct ipv6hdr, daddr, 24);
SIZE(struct ipv6_opt_hdr, 2);
SIZE(struct ipv6_rt_hdr, 4);
SIZE(struct tcphdr, 20);
OFF(struct tcphdr, seq, 4);
OFF(struct tcphdr, ack_seq, 8);
OFF(struct tcphdr, window, 14);
OFF(struct tcphdr, check, 16);
OFF(struct tcphdr, urg_ptr, 18);
SIZE(struct udphdr, 8);
OFF(struct udphdr, check, 6);
SIZE(struct icmphdr, 8);
OFF(struct icmphdr, un.echo.sequence, 6);
OFF(struct icmphdr, un.frag.mtu, 6);
SIZE(struct icmp6hdr, 8);
OFF(struct icmp6hdr, icmp6_dataun.u_echo.sequence, 6);
OFF(struct icmp6hdr, icmp6_dataun.u_nd_ra.rt_lifetime, 6);
SIZE(struct sockaddr_ll, 20);
SIZE(struct sockaddr_pkt, 18);
SIZE(struct pt_regs, 168);
OFF(struct pt_regs, bp, 32);
OFF(struct pt_regs, rbp, 32);
OFF(struct pt_regs, r8, 72);
OFF(struct pt_regs, ax, 80);
OFF(struct pt_regs, cx, 88);
OFF(struct pt_regs, dx, 96);
OFF(struct pt_regs, si, 104);
OFF(struct pt_regs, di, 112);
OFF(struct pt_regs, rdi, 112);
OFF(struct pt_regs, orig_ax, 120);
OFF(struct pt_regs, ip, 128);
OFF(struct pt_regs, flags, 144);
OFF(struct pt_regs, sp, 152);
SIZE(struct xdp_md, 24);
_Static_assert(TC_ACT_SHOT == 2 && TC_ACT_REDIRECT == 7 && ETH_P_IPV6 == 0x86DD, "constants");
_Static_assert(IPPROTO_ICMPV6 == 58 && IPPROTO_UDP == 17 && ICMPV6_ECHO_REQUEST == 128, "constants");

SEC("xdp")
int xdp_sizes(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
