/* What the host-side benchmark programs share: a monotonic clock in microseconds, the
 * process's resident memory, sorting samples for medians, and the Ethernet frame the net
 * benches send. */
#ifndef PETREL_BENCH_UTIL_H
#define PETREL_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* VmRSS in KiB, or -1. */
static inline long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* qsort comparator for doubles. */
static inline int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The net benches' frame of size bytes (>= 14): to dst from 02:00:00:00:00:09, EtherType 0x88b5
 * (local experimental), then a byte pattern. */
static inline void bench_frame(uint8_t *f, const uint8_t dst[6], size_t size)
{
	memcpy(f, dst, 6);
	memset(f + 6, 0, 6);
	f[6] = 0x02;
	f[11] = 0x09;
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t i = 14; i < size; i++)
		f[i] = (uint8_t)i;
}

#endif
