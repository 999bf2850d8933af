/* SPDX-License-Identifier: MIT */
/* ebpf-for-windows-compatible bpf_helpers.h for ebpflite: the same
 * SEC/__uint/__type/__array macros as libbpf, the Windows map types and
 * the Windows helper numbers (ebpf_structs.h's ebpf_helper_id_t). */
#ifndef __EBPFLITE_WINDOWS_BPF_HELPERS_H
#define __EBPFLITE_WINDOWS_BPF_HELPERS_H

#include <stdint.h>
#include <stdbool.h>

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define SEC(name) __attribute__((section(name), used))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif

typedef enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERCPU_HASH = 4,
	BPF_MAP_TYPE_PERCPU_ARRAY = 5,
	BPF_MAP_TYPE_HASH_OF_MAPS = 6,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 7,
	BPF_MAP_TYPE_LRU_HASH = 8,
	BPF_MAP_TYPE_LPM_TRIE = 9,
	BPF_MAP_TYPE_QUEUE = 10,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 11,
	BPF_MAP_TYPE_STACK = 12,
	BPF_MAP_TYPE_RINGBUF = 13,
} ebpf_map_type_t;

typedef enum ebpf_pin_type {
	LIBBPF_PIN_NONE = 0,
	LIBBPF_PIN_BY_NAME = 1,
} ebpf_pin_type_t;

/* The 32-byte legacy definition of the "maps" section. */
typedef struct _ebpf_map_definition_in_file {
	ebpf_map_type_t type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t inner_map_idx;
	ebpf_pin_type_t pinning;
	uint32_t id;
	uint32_t inner_id;
} ebpf_map_definition_in_file_t;

#define BPF_ANY 0x0
#define BPF_NOEXIST 0x1
#define BPF_EXIST 0x2

typedef enum {
	BPF_FUNC_map_lookup_elem = 1,
	BPF_FUNC_map_update_elem = 2,
	BPF_FUNC_map_delete_elem = 3,
	BPF_FUNC_map_lookup_and_delete_elem = 4,
	BPF_FUNC_tail_call = 5,
	BPF_FUNC_get_prandom_u32 = 6,
	BPF_FUNC_ktime_get_boot_ns = 7,
	BPF_FUNC_get_smp_processor_id = 8,
	BPF_FUNC_ktime_get_ns = 9,
	BPF_FUNC_csum_diff = 10,
	BPF_FUNC_ringbuf_output = 11,
	BPF_FUNC_trace_printk2 = 12,
	BPF_FUNC_trace_printk3 = 13,
	BPF_FUNC_trace_printk4 = 14,
	BPF_FUNC_trace_printk5 = 15,
	BPF_FUNC_map_push_elem = 16,
	BPF_FUNC_map_pop_elem = 17,
	BPF_FUNC_map_peek_elem = 18,
	BPF_FUNC_get_current_pid_tgid = 19,
	BPF_FUNC_get_current_logon_id = 20,
	BPF_FUNC_is_current_admin = 21,
	BPF_FUNC_memcpy = 22,
	BPF_FUNC_memcmp = 23,
	BPF_FUNC_memset = 24,
	BPF_FUNC_memmove = 25,
	BPF_FUNC_get_socket_cookie = 26,
	BPF_FUNC_strncpy_s = 27,
	BPF_FUNC_strncat_s = 28,
	BPF_FUNC_strnlen_s = 29,
	BPF_FUNC_ktime_get_boot_ms = 30,
	BPF_FUNC_ktime_get_ms = 31,
} ebpf_helper_id_t;

struct bpf_map;
#define EBPF_HELPER(ret, name, args) typedef ret(*bpf_##name##_t) args; \
	static const bpf_##name##_t bpf_##name = (bpf_##name##_t)BPF_FUNC_##name

EBPF_HELPER(void *, map_lookup_elem, (void *map, void *key));
EBPF_HELPER(int64_t, map_update_elem, (void *map, void *key, void *value, uint64_t flags));
EBPF_HELPER(int64_t, map_delete_elem, (void *map, void *key));
EBPF_HELPER(void *, map_lookup_and_delete_elem, (void *map, void *key));
EBPF_HELPER(int64_t, tail_call, (void *ctx, void *prog_array_map, uint32_t index));
EBPF_HELPER(uint32_t, get_prandom_u32, (void));
EBPF_HELPER(uint64_t, ktime_get_boot_ns, (void));
EBPF_HELPER(uint64_t, get_smp_processor_id, (void));
EBPF_HELPER(uint64_t, ktime_get_ns, (void));
EBPF_HELPER(int, csum_diff, (void *from, int from_size, void *to, int to_size, int seed));
EBPF_HELPER(int, ringbuf_output, (void *ring_buffer, void *data, uint64_t size, uint64_t flags));
EBPF_HELPER(long, trace_printk2, (const char *fmt, uint32_t fmt_size));
EBPF_HELPER(long, trace_printk3, (const char *fmt, uint32_t fmt_size, uint64_t arg3));
EBPF_HELPER(long, trace_printk4, (const char *fmt, uint32_t fmt_size, uint64_t arg3, uint64_t arg4));
EBPF_HELPER(long, trace_printk5, (const char *fmt, uint32_t fmt_size, uint64_t arg3, uint64_t arg4,
				  uint64_t arg5));
EBPF_HELPER(int64_t, map_push_elem, (void *map, void *value, uint64_t flags));
EBPF_HELPER(int64_t, map_pop_elem, (void *map, void *value));
EBPF_HELPER(int64_t, map_peek_elem, (void *map, void *value));
EBPF_HELPER(uint64_t, get_current_pid_tgid, (void));
EBPF_HELPER(uint64_t, get_current_logon_id, (void *ctx));
EBPF_HELPER(int32_t, is_current_admin, (void *ctx));
EBPF_HELPER(void *, memcpy, (void *dst, uint32_t dst_size, const void *src, uint32_t src_size));
EBPF_HELPER(int, memcmp, (const void *p1, uint32_t p1_size, const void *p2, uint32_t p2_size));
EBPF_HELPER(void *, memset, (void *p, uint32_t count, int value));
EBPF_HELPER(void *, memmove, (void *dst, uint32_t dst_size, const void *src, uint32_t src_size));
EBPF_HELPER(uint64_t, get_socket_cookie, (void *ctx));
EBPF_HELPER(uint64_t, ktime_get_boot_ms, (void));
EBPF_HELPER(uint64_t, ktime_get_ms, (void));

/* bpf_printk picks trace_printk2..5 by argument count, as ebpf-for-windows does. */
#define EBPF_CONCATENATE(X, Y) X##Y
#define EBPF_MAKE_HELPER_NAME(PREFIX, ARG_COUNT) EBPF_CONCATENATE(PREFIX, ARG_COUNT)
#define EBPF_GET_NTH_ARG(_1, _2, _3, _4, _5, N, ...) N
#define EBPF_COUNT_VA_ARGS(...) EBPF_GET_NTH_ARG(__VA_ARGS__, 5, 4, 3, 2, 1)
#define EBPF_VA_ARGS_HELPER(PREFIX, ...) \
	EBPF_MAKE_HELPER_NAME(PREFIX, EBPF_COUNT_VA_ARGS(__VA_ARGS__))(__VA_ARGS__)
#define bpf_printk(fmt, ...) \
	({ \
		char ____fmt[] = fmt; \
		EBPF_VA_ARGS_HELPER(bpf_trace_printk, ____fmt, sizeof(____fmt), ##__VA_ARGS__); \
	})

#endif
