/* SPDX-License-Identifier: MIT */
/* The IPv6 header and extension headers, as the kernel's uapi
 * linux/ipv6.h defines them (ebpflite; layouts and values only). */
#ifndef __EBPFLITE_LINUX_IPV6_H
#define __EBPFLITE_LINUX_IPV6_H
#include <linux/types.h>
#include <linux/in6.h>
#include <asm/byteorder.h>

#define IPV6_MIN_MTU	1280

struct in6_pktinfo {
	struct in6_addr	ipi6_addr;
	int		ipi6_ifindex;
};

struct ip6_mtuinfo {
	struct sockaddr_in6	ip6m_addr;
	__u32			ip6m_mtu;
};

struct in6_ifreq {
	struct in6_addr	ifr6_addr;
	__u32		ifr6_prefixlen;
	int		ifr6_ifindex;
};

#define IPV6_SRCRT_STRICT	0x01
#define IPV6_SRCRT_TYPE_0	0
#define IPV6_SRCRT_TYPE_2	2
#define IPV6_SRCRT_TYPE_3	3
#define IPV6_SRCRT_TYPE_4	4

/* routing header */
struct ipv6_rt_hdr {
	__u8		nexthdr;
	__u8		hdrlen;
	__u8		type;
	__u8		segments_left;
	/* type-specific data follows */
};

/* hop-by-hop and destination options header */
struct ipv6_opt_hdr {
	__u8		nexthdr;
	__u8		hdrlen;
	/* TLV options follow */
} __attribute__((packed));

#define ipv6_destopt_hdr ipv6_opt_hdr
#define ipv6_hopopt_hdr  ipv6_opt_hdr

#define IPV6_OPT_ROUTERALERT_MLD	0x0000

struct rt0_hdr {
	struct ipv6_rt_hdr	rt_hdr;
	__u32			reserved;
	struct in6_addr		addr[];
#define rt0_type		rt_hdr.type
};

struct rt2_hdr {
	struct ipv6_rt_hdr	rt_hdr;
	__u32			reserved;
	struct in6_addr		addr;
#define rt2_type		rt_hdr.type
};

struct ipv6_destopt_hao {
	__u8			type;
	__u8			length;
	struct in6_addr		addr;
} __attribute__((packed));

/* the IPv6 header */
struct ipv6hdr {
#if defined(__LITTLE_ENDIAN_BITFIELD)
	__u8			priority:4,
				version:4;
#elif defined(__BIG_ENDIAN_BITFIELD)
	__u8			version:4,
				priority:4;
#else
#error "asm/byteorder.h defines neither __LITTLE_ENDIAN_BITFIELD nor __BIG_ENDIAN_BITFIELD"
#endif
	__u8			flow_lbl[3];

	__be16			payload_len;
	__u8			nexthdr;
	__u8			hop_limit;

	/* as the kernel's __struct_group: the addresses also as one member, addrs */
	union {
		struct {
			struct	in6_addr	saddr;
			struct	in6_addr	daddr;
		};
		struct {
			struct	in6_addr	saddr;
			struct	in6_addr	daddr;
		} addrs;
	};
};

#endif
