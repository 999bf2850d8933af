// SPDX-License-Identifier: MIT
/* An ebpf-for-windows bind policy: which process may bind which port.
 *
 * Built on the ebpf-for-windows tutorial's "bindmonitor" (a bind hook that
 * tracks processes and limits how many sockets each may bind), plus a port
 * policy. For every bind() the hook sees (bind_md_t):
 *   - BIND_OPERATION_BIND: if `port_policy` has an entry for (port, protocol),
 *     that decision wins: BIND_DENY, or BIND_PERMIT_HARD (allowed, and no
 *     later hook may refuse). Otherwise the process's entry in `process_map`
 *     (created on its first bind, holding its application id) counts its
 *     binds, and once it holds `limits_map[0]` sockets further binds get
 *     BIND_DENY (0 means no limit).
 *   - BIND_OPERATION_UNBIND: the process's count goes down; the entry is
 *     deleted when it reaches zero.
 * Everything else is BIND_PERMIT_SOFT (allowed unless another hook objects).
 *
 * Build: ebpflite cc --platform windows examples/bind_policy/bind.c -o bind.o
 */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

#define MAX_APP_ID 64 /* bytes of the UTF-16LE application id kept per process */

typedef struct _port_key {
	uint16_t port;    /* host byte order */
	uint8_t protocol; /* IPPROTO_TCP 6, IPPROTO_UDP 17 */
	uint8_t pad;
} port_key_t;

typedef struct _process_entry {
	uint32_t count;           /* sockets bound and not yet unbound */
	uint8_t name[MAX_APP_ID]; /* the start of the application id */
} process_entry_t;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, port_key_t);
	__type(value, uint32_t); /* bind_action_t */
	__uint(max_entries, 256);
} port_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, uint64_t); /* process id */
	__type(value, process_entry_t);
	__uint(max_entries, 1024);
} process_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, uint32_t);
	__type(value, uint32_t); /* binds allowed per process; 0 = unlimited */
	__uint(max_entries, 1);
} limits_map SEC(".maps");

/* The port of the sockaddr_in in socket_address (bytes 2-3, network order). */
static __always_inline uint16_t bound_port(bind_md_t *ctx)
{
	return (uint16_t)(ctx->socket_address[2] << 8 | ctx->socket_address[3]);
}

static __always_inline process_entry_t *find_or_create_process_entry(bind_md_t *ctx)
{
	uint64_t pid = ctx->process_id;
	process_entry_t *entry = bpf_map_lookup_elem(&process_map, &pid);
	process_entry_t fresh = {0};

	if (entry)
		return entry;
	/* Copy the application id byte by byte, checking each against app_id_end
	 * (as the ebpf-for-windows bindmonitor does): a proof every verifier accepts. */
#pragma unroll
	for (int i = 0; i < MAX_APP_ID; i++) {
		if (ctx->app_id_start + i + 1 > ctx->app_id_end)
			break;
		fresh.name[i] = ctx->app_id_start[i];
	}
	bpf_map_update_elem(&process_map, &pid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&process_map, &pid);
}

SEC("bind")
bind_action_t bind_policy(bind_md_t *ctx)
{
	port_key_t key = {0};
	uint32_t zero = 0, *found, *limit, decision;
	process_entry_t *entry;

	if (ctx->operation == BIND_OPERATION_UNBIND) {
		uint64_t pid = ctx->process_id;

		entry = bpf_map_lookup_elem(&process_map, &pid);
		if (entry) {
			if (entry->count > 0)
				entry->count--;
			if (entry->count == 0)
				bpf_map_delete_elem(&process_map, &pid);
		}
		return BIND_PERMIT_SOFT;
	}
	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT_SOFT;

	key.port = bound_port(ctx);
	key.protocol = ctx->protocol;
	found = bpf_map_lookup_elem(&port_policy, &key);
	decision = found ? *found : BIND_PERMIT_SOFT; /* no entry: the default */
	if (decision == BIND_DENY) {
		bpf_printk("bind: port %u denied to process %llu", key.port, ctx->process_id);
		return BIND_DENY;
	}

	entry = find_or_create_process_entry(ctx);
	if (!entry) {
		bpf_printk("bind: process table full");
		return BIND_DENY;
	}
	limit = bpf_map_lookup_elem(&limits_map, &zero);
	if (limit && *limit && entry->count >= *limit &&
	    decision != BIND_PERMIT_HARD) {
		bpf_printk("bind: pid %llu over limit %u", ctx->process_id, *limit);
		return BIND_DENY;
	}
	entry->count++;
	if (decision == BIND_PERMIT_HARD)
		return BIND_PERMIT_HARD;
	return BIND_PERMIT_SOFT;
}
