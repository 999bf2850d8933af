/* Compute kernels for the JIT-vs-native benchmark (bench/test_bench_jit.py).
 *
 * Each kernel is `u64 name(u8 *mem)`: mem points to a 64 KiB buffer (the
 * first 32 KiB hold pseudo-random input). The same file is compiled once
 * with `clang -O2 -target bpf` (one section per kernel, run by ebpflite's
 * JIT) and once with `gcc -O2 -shared` (called through ctypes), so both
 * sides pay the same call overhead and do the same work.
 */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#ifdef __bpf__
#define KERNEL(name) __attribute__((section("kernel/" #name), used)) u64 name(u8 *mem)
#else
#define KERNEL(name) u64 name(u8 *mem)
#endif

#define HALF 32768

KERNEL(primes) {
    u64 count = 0;
    for (u32 n = 2; n < 8000; n++) {
        u32 d = 2;
        for (; d * d <= n; d++)
            if (n % d == 0)
                break;
        if (d * d > n)
            count++;
    }
    return count;
}

KERNEL(ilog2) {
    u64 sum = 0;
    for (u64 i = 1; i < 200000; i++) {
        u64 x = i * 2654435761ULL, r = 0;
        if (x >> 32) { x >>= 32; r += 32; }
        if (x >> 16) { x >>= 16; r += 16; }
        if (x >> 8) { x >>= 8; r += 8; }
        if (x >> 4) { x >>= 4; r += 4; }
        if (x >> 2) { x >>= 2; r += 2; }
        if (x >> 1) { r += 1; }
        sum += r;
    }
    return sum;
}

KERNEL(copy) {
    u64 *src = (u64 *)mem, *dst = (u64 *)(mem + HALF);
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < HALF / 8; i++)
            dst[i] = src[i] + round;
        __asm__ volatile("" ::: "memory");
    }
    return dst[17] + dst[HALF / 8 - 1];
}

KERNEL(strcmp_loop) {
    /* compare 64 NUL-terminated 256-byte strings that differ near their ends */
    u64 total = 0;
    for (int round = 0; round < 16; round++) {
        for (int s = 0; s < 63; s++) {
            const u8 *a = mem + s * 256, *b = mem + HALF + s * 256;
            int i = 0;
            while (a[i] && a[i] == b[i])
                i++;
            total += (u64)(a[i] - b[i]) + i;
        }
        __asm__ volatile("" ::: "memory");
    }
    return total;
}

KERNEL(dense_switch) {
    u64 acc = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < HALF; i++) {
            switch (mem[i] & 15) {
            case 0: acc += 1; break;
            case 1: acc ^= 3; break;
            case 2: acc *= 5; break;
            case 3: acc -= 7; break;
            case 4: acc += i; break;
            case 5: acc ^= i << 3; break;
            case 6: acc >>= 1; break;
            case 7: acc <<= 1; break;
            case 8: acc += 11; break;
            case 9: acc ^= 0x5555; break;
            case 10: acc *= 3; break;
            case 11: acc -= i; break;
            case 12: acc += mem[i + 1]; break;
            case 13: acc |= 1; break;
            case 14: acc &= ~1ULL; break;
            default: acc += 13; break;
            }
        }
        __asm__ volatile("" ::: "memory");
    }
    return acc;
}

KERNEL(checksum) {
    u64 total = 0;
    for (int round = 0; round < 8; round++) {
        u32 sum = 0;
        for (int i = 0; i < HALF; i += 2)
            sum += (u32)mem[i] << 8 | mem[i + 1];
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        total += (u16)~sum;
        __asm__ volatile("" ::: "memory");
    }
    return total;
}

KERNEL(fnv) {
    u64 h = 14695981039346656037ULL;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < HALF; i++) {
            h ^= mem[i];
            h *= 1099511628211ULL;
        }
        __asm__ volatile("" ::: "memory");
    }
    return h;
}

KERNEL(sort) {
    /* insertion sort of 1024 u32 copied from the input into the upper half */
    u32 *src = (u32 *)mem, *a = (u32 *)(mem + HALF);
    for (int i = 0; i < 1024; i++)
        a[i] = src[i];
    for (int i = 1; i < 1024; i++) {
        u32 key = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > key) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = key;
    }
    return (u64)a[0] + a[511] + a[1023];
}

KERNEL(parse) {
    /* a packet parser over 512 frames of 64 bytes (bench/test_bench_jit.py lays them out):
     * Ethernet, an optional 802.1Q tag, IPv4 (with options) or IPv6, then TCP/UDP ports;
     * every length is checked against the frame's end as an XDP program must */
    u64 acc = 0;
    for (int round = 0; round < 8; round++) {
        for (int p = 0; p < 512; p++) {
            const u8 *pkt = mem + p * 64, *end = pkt + 64, *l3 = pkt + 14, *l4;
            u32 proto = (u32)pkt[12] << 8 | pkt[13];
            u64 h;
            u32 l4proto;
            if (proto == 0x8100) {
                proto = (u32)pkt[16] << 8 | pkt[17];
                l3 += 4;
            }
            if (proto == 0x0800) {
                if (l3 + 20 > end)
                    continue;
                u32 ihl = (l3[0] & 15) * 4;
                if (ihl < 20 || l3 + ihl > end) {
                    acc += 5;
                    continue;
                }
                l4proto = l3[9];
                h = ((u64)l3[12] << 56 | (u64)l3[13] << 48 | (u64)l3[14] << 40 | (u64)l3[15] << 32) ^
                    ((u32)l3[16] << 24 | (u32)l3[17] << 16 | (u32)l3[18] << 8 | l3[19]);
                l4 = l3 + ihl;
            } else if (proto == 0x86dd) {
                if (l3 + 40 > end)
                    continue;
                l4proto = l3[6];
                h = 0;
                for (int i = 8; i < 40; i++)
                    h = h * 31 + l3[i];
                l4 = l3 + 40;
            } else {
                acc += 1;
                continue;
            }
            if (l4proto == 6 || l4proto == 17) {
                if (l4 + 4 > end) {
                    acc += 3;
                    continue;
                }
                h ^= (u64)((u32)l4[0] << 24 | (u32)l4[1] << 16 | (u32)l4[2] << 8 | l4[3]) << 7;
            }
            acc += (h * 0x9E3779B97F4A7C15ULL >> 17) + l4proto;
        }
        __asm__ volatile("" ::: "memory");
    }
    return acc;
}

KERNEL(mix64) {
    /* 64-bit ALU: splitmix64 steps, rotates and shifts, seeded from the input */
    u64 x = *(u64 *)mem, acc = 0;
    for (int i = 0; i < 100000; i++) {
        x += 0x9E3779B97F4A7C15ULL;
        u64 z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        acc += (z << 13 | z >> 51) ^ (acc >> 3);
    }
    return acc;
}
