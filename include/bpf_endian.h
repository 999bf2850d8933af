/* ebpflite: lets "bpf_endian.h" find the libbpf-compatible header. */
#include <bpf/bpf_endian.h>
