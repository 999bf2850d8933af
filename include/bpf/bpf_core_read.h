/* SPDX-License-Identifier: MIT */
/* libbpf-compatible bpf_core_read.h for ebpflite: BPF_CORE_READ and friends,
 * written for ebpflite from libbpf's documented interface.
 *
 * CO-RE and ebpflite: by default these macros keep libbpf's semantics. Reads
 * go through __builtin_preserve_access_index and the field/type/enum queries
 * through __builtin_preserve_{field,type}_info / __builtin_preserve_enum_value,
 * so the compiler records CO-RE relocations in .BTF.ext, which a kernel
 * loader (libbpf, bpftool) resolves against the running kernel's BTF.
 * ebpflite's loader applies them the same way, against
 * /sys/kernel/btf/vmlinux or the BTF given with --btf FILE / btf=
 * (docs/loader.md).
 *
 * Build with -DEBPFLITE_NO_CORE (or with a compiler that lacks the builtins)
 * and the macros degrade to what libbpf's non-CO-RE BPF_PROBE_READ does:
 * plain bpf_probe_read_kernel() reads at the offsets of the structs the
 * program was compiled with, and the queries answer for those local types
 * (field exists -> 1, sizes and offsets from sizeof/offsetof, enum values as
 * compiled). Such objects carry no CO-RE relocations and run in ebpflite;
 * they are right for a kernel whose layouts match the headers used. */
#ifndef __BPF_CORE_READ_H__
#define __BPF_CORE_READ_H__

#include <bpf/bpf_helpers.h>

enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,
	BPF_FIELD_BYTE_SIZE = 1,
	BPF_FIELD_EXISTS = 2,
	BPF_FIELD_SIGNED = 3,
	BPF_FIELD_LSHIFT_U64 = 4,
	BPF_FIELD_RSHIFT_U64 = 5,
};

enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,
	BPF_TYPE_ID_TARGET = 1,
};

enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,
	BPF_TYPE_SIZE = 1,
	BPF_TYPE_MATCHES = 2,
};

enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,
	BPF_ENUMVAL_VALUE = 1,
};

#if !defined(EBPFLITE_NO_CORE) && defined(__has_builtin)
#if __has_builtin(__builtin_preserve_access_index) && __has_builtin(__builtin_preserve_field_info)
#define ___EBPFLITE_CORE 1
#endif
#endif

/* field references: bpf_core_field_*(s->f) or bpf_core_field_*(struct t, f) */
#define ___bpf_field_ref1(field) (field)
#define ___bpf_field_ref2(type, field) (((typeof(type) *)0)->field)
#define ___bpf_field_ref(args...) ___bpf_apply(___bpf_field_ref, ___bpf_narg(args))(args)
#define ___bpf_typeof(type) ((typeof(type) *)0)
#define ___ebl_unsupported(what) \
	({ _Static_assert(0, what " needs CO-RE: build without -DEBPFLITE_NO_CORE"); 0; })

#ifdef ___EBPFLITE_CORE
#define ___ebl_core_access(src) __builtin_preserve_access_index(src)
#define __CORE_RELO(src, field, info) __builtin_preserve_field_info((src)->field, BPF_FIELD_##info)

#define bpf_core_field_exists(field...) __builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_EXISTS)
#define bpf_core_field_size(field...) __builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_offset(field...) __builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_OFFSET)
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) __builtin_btf_type_id(*___bpf_typeof(type), BPF_TYPE_ID_TARGET)
#define bpf_core_type_exists(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_EXISTS)
#define bpf_core_type_matches(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_MATCHES)
#define bpf_core_type_size(type) __builtin_preserve_type_info(*___bpf_typeof(type), BPF_TYPE_SIZE)
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)

/* a bitfield read through bpf_probe_read_kernel, relocated (little-endian target) */
#define BPF_CORE_READ_BITFIELD_PROBED(s, field) ({ \
	unsigned long long val = 0; \
	bpf_probe_read_kernel((void *)&val, __CORE_RELO(s, field, BYTE_SIZE), \
			      (const void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET)); \
	val <<= __CORE_RELO(s, field, LSHIFT_U64); \
	if (__CORE_RELO(s, field, SIGNED)) \
		val = ((long long)val) >> __CORE_RELO(s, field, RSHIFT_U64); \
	else \
		val = val >> __CORE_RELO(s, field, RSHIFT_U64); \
	val; \
})
#else
#define ___ebl_core_access(src) (src)

#define bpf_core_field_exists(field...) ((void)___bpf_field_ref(field), 1)
#define bpf_core_field_size(field...) sizeof(___bpf_field_ref(field))
#define ___ebl_field_offset1(field) ___ebl_unsupported("bpf_core_field_offset(s->f)")
#define ___ebl_field_offset2(type, field) __builtin_offsetof(typeof(type), field)
#define bpf_core_field_offset(field...) ___bpf_apply(___ebl_field_offset, ___bpf_narg(field))(field)
#define bpf_core_type_id_local(type) ___ebl_unsupported("bpf_core_type_id_local")
#define bpf_core_type_id_kernel(type) ___ebl_unsupported("bpf_core_type_id_kernel")
#define bpf_core_type_exists(type) ((void)___bpf_typeof(type), 1)
#define bpf_core_type_matches(type) ((void)___bpf_typeof(type), 1)
#define bpf_core_type_size(type) sizeof(typeof(type))
#define bpf_core_enum_value_exists(enum_type, enum_value) ((void)(enum_value), 1)
#define bpf_core_enum_value(enum_type, enum_value) (enum_value)
#define BPF_CORE_READ_BITFIELD_PROBED(s, field) ___ebl_unsupported("BPF_CORE_READ_BITFIELD_PROBED")
#endif

/* a bitfield of memory the program may read directly (tp_btf, fentry ...) */
#ifdef ___EBPFLITE_CORE
#define BPF_CORE_READ_BITFIELD(s, field) ({ \
	const void *p = (const void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET); \
	unsigned long long val; \
	asm volatile("" : "=r"(p) : "0"(p)); \
	switch (__CORE_RELO(s, field, BYTE_SIZE)) { \
	case 1: val = *(const unsigned char *)p; break; \
	case 2: val = *(const unsigned short *)p; break; \
	case 4: val = *(const unsigned int *)p; break; \
	case 8: val = *(const unsigned long long *)p; break; \
	default: val = 0; break; \
	} \
	val <<= __CORE_RELO(s, field, LSHIFT_U64); \
	if (__CORE_RELO(s, field, SIGNED)) \
		val = ((long long)val) >> __CORE_RELO(s, field, RSHIFT_U64); \
	else \
		val = val >> __CORE_RELO(s, field, RSHIFT_U64); \
	val; \
})
#else
#define BPF_CORE_READ_BITFIELD(s, field) ((unsigned long long)(s)->field)
#endif

/* one relocatable read of sz bytes at src (kernel or user memory, or a string) */
#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)___ebl_core_access(src))
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)___ebl_core_access(src))
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)___ebl_core_access(src))
#define bpf_core_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)___ebl_core_access(src))

/* plain (never relocated) forms, for BPF_PROBE_READ */
#define ___ebl_probe_read(dst, sz, src) bpf_probe_read_kernel(dst, sz, (const void *)(src))
#define ___ebl_probe_read_user(dst, sz, src) bpf_probe_read_user(dst, sz, (const void *)(src))
#define ___ebl_probe_read_str(dst, sz, src) bpf_probe_read_kernel_str(dst, sz, (const void *)(src))
#define ___ebl_probe_read_user_str(dst, sz, src) bpf_probe_read_user_str(dst, sz, (const void *)(src))

/* Pointer chains: BPF_CORE_READ(s, a, b, c) reads s->a->b->c, one read per
 * arrow, each through the reader fn; the list helpers take the chain apart. */
#define ___ebl_empty(...) ___bpf_nth(_, ##__VA_ARGS__, N, N, N, N, N, N, N, N, N, N, N, N, 0)
#define ___ebl_last1(a1) a1
#define ___ebl_last2(a1, a2) a2
#define ___ebl_last3(a1, a2, a3) a3
#define ___ebl_last4(a1, a2, a3, a4) a4
#define ___ebl_last5(a1, a2, a3, a4, a5) a5
#define ___ebl_last6(a1, a2, a3, a4, a5, a6) a6
#define ___ebl_last7(a1, a2, a3, a4, a5, a6, a7) a7
#define ___ebl_last8(a1, a2, a3, a4, a5, a6, a7, a8) a8
#define ___ebl_last9(a1, a2, a3, a4, a5, a6, a7, a8, a9) a9
#define ___ebl_last10(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) a10
#define ___ebl_last(...) ___bpf_apply(___ebl_last, ___bpf_narg(__VA_ARGS__))(__VA_ARGS__)
#define ___ebl_nolast1(a1)
#define ___ebl_nolast2(a1, a2) a1
#define ___ebl_nolast3(a1, a2, a3) a1, a2
#define ___ebl_nolast4(a1, a2, a3, a4) a1, a2, a3
#define ___ebl_nolast5(a1, a2, a3, a4, a5) a1, a2, a3, a4
#define ___ebl_nolast6(a1, a2, a3, a4, a5, a6) a1, a2, a3, a4, a5
#define ___ebl_nolast7(a1, a2, a3, a4, a5, a6, a7) a1, a2, a3, a4, a5, a6
#define ___ebl_nolast8(a1, a2, a3, a4, a5, a6, a7, a8) a1, a2, a3, a4, a5, a6, a7
#define ___ebl_nolast9(a1, a2, a3, a4, a5, a6, a7, a8, a9) a1, a2, a3, a4, a5, a6, a7, a8
#define ___ebl_nolast10(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) a1, a2, a3, a4, a5, a6, a7, a8, a9
#define ___ebl_nolast(...) ___bpf_apply(___ebl_nolast, ___bpf_narg(__VA_ARGS__))(__VA_ARGS__)
#define ___ebl_arrow1(a1) a1
#define ___ebl_arrow2(a1, a2) a1->a2
#define ___ebl_arrow3(a1, a2, a3) a1->a2->a3
#define ___ebl_arrow4(a1, a2, a3, a4) a1->a2->a3->a4
#define ___ebl_arrow5(a1, a2, a3, a4, a5) a1->a2->a3->a4->a5
#define ___ebl_arrow6(a1, a2, a3, a4, a5, a6) a1->a2->a3->a4->a5->a6
#define ___ebl_arrow7(a1, a2, a3, a4, a5, a6, a7) a1->a2->a3->a4->a5->a6->a7
#define ___ebl_arrow8(a1, a2, a3, a4, a5, a6, a7, a8) a1->a2->a3->a4->a5->a6->a7->a8
#define ___ebl_arrow9(a1, a2, a3, a4, a5, a6, a7, a8, a9) a1->a2->a3->a4->a5->a6->a7->a8->a9
#define ___ebl_arrow10(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) a1->a2->a3->a4->a5->a6->a7->a8->a9->a10
#define ___ebl_arrow(...) ___bpf_apply(___ebl_arrow, ___bpf_narg(__VA_ARGS__))(__VA_ARGS__)
#define ___ebl_type(...) typeof(___ebl_arrow(__VA_ARGS__))

#define ___ebl_read(fn, dst, src_type, src, accessor) \
	fn((void *)(dst), sizeof(*(dst)), &((src_type)(src))->accessor)
#define ___ebl_rd_first(fn, src, a) ___ebl_read(fn, &__t, ___ebl_type(src), src, a);
#define ___ebl_rd_last(fn, ...) \
	___ebl_read(fn, &__t, ___ebl_type(___ebl_nolast(__VA_ARGS__)), __t, ___ebl_last(__VA_ARGS__));
#define ___ebl_rd_p1(fn, ...) const void *__t; ___ebl_rd_first(fn, __VA_ARGS__)
#define ___ebl_rd_p2(fn, ...) ___ebl_rd_p1(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p3(fn, ...) ___ebl_rd_p2(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p4(fn, ...) ___ebl_rd_p3(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p5(fn, ...) ___ebl_rd_p4(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p6(fn, ...) ___ebl_rd_p5(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p7(fn, ...) ___ebl_rd_p6(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p8(fn, ...) ___ebl_rd_p7(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_rd_p9(fn, ...) ___ebl_rd_p8(fn, ___ebl_nolast(__VA_ARGS__)) ___ebl_rd_last(fn, __VA_ARGS__)
#define ___ebl_read_ptrs(fn, src, args...) ___bpf_apply(___ebl_rd_p, ___bpf_narg(args))(fn, src, args)

#define ___ebl_core_read0(fn, fn_ptr, dst, src, a) ___ebl_read(fn, dst, ___ebl_type(src), src, a);
#define ___ebl_core_readN(fn, fn_ptr, dst, src, ...) \
	___ebl_read_ptrs(fn_ptr, src, ___ebl_nolast(__VA_ARGS__)) \
	___ebl_read(fn, dst, ___ebl_type(src, ___ebl_nolast(__VA_ARGS__)), __t, ___ebl_last(__VA_ARGS__));
#define ___ebl_core_read(fn, fn_ptr, dst, src, a, ...) \
	___bpf_apply(___ebl_core_read, ___ebl_empty(__VA_ARGS__))(fn, fn_ptr, dst, src, a, ##__VA_ARGS__)

#define BPF_CORE_READ_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(bpf_core_read, bpf_core_read, dst, (src), a, ##__VA_ARGS__) })
#define BPF_CORE_READ_USER_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(bpf_core_read_user, bpf_core_read_user, dst, (src), a, ##__VA_ARGS__) })
#define BPF_PROBE_READ_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(___ebl_probe_read, ___ebl_probe_read, dst, (src), a, ##__VA_ARGS__) })
#define BPF_PROBE_READ_USER_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(___ebl_probe_read_user, ___ebl_probe_read_user, dst, (src), a, ##__VA_ARGS__) })
#define BPF_CORE_READ_STR_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(bpf_core_read_str, bpf_core_read, dst, (src), a, ##__VA_ARGS__) })
#define BPF_CORE_READ_USER_STR_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(bpf_core_read_user_str, bpf_core_read_user, dst, (src), a, ##__VA_ARGS__) })
#define BPF_PROBE_READ_STR_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(___ebl_probe_read_str, ___ebl_probe_read, dst, (src), a, ##__VA_ARGS__) })
#define BPF_PROBE_READ_USER_STR_INTO(dst, src, a, ...) \
	({ ___ebl_core_read(___ebl_probe_read_user_str, ___ebl_probe_read_user, dst, (src), a, ##__VA_ARGS__) })

#define BPF_CORE_READ(src, a, ...) ({ \
	___ebl_type((src), a, ##__VA_ARGS__) __r; \
	BPF_CORE_READ_INTO(&__r, (src), a, ##__VA_ARGS__); \
	__r; \
})
#define BPF_CORE_READ_USER(src, a, ...) ({ \
	___ebl_type((src), a, ##__VA_ARGS__) __r; \
	BPF_CORE_READ_USER_INTO(&__r, (src), a, ##__VA_ARGS__); \
	__r; \
})
#define BPF_PROBE_READ(src, a, ...) ({ \
	___ebl_type((src), a, ##__VA_ARGS__) __r; \
	BPF_PROBE_READ_INTO(&__r, (src), a, ##__VA_ARGS__); \
	__r; \
})
#define BPF_PROBE_READ_USER(src, a, ...) ({ \
	___ebl_type((src), a, ##__VA_ARGS__) __r; \
	BPF_PROBE_READ_USER_INTO(&__r, (src), a, ##__VA_ARGS__); \
	__r; \
})

#endif
