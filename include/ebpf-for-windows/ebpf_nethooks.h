/* SPDX-License-Identifier: MIT */
/* ebpf-for-windows hook contexts and actions (XDP and bind) for ebpflite. */
#ifndef __EBPFLITE_WINDOWS_NETHOOKS_H
#define __EBPFLITE_WINDOWS_NETHOOKS_H
#include <stdint.h>

typedef struct _xdp_md {
	void *data;
	void *data_end;
	uint64_t data_meta;
	uint32_t ingress_ifindex;
} xdp_md_t;

typedef enum _xdp_action {
	XDP_PASS = 1,
	XDP_DROP = 2,
	XDP_TX = 3,
} xdp_action_t;

typedef int xdp_hook_t(xdp_md_t *context);

typedef enum _bind_operation {
	BIND_OPERATION_BIND,
	BIND_OPERATION_POST_BIND,
	BIND_OPERATION_UNBIND,
} bind_operation_t;

typedef struct _bind_md {
	uint8_t *app_id_start;
	uint8_t *app_id_end;
	uint64_t process_id;
	uint8_t socket_address[16];
	uint8_t socket_address_length;
	bind_operation_t operation;
	uint8_t protocol;
} bind_md_t;

typedef enum _bind_action {
	BIND_PERMIT_SOFT,
	BIND_DENY,
	BIND_REDIRECT,
	BIND_PERMIT_HARD,
} bind_action_t;

typedef bind_action_t bind_hook_t(bind_md_t *context);

#endif
