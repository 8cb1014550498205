/* ns per received frame of the E1000's receive CRC (src/devices/e1000/e1000_fcs.c) against
 * zlib's crc32, which it replaced: no KVM, no guest, the CRC alone, at 60, 1514 and 9014 bytes.
 * Each figure is the best of 50 batches of 2000 frames, the two interleaved, so that other work
 * on the host inflates neither more than the other. Not a test (nothing to pass): built beside
 * the unit tests and run by hand, `build/tests/unit/bench_e1000_fcs` (docs/e1000.md#receive-crc). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <zlib.h>

#include "devices/e1000/e1000_int.h"

static uint64_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int main(void)
{
	static uint8_t frame[9014];
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 131 + 7);
	e1000_fcs_init();
	static const size_t sizes[] = { 60, 1514, 9014 };
	volatile uint32_t sink = 0;
	printf("%8s %12s %12s\n", "frame B", "zlib ns", "petrel ns");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double best[2] = { 1e18, 1e18 };
		for (int rep = 0; rep < 50; rep++) {
			for (int which = 0; which < 2; which++) {
				const int n = 2000;
				uint64_t t0 = now();
				for (int i = 0; i < n; i++) {
					frame[0] = (uint8_t)i;
					sink ^= which ? e1000_fcs(frame, sizes[s])
						      : (uint32_t)crc32(crc32(0, NULL, 0), frame, (uInt)sizes[s]);
				}
				double ns = (double)(now() - t0) / n;
				if (ns < best[which])
					best[which] = ns;
			}
		}
		printf("%8zu %12.1f %12.1f\n", sizes[s], best[0], best[1]);
	}
	return sink == 0x12345678;   /* keeps the loops; never true in practice */
}
