/* A socket filter reading its packet with the legacy loads (LD_ABS/LD_IND,
 * including the SKF_NET_OFF/SKF_LL_OFF negative offsets) and its fields; the
 * return value is the number of bytes to keep. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* one load per field read: clang may not merge two u32 context loads into a u64 one */
#define F(field) (*(volatile __typeof__(skb->field) *)&skb->field)

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define SKF_NET_OFF (-0x100000)
#define SKF_LL_OFF (-0x200000)

SEC("socket")
int socket_ld_abs(struct __sk_buff *skb)
{
    __u32 acc = 0;
    acc += load_byte(skb, 9);                         /* IPv4 protocol, from the network header */
    acc += load_half(skb, SKF_LL_OFF + 12) << 8;      /* the EtherType, from the MAC header */
    acc ^= load_word(skb, SKF_NET_OFF + 12);          /* the IPv4 source */
    skb->cb[0] = acc;
    skb->cb[1] = F(len) | (F(protocol) << 16);
    skb->cb[2] = F(pkt_type) | (F(ifindex) << 8) | (F(mark) << 16);
    skb->cb[3] = F(priority) ^ F(vlan_present);
    if (F(cb[4]) == 0 && F(len) > 30)
        acc = load_word(skb, F(len) - 2);           /* runs off the end: the program returns 0 */
    skb->cb[4] = acc;
    return F(len) > 40 ? 40 : F(len);
}

char _license[] SEC("license") = "GPL";
