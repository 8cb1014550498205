/* The VM-state checksum's cost (util/crc32.c): zlib's crc32, which petrel used before, against
 * crc32_fast (libdeflate), on one buffer of SIZE MiB (default 1024) and on a state file's size
 * (8 KiB, a 1-vCPU VM's vm.state). Best of ROUNDS (default 5), the two interleaved; no KVM.
 * Usage: bench/crc32_host [SIZE_MIB [ROUNDS]]. Prints figures; asserts nothing but that the two
 * agree (docs/snapshots.md#checksum). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "util/crc32.h"

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint32_t zlib_crc(const uint8_t *p, size_t len)
{
	uLong c = crc32(0, NULL, 0);
	for (; len;) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

/* Best ns of rounds x reps checksums of len bytes, with zlib (which 0) or libdeflate (1). */
static double best_ns(int which, const uint8_t *b, size_t len, int reps, uint32_t *out)
{
	uint64_t t0 = now_ns();
	for (int i = 0; i < reps; i++)
		*out = which ? crc32_fast(0, b, len) : zlib_crc(b, len);
	return (double)(now_ns() - t0) / reps;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const char *why = crc32_load();
	if (why) {
		fprintf(stderr, "crc32_host: libdeflate not loaded (%s): nothing to compare\n", why);
		return 1;
	}
	size_t len = mib << 20;
	uint8_t *b = malloc(len);
	if (!b) {
		perror("malloc");
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 2654435761u >> 13);
	struct { const char *what; size_t len; int reps; } cases[] = {
		{ "buffer", len, 1 }, { "8 KiB state", 8192, 20000 },
	};
	printf("CRC-32, best of %d rounds, no KVM\n%-14s %14s %14s %8s\n", rounds, "case", "zlib", "libdeflate", "speed-up");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double best[2] = { 1e30, 1e30 };
		uint32_t v[2];
		for (int r = 0; r < rounds; r++)
			for (int which = 0; which < 2; which++) {
				double ns = best_ns(which, b, cases[c].len, cases[c].reps, &v[which]);
				if (ns < best[which])
					best[which] = ns;
			}
		if (v[0] != v[1]) {
			fprintf(stderr, "crc32_host: the two disagree on %s: %#x != %#x\n", cases[c].what, v[0], v[1]);
			return 1;
		}
		double gbs0 = cases[c].len / best[0], gbs1 = cases[c].len / best[1];
		if (c == 0)
			printf("%-14s %11.1f ms %11.1f ms %7.2fx   (%zu MiB: %.2f / %.2f GB/s)\n", cases[c].what, best[0] / 1e6,
			       best[1] / 1e6, best[0] / best[1], mib, gbs0, gbs1);
		else
			printf("%-14s %11.2f us %11.2f us %7.2fx\n", cases[c].what, best[0] / 1e3, best[1] / 1e3,
			       best[0] / best[1]);
	}
	free(b);
	return 0;
}
