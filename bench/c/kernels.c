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
