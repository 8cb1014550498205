/* What petrel's seccomp start-up costs, part by part, no KVM (docs/performance.md#seccomp-start):
 * a process that starts the threads `petrel run` starts (vCPU, I/O, PVM idle kicker), each
 * under its kind's built-in filter (the very programs petrel installs, src/seccomp), timed as
 * the whole process's CPU from wait4, in interleaved rounds:
 *
 *   none            no thread, no filter: the process alone
 *   direct          the three threads created by main, no filter (petrel --no-seccomp)
 *   spawner idle    a spawner thread started, the three created by main directly, no filter
 *   spawner         the three through the spawner thread (petrel's pattern), no filter
 *   spawner+union   and the spawner's union filter on main first (inherited by all)
 *   petrel          and every thread's own filter stacked on it, main's too: what petrel does
 *   direct+filters  the union on main, the three created by main directly, each stacking its
 *                   own, then main its own: no spawner thread and no hop through it
 *
 *     thread_start_host [ROUNDS]        (default 200)
 *
 * Prints per variant the CPU per process (median and the mean of the middle 60 %). */
#include "seccomp/seccomp_int.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { NONE, DIRECT, SPAWNER_IDLE, SPAWNER, SPAWNER_UNION, PETREL, DIRECT_FILTERS, VARIANTS };
static const char *const names[VARIANTS] = { "none", "direct", "spawner idle", "spawner", "spawner+union",
					     "petrel", "direct+filters" };
static const int kinds[] = { SC_VCPU, SC_IO, SC_PVM_IDLE };
#define NTHREADS (sizeof(kinds) / sizeof(kinds[0]))

static struct sock_fprog progs[SC_KIND_ALL];
static bool filters;   /* each thread stacks its kind's filter */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int up = -1;            /* kind index of the last thread that reported */
static int queued = -1;        /* the spawner's one-slot queue: a kind index, -1 empty */

static int install(int kind)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]) < 0 ? -errno : 0;
}

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	if (filters && install(kinds[i]) < 0)
		_exit(3);
	pthread_mutex_lock(&lock);
	up = i;
	pthread_cond_broadcast(&cond);
	for (;;)   /* blocks until the process exits */
		pthread_cond_wait(&cond, &lock);
	return NULL;
}

static void create(int i)
{
	pthread_t t;
	if (pthread_create(&t, NULL, worker, (void *)(long)i))
		_exit(4);
}

static void *spawner(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (queued < 0)
			pthread_cond_wait(&cond, &lock);
		int i = queued;
		queued = -1;
		pthread_mutex_unlock(&lock);
		create(i);
		pthread_mutex_lock(&lock);
	}
	return NULL;
}

static void wait_up(int i)
{
	pthread_mutex_lock(&lock);
	while (up != i)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void child(int v)
{
	bool union_first = v == SPAWNER_UNION || v == PETREL || v == DIRECT_FILTERS;
	filters = v == PETREL || v == DIRECT_FILTERS;
	if (union_first && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install(SC_SPAWN) < 0))
		_exit(2);
	if (v == NONE)
		_exit(0);
	bool via_spawner = v == SPAWNER || v == SPAWNER_UNION || v == PETREL;
	if (via_spawner || v == SPAWNER_IDLE) {
		pthread_t t;
		if (pthread_create(&t, NULL, spawner, NULL))
			_exit(4);
		if (v == PETREL && install(SC_MAIN) < 0)
			_exit(2);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		if (via_spawner) {
			pthread_mutex_lock(&lock);
			queued = (int)i;
			pthread_cond_broadcast(&cond);
			pthread_mutex_unlock(&lock);
		} else {
			create((int)i);
		}
		wait_up((int)i);
	}
	if (v == DIRECT_FILTERS && install(SC_MAIN) < 0)
		_exit(2);
	_exit(0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	if (rounds < 5) {
		fprintf(stderr, "usage: thread_start_host [ROUNDS >= 5]\n");
		return 2;
	}
	sc_builtin_progs(progs, SC_SANITIZER, (uint32_t)getpid());
	double *us = calloc((size_t)rounds * VARIANTS, sizeof(double));
	if (!us)
		return 1;
	for (int r = 0; r < rounds; r++) {
		for (int v = 0; v < VARIANTS; v++) {   /* interleaved: every variant sees the same load */
			pid_t p = fork();
			if (p < 0) {
				perror("fork");
				return 1;
			}
			if (p == 0)
				child(v);
			int st;
			struct rusage ru;
			if (wait4(p, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "thread_start_host: variant %s failed (status %#x)\n", names[v], st);
				return 1;
			}
			us[v * rounds + r] = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
					     ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
		}
	}
	printf("seccomp start-up by parts: %zu threads (vcpu, io, pvm_idle), %d interleaved rounds,\n"
	       "CPU per process (wait4), the built-in filters: union %u, main %u, vcpu %u, io %u, pvm_idle %u instructions\n",
	       NTHREADS, rounds, progs[SC_SPAWN].len, progs[SC_MAIN].len, progs[SC_VCPU].len,
	       progs[SC_IO].len, progs[SC_PVM_IDLE].len);
	double base = 0;
	for (int v = 0; v < VARIANTS; v++) {
		double *x = us + v * rounds;
		qsort(x, (size_t)rounds, sizeof(double), cmp);
		int lo = rounds / 5, hi = rounds - rounds / 5;
		double sum = 0;
		for (int i = lo; i < hi; i++)
			sum += x[i];
		double mean = sum / (hi - lo);
		if (v == DIRECT)
			base = mean;
		printf("  %-15s median %7.1f us  middle mean %7.1f us", names[v], x[rounds / 2], mean);
		if (v > DIRECT)
			printf("  (+%.1f us over direct)", mean - base);
		printf("\n");
	}
	free(us);
	return 0;
}
