/* envcheck: run by the test guest's /init before anything else, to catch a broken user-space
 * environment early and loudly (a wrong FS base, vector registers that leak between processes,
 * a lost signal) instead of as a random crash later.
 *
 * It starts PROCS processes (fork) of THREADS threads each. Every thread:
 *  - keeps its own TLS value and checks it, and the TLS address, after every round
 *    (the FS base is per thread: a wrong one reads another thread's or zeroes);
 *  - loads its own pattern into the vector registers it can use (xmm/ymm 0-15, and with
 *    AVX-512 also zmm16-31 and k1-k7), spins in ring 3 long enough to be preempted by the
 *    others, and checks every register still holds its pattern;
 *  - does double-precision arithmetic with a known result;
 *  - in thread 0, takes SIGUSR1 from its parent's signals; the handler scribbles over the
 *    vector registers, which sigreturn must undo.
 * It prints "envcheck ok procs=N threads=N rounds=N vec=avx512|avx2|sse2 signals=N" or one
 * line per failure starting "envcheck FAIL" and exits non-zero.
 *
 * Static (glibc), built by scripts/mkinitramfs.sh with the host's gcc. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 3
#define THREADS 2
#define ROUNDS 12
#define SPIN 20000000ul

enum vec { VEC_SSE2, VEC_AVX2, VEC_AVX512 };
static enum vec vec;
static __thread uint64_t tls_value;
static __thread uint64_t tls_pad[64];
static atomic_int failures;
static atomic_int signals_seen;

#define FAIL(...)                                                                         \
	do {                                                                                      \
		printf("envcheck FAIL pid=%d: ", getpid());                                           \
		printf(__VA_ARGS__);                                                                  \
		printf("\n");                                                                         \
		fflush(stdout);                                                                       \
		atomic_fetch_add(&failures, 1);                                                       \
	} while (0)

static enum vec detect(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return VEC_SSE2;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6)
		return VEC_SSE2;
	__cpuid_count(7, 0, a, b, c, d);
	if ((b & bit_AVX512F) && (lo & 0xe0) == 0xe0)
		return VEC_AVX512;
	return (b & bit_AVX2) ? VEC_AVX2 : VEC_SSE2;
}

/* Fill the registers from in[], spin, write them to out[]. Sizes: 16 x 16 bytes (SSE),
 * 16 x 32 (AVX), 32 x 64 + 8 x 8 for the opmask registers (AVX-512). */
static void spin_sse(const uint8_t *in, uint8_t *out)
{
	__asm__ volatile(
#define L(n) "movdqu " #n "*16(%0), %%xmm" #n "\n"
		L(0) L(1) L(2) L(3) L(4) L(5) L(6) L(7) L(8) L(9) L(10) L(11) L(12) L(13) L(14) L(15)
#undef L
		"mov %2, %%rcx\n1: dec %%rcx\n jnz 1b\n"
#define S(n) "movdqu %%xmm" #n ", " #n "*16(%1)\n"
		S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
#undef S
		::"r"(in), "r"(out), "r"(SPIN) : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
		  "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((target("avx2"))) static void spin_avx(const uint8_t *in, uint8_t *out)
{
	__asm__ volatile(
#define L(n) "vmovdqu " #n "*32(%0), %%ymm" #n "\n"
		L(0) L(1) L(2) L(3) L(4) L(5) L(6) L(7) L(8) L(9) L(10) L(11) L(12) L(13) L(14) L(15)
#undef L
		"mov %2, %%rcx\n1: dec %%rcx\n jnz 1b\n"
#define S(n) "vmovdqu %%ymm" #n ", " #n "*32(%1)\n"
		S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
#undef S
		"vzeroupper\n"
		::"r"(in), "r"(out), "r"(SPIN) : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
		  "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((target("avx512f,avx512bw"))) static void spin_avx512(const uint8_t *in, uint8_t *out)
{
	__asm__ volatile(
#define L(n) "vmovdqu64 " #n "*64(%0), %%zmm" #n "\n"
		L(0) L(1) L(2) L(3) L(4) L(5) L(6) L(7) L(8) L(9) L(10) L(11) L(12) L(13) L(14) L(15)
		L(16) L(17) L(18) L(19) L(20) L(21) L(22) L(23) L(24) L(25) L(26) L(27) L(28) L(29) L(30) L(31)
#undef L
#define K(n) "kmovq " #n "*8+2048(%0), %%k" #n "\n"
		K(1) K(2) K(3) K(4) K(5) K(6) K(7)
#undef K
		"mov %2, %%rcx\n1: dec %%rcx\n jnz 1b\n"
#define S(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%1)\n"
		S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
		S(16) S(17) S(18) S(19) S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30) S(31)
#undef S
#define K(n) "kmovq %%k" #n ", " #n "*8+2048(%1)\n"
		K(1) K(2) K(3) K(4) K(5) K(6) K(7)
#undef K
		"vzeroupper\n"
		::"r"(in), "r"(out), "r"(SPIN) : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
		  "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",
		  "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

#define VEC_BYTES (32 * 64 + 8 * 8)

static void check_vectors(uint64_t seed, int round)
{
	static __thread uint8_t in[VEC_BYTES] __attribute__((aligned(64)));
	static __thread uint8_t out[VEC_BYTES] __attribute__((aligned(64)));
	size_t n = vec == VEC_AVX512 ? VEC_BYTES : vec == VEC_AVX2 ? 16 * 32 : 16 * 16;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + (uint64_t)round;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in[i] = (uint8_t)x;
	}
	if (vec == VEC_AVX512)
		memset(in + 2048, 0, 8); /* k0's slot: k0 is not used */
	memset(out, 0, n);
	if (vec == VEC_AVX512)
		spin_avx512(in, out);
	else if (vec == VEC_AVX2)
		spin_avx(in, out);
	else
		spin_sse(in, out);
	for (size_t i = 0; i < n; i++)
		if (in[i] != out[i]) {
			FAIL("vector register byte %zu (%s) changed under us in round %d: %#x, expected %#x", i,
			     i >= 2048 ? "opmask" : "zmm/ymm/xmm", round, out[i], in[i]);
			return;
		}
}

static double arith(uint64_t seed)
{
	volatile double acc = 0;
	for (int i = 1; i <= 1000; i++)
		acc += 1.0 / ((double)i * (double)i) + (double)(seed & 1) * 0.0;
	return acc;
}

static void on_usr1(int sig)
{
	(void)sig;
	/* scribble on the vector registers: sigreturn must give the interrupted code its own back */
	uint8_t junk[VEC_BYTES] __attribute__((aligned(64)));
	memset(junk, 0xa5, sizeof(junk));
	if (vec == VEC_AVX512)
		spin_avx512(junk, junk);
	else if (vec == VEC_AVX2)
		spin_avx(junk, junk);
	atomic_fetch_add(&signals_seen, 1);
}

struct worker {
	uint64_t seed;
	pthread_t thread;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	tls_value = w->seed;
	tls_pad[63] = ~w->seed;
	uint64_t *where = &tls_value;
	for (int round = 0; round < ROUNDS; round++) {
		check_vectors(w->seed, round);
		if (tls_value != w->seed || tls_pad[63] != ~w->seed || where != &tls_value)
			FAIL("TLS: value %#lx (expected %#lx) at %p (was %p)", (unsigned long)tls_value,
			     (unsigned long)w->seed, (void *)&tls_value, (void *)where);
		double a = arith(w->seed);
		if (a < 1.6439345 || a > 1.6439346)
			FAIL("floating point: sum 1/i^2 to 1000 = %.9f, expected 1.643934567", a);
		sched_yield();
	}
	return NULL;
}

static int run_process(int p)
{
	struct worker w[THREADS];
	for (int t = 1; t < THREADS; t++) {
		w[t].seed = (uint64_t)(p * 100 + t + 1);
		if (pthread_create(&w[t].thread, NULL, work, &w[t]) != 0)
			FAIL("pthread_create failed");
	}
	w[0].seed = (uint64_t)(p * 100 + 1) | (1ull << 40);
	work(&w[0]);
	for (int t = 1; t < THREADS; t++)
		pthread_join(w[t].thread, NULL);
	return atomic_load(&failures) ? 1 : 0;
}

/* A check that hangs would hang the boot: fail loudly instead. Generous: on a PVM host fork and
 * every context switch go through emulated ring 0. */
#define DEADLINE_S 600

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL envcheck: no result within 600 s\n";
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(3);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	alarm(DEADLINE_S);
	vec = detect();
	/* Before the fork: the parent's signals may arrive before a child has run at all. */
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] < 0) {
			FAIL("fork failed");
			return 1;
		}
		if (pids[p] == 0)
			_exit(run_process(p));
	}
	int sent = 0;
	for (int i = 0; i < 20; i++) { /* signals while the children work */
		usleep(20000);
		for (int p = 0; p < PROCS; p++)
			if (kill(pids[p], SIGUSR1) == 0)
				sent++;
	}
	int bad = 0;
	for (int p = 0; p < PROCS; p++) {
		int st;
		if (waitpid(pids[p], &st, 0) != pids[p] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			FAIL("process %d ended with status %#x (signal %d)", p, st,
			     WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			bad++;
		}
	}
	if (bad || atomic_load(&failures))
		return 1;
	printf("envcheck ok procs=%d threads=%d rounds=%d vec=%s signals=%d\n", PROCS, THREADS, ROUNDS,
	       vec == VEC_AVX512 ? "avx512" : vec == VEC_AVX2 ? "avx2" : "sse2", sent);
	return 0;
}
