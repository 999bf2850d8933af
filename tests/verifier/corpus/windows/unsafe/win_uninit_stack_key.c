/* expect: uninit_stack -- passes a half-initialised key to a map lookup, which PREVAIL refuses. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, uint64_t); __type(value, uint64_t); __uint(max_entries, 16); } m SEC(".maps");
SEC("xdp") int win_uninit_stack_key(xdp_md_t *ctx)
{
	uint64_t key;
	*(uint32_t *)&key = ctx->ingress_ifindex; /* only half of the key is written */
	return bpf_map_lookup_elem(&m, &key) ? XDP_PASS : XDP_DROP;
}
