/* The kernel's per-packet replay loop: one BPF_PROG_TEST_RUN syscall per packet.
 *
 *   test_run_loop PINNED_PROG CAPTURE.pcap
 *
 * Opens a program pinned in bpffs, maps a classic pcap (either byte order,
 * micro- or nanosecond), and runs every packet through the program the way
 * a C tool built on libbpf's bpf_prog_test_run_opts() would (repeat 1, the
 * packet in data_in, the output in data_out). Prints one JSON object: the
 * packets run, the seconds the loop took (clock_gettime(CLOCK_MONOTONIC)
 * around it, the mapping of the capture excluded), the action counts and
 * the runs the kernel refused (e.g. frames shorter than an Ethernet header).
 * bench/replay_e2e.py compiles it with gcc and runs it in a private bpffs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint32_t rd32(const unsigned char *p, int swap)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PINNED_PROG CAPTURE.pcap\n", argv[0]);
		return 2;
	}
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)argv[1];
	int prog = sys_bpf(BPF_OBJ_GET, &attr);
	if (prog < 0) {
		fprintf(stderr, "BPF_OBJ_GET %s: %s\n", argv[1], strerror(errno));
		return 3;
	}
	int fd = open(argv[2], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 24) {
		fprintf(stderr, "cannot read %s\n", argv[2]);
		return 4;
	}
	const unsigned char *cap = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (cap == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", argv[2], strerror(errno));
		return 4;
	}
	uint32_t magic;
	memcpy(&magic, cap, 4);
	int swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	if (!swap && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
		fprintf(stderr, "%s is not a classic pcap\n", argv[2]);
		return 4;
	}
	static unsigned char out[65536];
	unsigned long long actions[8] = {0}, refused = 0, packets = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t off = 24; off + 16 <= (size_t)st.st_size;) {
		uint32_t caplen = rd32(cap + off + 8, swap);
		if (off + 16 + caplen > (size_t)st.st_size)
			break;
		memset(&attr, 0, sizeof(attr));
		attr.test.prog_fd = prog;
		attr.test.data_in = (uint64_t)(uintptr_t)(cap + off + 16);
		attr.test.data_size_in = caplen;
		attr.test.data_out = (uint64_t)(uintptr_t)out;
		attr.test.data_size_out = sizeof(out);
		attr.test.repeat = 1;
		if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0)
			refused++;
		else
			actions[attr.test.retval < 7 ? attr.test.retval : 7]++;
		packets++;
		off += 16 + caplen;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("{\"packets\": %llu, \"seconds\": %.6f, \"refused\": %llu, \"actions\": [", packets, seconds, refused);
	for (int i = 0; i < 8; i++)
		printf("%s%llu", i ? ", " : "", actions[i]);
	printf("]}\n");
	return 0;
}
