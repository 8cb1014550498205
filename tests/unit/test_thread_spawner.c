/* The thread spawner made when first needed (src/util/thread.c, util/thread.h): a creator
 * that serves requests makes it only when another thread asks for a thread, one that does not
 * makes it before its own first thread, and after serve_end a request no spawner would serve
 * fails at once instead of waiting for ever. No seccomp: the filter step is a stand-in that
 * only counts. Each case runs in a child process (the spawner's state is the process's). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/thread.h"
#include "threads_named.h"
#include "unit.h"

static unsigned entered;

static int enter(int kind)
{
	(void)kind;
	__atomic_add_fetch(&entered, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void *idle(void *arg)
{
	(void)arg;
	return NULL;
}

/* A thread of the process (not the creator) that asks for a thread: its thread_start result. */
struct ask {
	pthread_t thread;
	int result;
	bool done;
	bool hold;   /* asks once this is cleared */
};

static void *asker(void *arg)
{
	struct ask *a = arg;
	pthread_t t;
	while (__atomic_load_n(&a->hold, __ATOMIC_SEQ_CST))
		usleep(1000);
	a->result = thread_start(&t, SC_VMM, "asked", idle, NULL);
	if (a->result == 0)
		pthread_join(t, NULL);
	__atomic_store_n(&a->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Run `fn` in a child; its exit status (0: every step held). */
static int in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int served_on_request(void)
{
	if (thread_spawner_start(enter, true) || thread_spawner_serve_begin())
		return 1;
	int fd = thread_spawner_wanted_fd();
	if (fd < 0)
		return 2;
	/* the creator's own threads: made directly, no spawner */
	struct ask a = { 0 };
	if (thread_start(&a.thread, SC_IO, "asker", asker, &a))
		return 3;
	if (threads_named("fc_spawn") != 0)
		return 4;
	/* the asker waits until the creator sees the request and makes the spawner */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1 || __atomic_load_n(&a.done, __ATOMIC_SEQ_CST))
		return 5;
	if (thread_spawner_serve())
		return 6;
	pthread_join(a.thread, NULL);
	if (a.result != 0 || threads_named("fc_spawn") != 1)
		return 7;
	/* served: nothing more to watch, and a second request goes straight to the spawner */
	if (thread_spawner_wanted_fd() != -1)
		return 8;
	struct ask b = { 0 };
	if (thread_start(&b.thread, SC_IO, "asker", asker, &b))
		return 9;
	pthread_join(b.thread, NULL);
	thread_spawner_serve_end();
	return b.result == 0 && threads_named("fc_spawn") == 1 ? 0 : 10;
}

TEST(thread_spawner_made_when_another_thread_first_asks)
{
	CHECK_EQ(in_child(served_on_request), 0);
}

static int never_asked(void)
{
	if (thread_spawner_start(enter, true) || thread_spawner_serve_begin())
		return 1;
	pthread_t t;
	if (thread_start(&t, SC_IO, "direct", idle, NULL))
		return 2;
	pthread_join(t, NULL);
	thread_spawner_serve_end();
	/* no thread asked: no spawner, ever */
	return threads_named("fc_spawn") == 0 && __atomic_load_n(&entered, __ATOMIC_SEQ_CST) == 1 ? 0 : 3;
}

TEST(thread_spawner_never_made_when_no_thread_asks)
{
	CHECK_EQ(in_child(never_asked), 0);
}

static int after_serve_end(void)
{
	if (thread_spawner_start(enter, true) || thread_spawner_serve_begin())
		return 1;
	struct ask a = { .hold = true };
	if (thread_start(&a.thread, SC_IO, "asker", asker, &a))
		return 2;
	thread_spawner_serve_end();
	/* its request now would wait for a creator that no longer serves: it fails at once */
	__atomic_store_n(&a.hold, false, __ATOMIC_SEQ_CST);
	pthread_join(a.thread, NULL);
	return a.result == -ECANCELED && threads_named("fc_spawn") == 0 ? 0 : 3;
}

TEST(thread_spawner_request_after_serve_end_fails_rather_than_waits)
{
	CHECK_EQ(in_child(after_serve_end), 0);
}

static int not_served(void)
{
	/* a creator that does not serve (petrel's API mode, a migration's receiver): the spawner
	 * before its first thread, so that any thread's request is served */
	if (thread_spawner_start(enter, true))
		return 1;
	if (thread_spawner_wanted_fd() != -1 || threads_named("fc_spawn") != 0)
		return 2;
	struct ask a = { 0 };
	if (thread_start(&a.thread, SC_IO, "asker", asker, &a))
		return 3;
	pthread_join(a.thread, NULL);   /* served by the spawner, which has named itself */
	return a.result == 0 && threads_named("fc_spawn") == 1 ? 0 : 4;
}

TEST(thread_spawner_made_first_where_the_creator_does_not_serve)
{
	CHECK_EQ(in_child(not_served), 0);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
