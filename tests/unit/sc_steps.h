/* Running test steps under the seccomp filters petrel installs: a forked child calls
 * seccomp_start() and runs each step on a thread of the kind that does that work in a VM (see
 * test_seccomp_devices.c). A call missing from a kind's list kills the child with SIGSYS and
 * its log line says which. Included by unit tests after unit.h. */
#ifndef PETREL_TESTS_UNIT_SC_STEPS_H
#define PETREL_TESTS_UNIT_SC_STEPS_H

#include "seccomp/seccomp.h"
#include "util/log.h"
#include "util/thread.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

struct step {
	int kind;
	const char *name;
	void (*fn)(void);
};

static inline void *trampoline(void *arg)
{
	((void (*)(void))arg)();
	return NULL;
}

/* A step that finds something wrong exits the child with its own code (not SIGSYS). */
static inline void fail(int code)
{
	_exit(code);
}

/* Runs the steps; returns the child's wait status, its stderr in log. */
static inline int run_steps(const struct step *s, unsigned n, char *log, size_t loglen)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		log_set_level(LOG_WARN);
		struct sc_options o = { 0 };
		if (seccomp_start(&o) < 0)
			_exit(90);
		for (unsigned i = 0; i < n; i++) {
			pthread_t t;
			if (thread_start(&t, s[i].kind, s[i].name, trampoline, (void *)s[i].fn) < 0)
				_exit(91);
			pthread_join(t, NULL);
		}
		_exit(0);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while (got < loglen - 1 && (r = read(pfd[0], log + got, loglen - 1 - got)) > 0)
		got += (size_t)r;
	log[got] = 0;
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

#define CHECK_CLEAN(st, log)                                                                  \
	do {                                                                                  \
		CHECK(WIFEXITED(st));                                                         \
		CHECK_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), 0);            \
		if (!WIFEXITED(st) || WEXITSTATUS(st))                                        \
			fprintf(stderr, "child's log:\n%s\n", log);                           \
	} while (0)

/* Run the steps in a child under the filters: the test fails, with the child's log, unless it
 * ended cleanly. */
#define CHECK_STEPS_CLEAN(steps)                                                               \
	do {                                                                                   \
		char log_[4096];                                                               \
		int st_ = run_steps(steps, sizeof(steps) / sizeof((steps)[0]), log_, sizeof(log_)); \
		CHECK_CLEAN(st_, log_);                                                        \
	} while (0)

#endif
