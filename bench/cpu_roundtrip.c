/* How far apart two of the host's CPUs are: one cache line passed back and forth between a
 * thread on each, nanoseconds per round trip (the median of 5 runs of N trips).
 *
 *   cpu_roundtrip [N [CPU_A CPU_B]]    (default: 200000, the first two CPUs this process may use)
 *
 * Prints "roundtrip_ns=X cpus=A,B". A VMM's device thread and its guest's vCPU exchange the
 * virtqueue's lines all the time; a host loop on one CPU exchanges none. On a cloud VM the
 * hypervisor underneath may move the two CPUs apart for minutes (a 2-CPU PVM host went from
 * ~50 ns to ~400 ns and back, 2026-11-29), and every VMM's I/O rate drops with it while the
 * host loop's does not: bench/run.py blk prints it beside each row and runs its rounds with
 * the CPUs close (bench/host_cpus.py). */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) volatile long ball;
static long trips;

static int pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *partner(void *arg)
{
	if (pin(*(int *)arg)) {
		fprintf(stderr, "cpu_roundtrip: cannot run on CPU %d\n", *(int *)arg);
		exit(2);
	}
	for (long i = 0; i < trips; i++) {
		while (ball != 2 * i + 1)
			__builtin_ia32_pause();
		ball = 2 * i + 2;
	}
	return NULL;
}

static double once(int b)
{
	ball = 0;
	pthread_t t;
	if (pthread_create(&t, NULL, partner, &b))
		exit(2);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < trips; i++) {
		ball = 2 * i + 1;
		while (ball != 2 * i + 2)
			__builtin_ia32_pause();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)trips;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	int a = -1, b = -1;
	trips = argc > 1 ? atol(argv[1]) : 200000;
	if (argc > 3) {
		a = atoi(argv[2]);
		b = atoi(argv[3]);
	} else {
		cpu_set_t s;
		if (sched_getaffinity(0, sizeof(s), &s))
			return 2;
		for (int c = 0; c < CPU_SETSIZE && b < 0; c++)
			if (CPU_ISSET(c, &s))
				*(a < 0 ? &a : &b) = c;
	}
	if (a < 0 || b < 0 || trips <= 0) {
		fprintf(stderr, "cpu_roundtrip: needs two CPUs and N > 0\n");
		return 2;
	}
	if (pin(a)) {
		fprintf(stderr, "cpu_roundtrip: cannot run on CPU %d\n", a);
		return 2;
	}
	double ns[5];
	for (int i = 0; i < 5; i++)
		ns[i] = once(b);
	qsort(ns, 5, sizeof(ns[0]), cmp);
	printf("roundtrip_ns=%.1f cpus=%d,%d\n", ns[2], a, b);
	return 0;
}
