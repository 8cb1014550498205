/* petreld's wait for a worker's API answer (src/manager/worker_wait.c, worker_http.c): a worker
 * whose own threads keep working is waited for past the no-progress timeout, up to the bound; one
 * that makes no progress (asleep, stopped) or whose only running threads are the guest's times
 * out after the no-progress timeout; one that is gone fails at once. The "worker" is a child
 * process serving one request on a Unix socket, its threads named as petrel names its own. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "manager/manager.h"
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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
