/* ebpflite: byte order helpers shared with the Linux headers. */
#include <stdint.h>
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
#include "../bpf/bpf_endian.h"
