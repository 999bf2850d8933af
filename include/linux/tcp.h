/* SPDX-License-Identifier: MIT */
/* The TCP header, its flag words and TCP socket options, as the kernel's
 * uapi linux/tcp.h defines them (ebpflite; layouts and values only). */
#ifndef __EBPFLITE_LINUX_TCP_H
#define __EBPFLITE_LINUX_TCP_H
#include <linux/types.h>
#include <asm/byteorder.h>

struct tcphdr {
	__be16	source;
	__be16	dest;
	__be32	seq;
	__be32	ack_seq;
#if defined(__LITTLE_ENDIAN_BITFIELD)
	__u16	res1:4,
		doff:4,
		fin:1,
		syn:1,
		rst:1,
		psh:1,
		ack:1,
		urg:1,
		ece:1,
		cwr:1;
#elif defined(__BIG_ENDIAN_BITFIELD)
	__u16	doff:4,
		res1:4,
		cwr:1,
		ece:1,
		urg:1,
		ack:1,
		psh:1,
		rst:1,
		syn:1,
		fin:1;
#else
#error "asm/byteorder.h defines neither __LITTLE_ENDIAN_BITFIELD nor __BIG_ENDIAN_BITFIELD"
#endif
	__be16	window;
	__sum16	check;
	__be16	urg_ptr;
};

/* the 32-bit word holding doff, the flags and the window, for masking */
union tcp_word_hdr {
	struct tcphdr hdr;
	__be32        words[5];
};

#define tcp_flag_word(tp) (((union tcp_word_hdr *)(tp))->words[3])

enum {
	TCP_FLAG_CWR = __constant_cpu_to_be32(0x00800000),
	TCP_FLAG_ECE = __constant_cpu_to_be32(0x00400000),
	TCP_FLAG_URG = __constant_cpu_to_be32(0x00200000),
	TCP_FLAG_ACK = __constant_cpu_to_be32(0x00100000),
	TCP_FLAG_PSH = __constant_cpu_to_be32(0x00080000),
	TCP_FLAG_RST = __constant_cpu_to_be32(0x00040000),
	TCP_FLAG_SYN = __constant_cpu_to_be32(0x00020000),
	TCP_FLAG_FIN = __constant_cpu_to_be32(0x00010000),
	TCP_RESERVED_BITS = __constant_cpu_to_be32(0x0F000000),
	TCP_DATA_OFFSET = __constant_cpu_to_be32(0xF0000000)
};

#define TCP_MSS_DEFAULT		 536U
#define TCP_MSS_DESIRED		1220U

/* TCP socket options (getsockopt/setsockopt, bpf_setsockopt) */
#define TCP_NODELAY		1
#define TCP_MAXSEG		2
#define TCP_CORK		3
#define TCP_KEEPIDLE		4
#define TCP_KEEPINTVL		5
#define TCP_KEEPCNT		6
#define TCP_SYNCNT		7
#define TCP_LINGER2		8
#define TCP_DEFER_ACCEPT	9
#define TCP_WINDOW_CLAMP	10
#define TCP_INFO		11
#define TCP_QUICKACK		12
#define TCP_CONGESTION		13
#define TCP_MD5SIG		14
#define TCP_THIN_LINEAR_TIMEOUTS 16
#define TCP_THIN_DUPACK		17
#define TCP_USER_TIMEOUT	18
#define TCP_REPAIR		19
#define TCP_REPAIR_QUEUE	20
#define TCP_QUEUE_SEQ		21
#define TCP_REPAIR_OPTIONS	22
#define TCP_FASTOPEN		23
#define TCP_TIMESTAMP		24
#define TCP_NOTSENT_LOWAT	25
#define TCP_CC_INFO		26
#define TCP_SAVE_SYN		27
#define TCP_SAVED_SYN		28
#define TCP_REPAIR_WINDOW	29
#define TCP_FASTOPEN_CONNECT	30
#define TCP_ULP			31
#define TCP_MD5SIG_EXT		32
#define TCP_FASTOPEN_KEY	33
#define TCP_FASTOPEN_NO_COOKIE	34
#define TCP_ZEROCOPY_RECEIVE	35
#define TCP_INQ			36
#define TCP_CM_INQ		TCP_INQ
#define TCP_TX_DELAY		37

/* connection states, as bpf_sock_ops and the tcp tracepoints report them */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT,
	TCP_SYN_RECV,
	TCP_FIN_WAIT1,
	TCP_FIN_WAIT2,
	TCP_TIME_WAIT,
	TCP_CLOSE,
	TCP_CLOSE_WAIT,
	TCP_LAST_ACK,
	TCP_LISTEN,
	TCP_CLOSING,
	TCP_NEW_SYN_RECV,
	TCP_BOUND_INACTIVE,
	TCP_MAX_STATES
};

#endif
