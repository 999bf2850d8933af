/* The CO-RE test program: each out[] slot is one relocation kind, resolved against target.c
   (tests/loader/test_loader_core.py). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __core __attribute__((preserve_access_index))
struct hdr { __u8 kind; __u16 len; __u32 missing; } __core;
struct opts { int a; int c; int d; unsigned int bits2:5; int sbits:4; } __core;
struct opts___flavour { int c; } __core;
struct pair { int x; int y; } __core;
struct only_here { int z; } __core;
enum color { RED = 1, GREEN = 2, BLUE = 3 };

__u64 out[16];

SEC("xdp")
int read_all(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 64 > end)
		return XDP_ABORTED;
	struct hdr *h = data;
	struct opts *o = data + 16;
	struct opts___flavour *f = data + 16;
	out[0] = h->kind;
	out[1] = h->len;
	out[2] = bpf_core_field_size(h->len);
	out[3] = bpf_core_field_exists(h->missing);
	if (bpf_core_field_exists(h->missing))
		out[4] = h->missing;
	out[5] = o->c;
	out[6] = BPF_CORE_READ_BITFIELD(o, bits2);
	out[7] = BPF_CORE_READ_BITFIELD(o, sbits);
	out[8] = bpf_core_type_size(struct hdr);
	out[9] = bpf_core_type_exists(struct only_here);
	out[10] = bpf_core_enum_value(enum color, GREEN);
	out[11] = bpf_core_enum_value_exists(enum color, BLUE);
#if __clang_major__ >= 15
	out[12] = bpf_core_type_matches(struct pair);
#else
	out[12] = 99;  /* clang < 15 has no type_matches relocation */
#endif
	out[13] = bpf_core_type_id_kernel(struct hdr);
	out[14] = bpf_core_type_id_local(struct hdr);
	out[15] = f->c;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
