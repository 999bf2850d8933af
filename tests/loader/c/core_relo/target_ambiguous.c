/* Two flavours of struct hdr that place `kind` differently: CO-RE cannot choose between them. */
#include <linux/types.h>

struct hdr { __u8 kind; __u16 len; };
struct hdr___v2 { __u8 pad; __u8 kind; __u16 len; };

struct hdr g_hdr;
struct hdr___v2 g_hdr2;
