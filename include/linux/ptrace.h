/* SPDX-License-Identifier: MIT */
/* uapi linux/ptrace.h for eBPF programs (ebpflite): only what kprobe
 * programs use from it, struct pt_regs (see asm/ptrace.h). */
#ifndef __EBPFLITE_LINUX_PTRACE_H
#define __EBPFLITE_LINUX_PTRACE_H
#include <linux/types.h>
#include <asm/ptrace.h>
#endif
