/* SPDX-License-Identifier: MIT */
/* Socket address family type and storage, as the kernel's uapi
 * linux/socket.h defines them (ebpflite). */
#ifndef __EBPFLITE_LINUX_SOCKET_H
#define __EBPFLITE_LINUX_SOCKET_H

#define _K_SS_MAXSIZE	128
typedef unsigned short __kernel_sa_family_t;

struct __kernel_sockaddr_storage {
	union {
		struct {
			__kernel_sa_family_t	ss_family;
			char __data[_K_SS_MAXSIZE - sizeof(unsigned short)];
		};
		void *__align;
	};
};

#endif
