/* ebpflite: lets "bpf_helpers.h" find the libbpf-compatible header. */
#include <bpf/bpf_helpers.h>
