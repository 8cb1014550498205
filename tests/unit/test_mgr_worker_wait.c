/* petreld's wait for a worker's API answer (src/manager/worker_wait.c, src/http/client.c): a worker
 * whose own threads keep working is waited for past the no-progress timeout, up to the bound; one
 * that makes no progress (asleep, stopped) or whose only running threads are the guest's times
 * out after the no-progress timeout; one that is gone fails at once. The "worker" is a child
 * process serving one request on a Unix socket, its threads named as petrel names its own.
 * Then the same for a new worker's first answer, its socket not there yet (see below). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "http/client.h"
#include "manager/util.h"
#include "manager/wclient.h"
#include "unit.h"

#define IDLE_MS 1000

enum behaviour { WORK_THEN_ANSWER, SLEEP, GUEST_BUSY, WORK_FOREVER, DIE_KEEPING_SOCKET, ANSWER_AND_EXIT };

static char sock_path[108];

static uint64_t ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void spin_ms(uint64_t ms)
{
	uint64_t end = ms_now() + ms;
	volatile unsigned long x = 0;
	while (ms_now() < end)
		x++;
}

/* A child serving one connection as b says; returns its pid. */
static pid_t worker(enum behaviour b)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/petrel-wait-%d.sock", (int)getpid());
	unlink(sock_path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) {
		perror("worker socket");
		exit(2);
	}
	pid_t pid = fork();
	if (pid) {
		close(l);
		return pid;
	}
	if (b == DIE_KEEPING_SOCKET) {   /* gone, while a child of its still holds the socket */
		if (fork() == 0) {
			/* not the test's output: a runner that reads it to its end (meson test) would
			 * wait out the sleep, past its 30 s timeout */
			close(STDOUT_FILENO);
			close(STDERR_FILENO);
			sleep(30);
			_exit(0);
		}
		_exit(0);
	}
	int c = accept(l, NULL, NULL);
	char req[4096];
	if (c < 0 || read(c, req, sizeof(req)) <= 0)
		_exit(1);
	static const char ok[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
	switch (b) {
	case WORK_THEN_ANSWER:   /* InstanceStart on a slow host: the VMM thread works 2.5 s */
		prctl(PR_SET_NAME, "fc_vmm");
		spin_ms(IDLE_MS * 5 / 2);
		if (write(c, ok, sizeof(ok) - 1) < 0)
			_exit(1);
		_exit(0);
	case SLEEP:              /* deadlocked: nothing runs */
		pause();
		_exit(0);
	case GUEST_BUSY:         /* the guest runs, the API does not answer */
		prctl(PR_SET_NAME, "fc_vcpu 0");
		for (;;)
			spin_ms(1000);
	case WORK_FOREVER:       /* works and never answers (a loop in the VMM thread) */
		prctl(PR_SET_NAME, "fc_api");
		for (;;)
			spin_ms(1000);
	case ANSWER_AND_EXIT:    /* answers late in a look period, then ends (a shutdown, say) */
		usleep(700000);
		if (write(c, ok, sizeof(ok) - 1) < 0)
			_exit(1);
		_exit(0);
	case DIE_KEEPING_SOCKET:
		break;
	}
	_exit(0);
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(sock_path);
}

/* One request with the worker's patience; its status or -errno, the outcome and the time. */
static int ask(pid_t pid, unsigned max_ms, enum uhttp_wait *outcome, uint64_t *took_ms)
{
	struct worker_progress wp = { .pid = pid };
	struct uhttp_patience p = { .idle_ms = IDLE_MS, .max_ms = max_ms, .progress = worker_progress_look,
				    .opaque = &wp };
	char *reply = NULL;
	uint64_t t0 = ms_now();
	int st = uhttp_request_patient(sock_path, "PUT", "/actions", "{}", &p, &reply);
	*took_ms = ms_now() - t0;
	*outcome = p.outcome;
	free(reply);
	return st;
}

TEST(a_working_worker_is_waited_for_past_the_idle_timeout)
{
	pid_t pid = worker(WORK_THEN_ANSWER);
	enum uhttp_wait o;
	uint64_t took;
	int st = ask(pid, 20000, &o, &took);
	CHECK_EQ(st, 204);
	CHECK_EQ(o, UHTTP_WAIT_ANSWERED);
	CHECK(took >= IDLE_MS * 2);
	reap(pid);
}

TEST(the_plain_timeout_alone_gives_up_on_it)
{
	/* what petreld did before: the same worker, a fixed deadline */
	pid_t pid = worker(WORK_THEN_ANSWER);
	char *reply = NULL;
	CHECK_EQ(uhttp_request(sock_path, "PUT", "/actions", "{}", IDLE_MS, &reply), -ETIMEDOUT);
	free(reply);
	reap(pid);
}

/* The call on pid's worker gives up after the no-progress timeout, not the 20 s bound. */
static void check_idle_timeout(pid_t pid)
{
	enum uhttp_wait o;
	uint64_t took;
	CHECK_EQ(ask(pid, 20000, &o, &took), -ETIMEDOUT);
	CHECK_EQ(o, UHTTP_WAIT_IDLE);
	CHECK(took >= IDLE_MS && took < IDLE_MS * 4);
	reap(pid);
}

TEST(a_worker_that_sleeps_times_out_after_the_idle_timeout)
{
	check_idle_timeout(worker(SLEEP));
}

TEST(a_busy_guest_does_not_keep_a_hung_call_waiting)
{
	check_idle_timeout(worker(GUEST_BUSY));
}

TEST(a_stopped_worker_times_out_after_the_idle_timeout)
{
	pid_t pid = worker(WORK_FOREVER);
	usleep(200000);
	kill(pid, SIGSTOP);
	check_idle_timeout(pid);
}

TEST(a_worker_working_forever_stops_at_the_bound)
{
	pid_t pid = worker(WORK_FOREVER);
	enum uhttp_wait o;
	uint64_t took;
	CHECK_EQ(ask(pid, IDLE_MS * 3, &o, &took), -ETIMEDOUT);
	CHECK_EQ(o, UHTTP_WAIT_MAX);
	CHECK(took >= IDLE_MS * 3 && took < IDLE_MS * 6);
	reap(pid);
}

TEST(a_worker_gone_fails_at_once)
{
	pid_t pid = worker(DIE_KEEPING_SOCKET);
	usleep(300000);   /* it has exited (a zombie until reaped); its child holds the socket */
	enum uhttp_wait o;
	uint64_t took;
	CHECK_EQ(ask(pid, 20000, &o, &took), -ESRCH);
	CHECK_EQ(o, UHTTP_WAIT_GONE);
	CHECK(took < IDLE_MS / 2);
	waitpid(pid, NULL, 0);
	CHECK_EQ(ask(pid, 20000, &o, &took), -ESRCH);   /* reaped: no such process */
	unlink(sock_path);
}

/* petreld looks late (a loaded host): by its look the worker has answered and ended */
static int late_look(void *opaque)
{
	static int calls;
	struct worker_progress *wp = opaque;
	if (++calls == 2) {   /* the first look after the request was sent */
		siginfo_t si;
		waitid(P_PID, (id_t)wp->pid, &si, WEXITED | WNOWAIT);
	}
	return worker_progress_look(opaque);
}

TEST(an_answer_left_by_a_worker_that_then_ended_is_taken)
{
	/* CI under load: the look after the answer saw the zombie first, and a 204 became
	 * "the worker is gone" */
	pid_t pid = worker(ANSWER_AND_EXIT);
	struct worker_progress wp = { .pid = pid };
	struct uhttp_patience p = { .idle_ms = IDLE_MS, .max_ms = 20000, .progress = late_look, .opaque = &wp };
	char *reply = NULL;
	CHECK_EQ(uhttp_request_patient(sock_path, "PUT", "/actions", "{}", &p, &reply), 204);
	CHECK_EQ(p.outcome, UHTTP_WAIT_ANSWERED);
	free(reply);
	reap(pid);
}

/* The wait for a new worker's API socket (worker_await_api): the same patience as a call. A
 * worker that dies before it makes its socket fails the wait at once, with the last line it
 * wrote; so does a jailer's child that dies while the jailer lingers; a slow but busy worker is
 * waited for past the no-progress timeout; one that sits idle without a socket fails after the
 * no-progress timeout. These workers write to a log as petrel's stdout and stderr do. */
#define MAX_MS 20000

static char log_path[64], pid_path[64];

/* In a worker: make the socket and answer one GET / with 200. */
static void serve(void)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		_exit(2);
	int c = accept(l, NULL, NULL);
	char req[4096];
	if (c < 0 || read(c, req, sizeof(req)) <= 0)
		_exit(1);
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	if (write(c, ok, sizeof(ok) - 1) < 0)
		_exit(1);
	_exit(0);
}

enum start_behaviour { DIE_AT_EXEC, SLOW_BUSY, IDLE, JAILER_CHILD_DIES, JAIL_SETUP_HANGS, JAIL_SETUP_SLOW };

/* The jailer's --new-pid-ns child while it builds the jail (jail/spawn.c: clone with CLONE_VM |
 * CLONE_VFORK, dying with the jailer): hangs, or works slowly and then answers. */
static int jail_builder(void *arg)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (arg) {
		spin_ms(IDLE_MS * 5 / 2);
		serve();
	}
	pause();
	_exit(0);
}

/* A child behaving as b says, its stdout and stderr the log (a line from an earlier start
 * already in it); its pid. */
static pid_t starting_worker(enum start_behaviour b)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/petrel-wait-%d.sock", (int)getpid());
	snprintf(log_path, sizeof(log_path), "/tmp/petrel-start-wait-%d.log", (int)getpid());
	snprintf(pid_path, sizeof(pid_path), "/tmp/petrel-start-wait-%d.pid", (int)getpid());
	unlink(sock_path);
	unlink(pid_path);
	int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (log < 0 || dprintf(log, "an earlier start's last line\n") < 0)
		exit(2);
	pid_t pid = fork();
	if (pid) {
		close(log);
		return pid;
	}
	dup2(log, 1);
	dup2(log, 2);
	switch (b) {
	case DIE_AT_EXEC:   /* what the dynamic loader says when a library is missing, then 127 */
		fprintf(stderr, "/petrel: error while loading shared libraries: libc.so.6: cannot open "
			"shared object file: No such file or directory\n");
		_exit(127);
	case SLOW_BUSY:     /* a loaded host: 2.5 s of work before the socket is there */
		spin_ms(IDLE_MS * 5 / 2);
		serve();
		break;
	case IDLE:          /* waits for something that never comes, no socket */
		pause();
		_exit(0);
	case JAILER_CHILD_DIES: {   /* the jailer names its child, which dies; the jailer lingers */
		pid_t child = fork();
		if (child == 0) {
			usleep(100000);
			fprintf(stderr, "/petrel: cannot load libc.so.6\n");
			_exit(127);
		}
		FILE *f = fopen(pid_path, "w");
		if (!f || fprintf(f, "%d\n", (int)child) < 0 || fclose(f))
			_exit(2);
		pause();   /* never reaps it: the child stays a zombie */
		_exit(0);
	}
	case JAIL_SETUP_HANGS:   /* the jailer waits (vfork) for a child that waits for ever */
	case JAIL_SETUP_SLOW: {  /* ... for one that works 2.5 s, then answers */
		static char stack[256 * 1024];
		clone(jail_builder, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
		      b == JAIL_SETUP_SLOW ? stack : NULL);
		pause();
		_exit(0);
	}
	}
	_exit(0);
}

static void reap_start(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(sock_path);
	unlink(log_path);
	unlink(pid_path);
}

/* The wait for pid's socket: 0 or -errno, the fault text and the time it took. */
static int await(pid_t pid, bool jailed, char *err, size_t errlen, uint64_t *took)
{
	struct worker_start_wait w = { .sock = sock_path, .wp = { .pid = pid }, .idle_ms = IDLE_MS, .max_ms = MAX_MS,
				       .log = log_path, .log_from = (long long)strlen("an earlier start's last line\n") };
	if (jailed)
		w.wp.child_pid_file = pid_path;
	uint64_t t0 = ms_now();
	int e = worker_await_api(&w, err, errlen);
	*took = ms_now() - t0;
	return e;
}

TEST(a_worker_that_dies_before_its_socket_fails_at_once_with_its_last_line)
{
	pid_t pid = starting_worker(DIE_AT_EXEC);
	char err[512] = "";
	uint64_t took;
	CHECK_EQ(await(pid, false, err, sizeof(err), &took), -EIO);
	CHECK(took < IDLE_MS);
	CHECK(strstr(err, "the worker (pid") != NULL);
	CHECK(strstr(err, "ended before its API answered") != NULL);
	CHECK(strstr(err, "libc.so.6: cannot open shared object file") != NULL);
	CHECK(strstr(err, "an earlier start") == NULL);
	reap_start(pid);
}

/* petreld's supervisor reaped it before the wait began: the same fault, its pid and last line */
TEST(a_worker_already_reaped_fails_the_same_way)
{
	pid_t pid = starting_worker(DIE_AT_EXEC);
	waitpid(pid, NULL, 0);
	struct worker_start_wait w = { .sock = sock_path, .wp = { .pid = pid }, .ended = true, .idle_ms = IDLE_MS,
				       .max_ms = MAX_MS, .log = log_path, .log_from = 0 };
	char err[512] = "", want[64];
	CHECK_EQ(worker_await_api(&w, err, sizeof(err)), -EIO);
	snprintf(want, sizeof(want), "the worker (pid %d) ended before its API answered", (int)pid);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "libc.so.6: cannot open shared object file") != NULL);
	unlink(log_path);
}

TEST(a_jailers_child_that_dies_fails_at_once_while_the_jailer_lingers)
{
	pid_t pid = starting_worker(JAILER_CHILD_DIES);
	char err[512] = "";
	uint64_t took;
	CHECK_EQ(await(pid, true, err, sizeof(err), &took), -EIO);
	CHECK(took < IDLE_MS);   /* the jailer sleeps on: without the child's end seen, IDLE_MS */
	CHECK(strstr(err, "the jailer's child, petrel (pid") != NULL);
	CHECK(strstr(err, "cannot load libc.so.6") != NULL);
	reap_start(pid);
}

TEST(a_jailer_that_ends_fails_at_once)
{
	pid_t pid = starting_worker(DIE_AT_EXEC);
	char err[512] = "";
	uint64_t took;
	CHECK_EQ(await(pid, true, err, sizeof(err), &took), -EIO);
	CHECK(took < IDLE_MS);
	CHECK(strstr(err, "the jailer (pid") != NULL);
	reap_start(pid);
}

/* A start that works for 2.5 s before its socket answers: waited for past the idle timeout. */
static void check_start_waited_for(enum start_behaviour b, bool jailed)
{
	pid_t pid = starting_worker(b);
	char err[512] = "";
	uint64_t took;
	CHECK_EQ(await(pid, jailed, err, sizeof(err), &took), 0);
	CHECK(took >= IDLE_MS * 2);
	reap_start(pid);
}

/* A start that makes no progress: fails once the idle timeout has passed, saying so. */
static void check_start_idle_timeout(enum start_behaviour b, bool jailed)
{
	pid_t pid = starting_worker(b);
	char err[512] = "";
	uint64_t took;
	CHECK_EQ(await(pid, jailed, err, sizeof(err), &took), -ETIMEDOUT);
	CHECK(took >= IDLE_MS && took < IDLE_MS * 4);
	CHECK(strstr(err, "made no progress for 1000 ms") != NULL);
	reap_start(pid);
}

TEST(a_slow_but_busy_worker_is_waited_for_past_the_idle_timeout)
{
	check_start_waited_for(SLOW_BUSY, false);
}

TEST(an_idle_worker_without_a_socket_fails_after_the_idle_timeout)
{
	check_start_idle_timeout(IDLE, false);
}

/* The jailer sleeps in its vfork wait, which /proc shows as 'D' (as a disk wait): without
 * looking at its child instead, a hung jail setup was waited for up to MAX_MS. */
TEST(a_hung_jail_setup_fails_after_the_idle_timeout)
{
	check_start_idle_timeout(JAIL_SETUP_HANGS, true);
}

TEST(a_slow_but_busy_jail_setup_is_waited_for_past_the_idle_timeout)
{
	check_start_waited_for(JAIL_SETUP_SLOW, true);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
