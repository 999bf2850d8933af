/* ebpf-for-windows' legacy 32-byte map definitions in the "maps" section. */
#include "bpf_helpers.h"
#include "ebpf_nethooks.h"

SEC("maps") ebpf_map_definition_in_file_t port_map = {
	.type = BPF_MAP_TYPE_HASH, .key_size = 2, .value_size = 8, .max_entries = 100,
};
SEC("maps") ebpf_map_definition_in_file_t inner_template = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1, .id = 7,
};
SEC("maps") ebpf_map_definition_in_file_t outer_map = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4, .max_entries = 2,
	.inner_id = 7, .pinning = LIBBPF_PIN_BY_NAME,
};

SEC("xdp")
int count_ports(xdp_md_t *ctx)
{
	uint16_t port = (uint16_t)ctx->ingress_ifindex;
	uint64_t *count = bpf_map_lookup_elem(&port_map, &port);
	if (count)
		(*count)++;
	return XDP_PASS;
}
