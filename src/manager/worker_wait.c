/* How long petreld waits for a worker's API to answer (docs/manager.md#waiting-for-a-worker).
 *
 * A fixed deadline was wrong both ways: on a slow host (nested KVM) a healthy worker answered
 * InstanceStart after 5.02 s and the start failed at the 5 s default, while raising the default
 * makes every hung worker cost that much more. So the deadline follows the worker: petreld
 * looks at it twice a second, and each time the worker's own threads have run since the last
 * look (CPU time), or one is running or waiting for the disk right now, the --api-timeout
 * window (no progress) starts again, up to --api-timeout-max in all. A worker that is stopped,
 * deadlocked or waiting for something that never comes costs --api-timeout, as before; one that
 * is gone (or a zombie) fails the call at once.
 *
 * "Its own threads": all but the guest's (vCPUs "fc_vcpu N", the I/O thread "fc_io", the PVM
 * idle kicker), which run whether or not the API is stuck: a running guest must not keep a
 * hung API call waiting. The work behind an API call runs on the API thread and the VMM
 * thread (fc_api, fc_vmm), or migration's and replication's (petrel_mig, petrel_repl).
 *
 * A new worker's first answer (worker_await_api) is waited for alike, with its socket awaited:
 * a jailed worker's progress is the jailer's and its child's (petrel), and either ending ends
 * the wait at once, with the last line the worker wrote. While the jailer's child builds the
 * jail the jailer sleeps in its vfork wait, which /proc shows as 'D': that is the child's work
 * to look at (a hung jail setup costs --api-timeout, not --api-timeout-max). */
#include "manager/mgr.h"
#include "http/client.h"
#include "manager/util.h"
#include "manager/wclient.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Threads that run the guest, not the VMM's answer. */
static bool guest_thread(const char *comm, size_t len)
{
	static const char *const names[] = { "fc_vcpu", "fc_io", "fc_pvm_idle" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (len >= n && !memcmp(comm, names[i], n))
			return true;
	}
	return false;
}

/* The text of a thread's file (name, under /proc/PID/task/TID; dirfd: /proc/PID/task) in buf:
 * its length, or -1 (the thread is gone, or the kernel has no such file). */
static ssize_t task_file(int dirfd, const char *tid, const char *name, char *buf, size_t size)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", tid, name);
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* One thread's /proc/PID/task/TID/stat: its name, state and CPU ticks (user + system).
 * 0, or -ESRCH (the thread is gone) or -EPROTO. */
static int thread_stat(int dirfd, const char *tid, char *state, unsigned long long *ticks, bool *guest)
{
	char buf[1024];
	if (task_file(dirfd, tid, "stat", buf, sizeof(buf)) <= 0)
		return -ESRCH;
	/* "TID (comm) S ppid ...": comm may hold spaces and parentheses; it ends at the last ')' */
	char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p || close_p[1] != ' ' || !close_p[2])
		return -EPROTO;
	*guest = guest_thread(open_p + 1, (size_t)(close_p - open_p - 1));
	*state = close_p[2];
	/* fields 14 and 15 (utime, stime); the state is field 3 */
	char *p = close_p + 2;
	for (int field = 3; field < 14 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	unsigned long long ut, st;
	if (!p || sscanf(p, "%llu %llu", &ut, &st) != 2)
		return -EPROTO;
	*ticks = ut + st;
	return 0;
}

/* Whether the thread waits in clone or vfork for a child that borrows its memory
 * (CLONE_VFORK): the jailer while its --new-pid-ns child builds the jail (jail/spawn.c). That
 * wait shows as 'D', which is the child's doing, not a disk's. */
static bool in_vfork_wait(int dirfd, const char *tid)
{
	char buf[32];
	if (task_file(dirfd, tid, "syscall", buf, sizeof(buf)) <= 0)
		return false;
	long nr = strtol(buf, NULL, 10);
	return nr == SYS_clone
#ifdef SYS_vfork
	       || nr == SYS_vfork
#endif
#ifdef SYS_clone3
	       || nr == SYS_clone3
#endif
		;
}

static int process_look(pid_t pid, unsigned long long *ticks, bool *busy, bool children);

/* The children of a thread (its /children file) looked at as processes of their own. false
 * when the kernel has no such file (CONFIG_PROC_CHILDREN). */
static bool children_look(int dirfd, const char *tid, unsigned long long *ticks, bool *busy)
{
	char buf[256];
	if (task_file(dirfd, tid, "children", buf, sizeof(buf)) < 0)
		return false;
	for (char *p = buf, *end; *p; p = end) {
		long child = strtol(p, &end, 10);
		if (end == p)
			break;
		if (child > 0)
			process_look((pid_t)child, ticks, busy, false);   /* one that just ended: nothing */
	}
	return true;
}

/* One process's own threads: their CPU ticks and whether one runs or waits for the disk now,
 * added to *ticks and *busy; a thread waiting for its vfork child: that child's instead (with
 * children). 0, or -ESRCH when it is gone or a zombie. */
static int process_look(pid_t pid, unsigned long long *ticks, bool *busy, bool children)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ESRCH;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -ESRCH;
	}
	bool alive = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char state;
		unsigned long long t;
		bool guest;
		if (thread_stat(dirfd(d), de->d_name, &state, &t, &guest) < 0)
			continue;   /* a thread that just ended */
		if (state == 'Z' || state == 'X')
			continue;   /* an ended process is a zombie until reaped: its one thread */
		alive = true;
		if (guest)
			continue;
		*ticks += t;
		if (state == 'D' && children && in_vfork_wait(dirfd(d), de->d_name) &&
		    children_look(dirfd(d), de->d_name, ticks, busy))
			continue;
		*busy |= state == 'R' || state == 'D';
	}
	closedir(d);
	return alive ? 0 : -ESRCH;
}

/* The jailer's child, once the jailer's pid file names it (a line "PID\n"); 0 until then. */
static pid_t child_named(struct worker_progress *wp)
{
	if (wp->child <= 0 && wp->child_pid_file)
		wp->child = pid_file_read(wp->child_pid_file);
	return wp->child;
}

int worker_progress_look(void *opaque)
{
	struct worker_progress *wp = opaque;
	unsigned long long ticks = 0;
	bool busy = false;
	wp->gone = 0;
	if (process_look(wp->pid, &ticks, &busy, true) < 0) {
		wp->gone = wp->pid;
		return -ESRCH;
	}
	pid_t child = child_named(wp);
	if (child > 0 && process_look(child, &ticks, &busy, true) < 0) {
		wp->gone = child;
		return -ESRCH;
	}
	bool ran = wp->looked && ticks != wp->ticks;
	bool first = !wp->looked;
	wp->looked = true;
	wp->ticks = ticks;
	return !first && (ran || busy);
}

/* The last line of the log from byte from on, in out ("" when none). */
static void log_last_line(const char *path, long long from, char *out, size_t size)
{
	out[0] = '\0';
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return;
	char buf[2048];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end - (off_t)sizeof(buf) + 1 > from ? end - (off_t)sizeof(buf) + 1 : (off_t)from;
	ssize_t n = start < end ? pread(fd, buf, (size_t)(end - start), start) : 0;
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	char *nl = memrchr(buf, '\n', (size_t)n), *line = nl ? nl + 1 : buf;
	size_t len = strlen(line) < size - 1 ? strlen(line) : size - 1;
	memcpy(out, line, len);
	out[len] = '\0';
}

int worker_await_api(struct worker_start_wait *w, char *err, size_t errlen)
{
	struct uhttp_patience p = { .idle_ms = w->idle_ms, .max_ms = w->max_ms, .progress = worker_progress_look,
				    .opaque = &w->wp, .await_socket = true };
	char *reply = NULL;
	int st = -ESRCH;
	if (w->ended) {
		p.outcome = UHTTP_WAIT_GONE;
		w->wp.gone = w->wp.pid;
	} else {
		st = uhttp_request_patient(w->sock, "GET", "/", NULL, &p, &reply);
		free(reply);
	}
	if (st == 200)
		return 0;
	/* closed without an answer: the worker may have just died */
	if (st < 0 && p.outcome == UHTTP_WAIT_ANSWERED && worker_progress_look(&w->wp) < 0)
		p.outcome = UHTTP_WAIT_GONE;
	char last[256], said[300] = "";
	log_last_line(w->log, w->log_from, last, sizeof(last));
	if (last[0])
		snprintf(said, sizeof(said), "; its last line: \"%s\"", last);
	char who[96];
	if (w->wp.gone && w->wp.gone == w->wp.child)
		snprintf(who, sizeof(who), "the jailer's child, petrel (pid %d),", (int)w->wp.child);
	else
		snprintf(who, sizeof(who), "the %s (pid %d)", w->wp.child_pid_file ? "jailer" : "worker",
			 (int)w->wp.pid);
	switch (p.outcome) {
	case UHTTP_WAIT_GONE:
		return error_set(err, errlen, -EIO, "%s ended before its API answered%s (see %s)", who, said,
			       w->log ? w->log : "its output");
	case UHTTP_WAIT_IDLE:
		return error_set(err, errlen, -ETIMEDOUT, "the worker's API %s did not answer, and the worker made no "
			       "progress for %u ms (it hangs)%s", w->sock, w->idle_ms, said);
	case UHTTP_WAIT_MAX:
		return error_set(err, errlen, -ETIMEDOUT, "the worker's API %s did not answer in %u ms although the "
			       "worker kept working (--api-timeout-max)%s", w->sock, w->max_ms, said);
	default:
		if (st >= 0)
			return error_set(err, errlen, -EIO, "the worker's API %s answered GET / with %d", w->sock, st);
		return error_set(err, errlen, st, "the worker's API %s: %s%s", w->sock, strerror(-st), said);
	}
}

int worker_request(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, const char *body,
		   unsigned idle_ms, char **out, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	struct worker_progress wp = { .pid = vm->vmm_pid > 0 ? vm->vmm_pid : vm->pid };
	pthread_mutex_unlock(&m->lock);
	struct uhttp_patience p = { .idle_ms = idle_ms, .max_ms = m->api_timeout_max_ms };
	if (wp.pid > 0) {
		p.progress = worker_progress_look;
		p.opaque = &wp;
	}
	int st = uhttp_request_patient(vm->api_sock, method, path, body, &p, out);
	if (st >= 0)
		return st;
	/* a connection refused or closed without an answer: the worker may have just died */
	if (p.outcome == UHTTP_WAIT_ANSWERED && p.progress && worker_progress_look(&wp) < 0)
		p.outcome = UHTTP_WAIT_GONE;
	switch (p.outcome) {
	case UHTTP_WAIT_IDLE:
		return error_set(err, errlen, -ETIMEDOUT, "worker API %s %s: no answer, and no progress for %u ms "
			       "(the worker hangs)", method, path, idle_ms);
	case UHTTP_WAIT_MAX:
		return error_set(err, errlen, -ETIMEDOUT, "worker API %s %s: no answer in %u ms although the worker "
			       "kept working (--api-timeout-max)", method, path, p.max_ms);
	case UHTTP_WAIT_GONE:
		return error_set(err, errlen, -EIO, "worker API %s %s: the worker is gone", method, path);
	default:
		return error_set(err, errlen, -EIO, "worker API %s %s: %s", method, path, strerror(-st));
	}
}

int worker_call(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, json_t *body,
		char *err, size_t errlen)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *reply = NULL;
	int st = worker_request(m, vm, method, path, text, m->api_timeout_ms, &reply, err, errlen);
	free(text);
	int e = 0;
	if (st < 0)
		e = st;
	else if (st >= 300)
		e = error_set(err, errlen, -EIO, "worker API %s %s: %d %s", method, path, st, reply ? reply : "");
	free(reply);
	return e;
}

int worker_call_json(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, json_t *body,
		     json_t **out, char *err, size_t errlen)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *reply = NULL;
	if (body && !text)
		return error_oom(err, errlen);
	int st = worker_request(m, vm, method, path, text, m->api_timeout_ms, &reply, err, errlen);
	free(text);
	json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
	int e = st < 0 ? st : 0;
	if (st >= 300)
		e = error_set(err, errlen, -EIO, "worker API %s %s: %d %s", method, path, st,
			      json_string_value(json_object_get(o, "fault_message")) ?: (reply ? reply : ""));
	free(reply);
	if (e == 0 && json_is_object(o))
		*out = o;
	else
		json_decref(o);
	return e;
}
