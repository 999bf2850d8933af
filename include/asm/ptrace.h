/* SPDX-License-Identifier: MIT */
/* struct pt_regs of x86-64, the context of kprobe/uprobe programs (ebpflite).
 *
 * The layout is the kernel's (21 unsigned longs, 168 bytes). Each register
 * answers to both of its names: the kernel's (di, si, ax ..., as vmlinux.h
 * and in-kernel code spell them) and the uapi asm/ptrace.h ones (rdi, rsi,
 * rax ...), through anonymous unions, so programs written either way compile
 * and bpf_tracing.h's PT_REGS_* macros work with both. */
#ifndef __EBPFLITE_ASM_PTRACE_H
#define __EBPFLITE_ASM_PTRACE_H

#define ___EBPFLITE_REG2(k, u) union { unsigned long k; unsigned long u; }
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	___EBPFLITE_REG2(bp, rbp);
	___EBPFLITE_REG2(bx, rbx);
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	___EBPFLITE_REG2(ax, rax);
	___EBPFLITE_REG2(cx, rcx);
	___EBPFLITE_REG2(dx, rdx);
	___EBPFLITE_REG2(si, rsi);
	___EBPFLITE_REG2(di, rdi);
	___EBPFLITE_REG2(orig_ax, orig_rax);
	___EBPFLITE_REG2(ip, rip);
	unsigned long cs;
	___EBPFLITE_REG2(flags, eflags);
	___EBPFLITE_REG2(sp, rsp);
	unsigned long ss;
};
#undef ___EBPFLITE_REG2

#endif
