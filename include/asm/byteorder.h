/* SPDX-License-Identifier: MIT */
/* Byte order of the eBPF target (ebpflite): which bitfield layout the uapi
 * headers use (__LITTLE_ENDIAN_BITFIELD / __BIG_ENDIAN_BITFIELD, as the
 * kernel's asm/byteorder.h defines them) and constant byte swaps.
 * bpfel and bpfeb both work: the choice follows the compiler's __BYTE_ORDER__. */
#ifndef __EBPFLITE_ASM_BYTEORDER_H
#define __EBPFLITE_ASM_BYTEORDER_H
#include <linux/types.h>

#define ___constant_swab16(x) ((__u16)((((__u16)(x) & 0x00ffU) << 8) | (((__u16)(x) & 0xff00U) >> 8)))
#define ___constant_swab32(x) ((__u32)((((__u32)(x) & 0x000000ffUL) << 24) | \
				       (((__u32)(x) & 0x0000ff00UL) << 8) | \
				       (((__u32)(x) & 0x00ff0000UL) >> 8) | \
				       (((__u32)(x) & 0xff000000UL) >> 24)))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#ifndef __LITTLE_ENDIAN
#define __LITTLE_ENDIAN 1234
#endif
#ifndef __LITTLE_ENDIAN_BITFIELD
#define __LITTLE_ENDIAN_BITFIELD
#endif
#define __constant_htonl(x) ((__be32)___constant_swab32((x)))
#define __constant_ntohl(x) ___constant_swab32((__be32)(x))
#define __constant_htons(x) ((__be16)___constant_swab16((x)))
#define __constant_ntohs(x) ___constant_swab16((__be16)(x))
#define __constant_cpu_to_be32(x) ((__be32)___constant_swab32((x)))
#define __constant_be32_to_cpu(x) ___constant_swab32((__be32)(x))
#define __constant_cpu_to_be16(x) ((__be16)___constant_swab16((x)))
#define __constant_be16_to_cpu(x) ___constant_swab16((__be16)(x))
#else
#ifndef __BIG_ENDIAN
#define __BIG_ENDIAN 4321
#endif
#ifndef __BIG_ENDIAN_BITFIELD
#define __BIG_ENDIAN_BITFIELD
#endif
#define __constant_htonl(x) ((__be32)(__u32)(x))
#define __constant_ntohl(x) ((__u32)(__be32)(x))
#define __constant_htons(x) ((__be16)(__u16)(x))
#define __constant_ntohs(x) ((__u16)(__be16)(x))
#define __constant_cpu_to_be32(x) ((__be32)(__u32)(x))
#define __constant_be32_to_cpu(x) ((__u32)(__be32)(x))
#define __constant_cpu_to_be16(x) ((__be16)(__u16)(x))
#define __constant_be16_to_cpu(x) ((__u16)(__be16)(x))
#endif

#endif
