/* The "kernel" the CO-RE test programs are relocated against: only its BTF matters. */
#include <linux/types.h>

struct hdr { __u8 pad[3]; __u8 kind; __u16 len; __u32 flags; };
struct opts {
	int a;
	union { int b; struct { int c; int renamed_d; }; };
	unsigned int bits1:3, bits2:5;
	int sbits:4;
};
struct pair { int x; int y; int z; };
enum color { RED = 10, GREEN = 20 };
enum neg { NEG_B = 3, NEG_A = -7 };
enum big { BIG_B = 0xFFFFFFF0u, BIG_A = 2 };

struct hdr g_hdr;
struct opts g_opts;
struct pair g_pair;
enum color g_color;
enum neg g_neg;
enum big g_big;
