/* petreld's host networks as a service (net_service.h). */
#include "manager/net/net_service.h"
#include "manager/net/net_guard_addrs.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_run.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000   /* a dnsmasq that ran this long resets the backoff */
#define LEASES_SETTLE_MS 10   /* after a change of the lease file, before it is read */
#define LEASES_POLL_MS 2000   /* without inotify: how often it is read */

void net_service_start(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	mgr_net_load_all(m);
	for (struct mgr_net *n = m->nets; n; n = n->next) {
		char err[512];
		if (net_run_adopt(m, n) || !n->def.autostart)
			continue;
		if (net_run_start(m, n, err, sizeof(err)) < 0) {
			fprintf(stderr, "petreld: network %s: autostart failed: %s\n", n->def.name, err);
			mgr_net_event_emit(m, n->def.name, "network start failed", json_pack("{s:s}", "reason", err));
		} else {
			mgr_net_event_emit(m, n->def.name, "network started",
					   json_pack("{s:i, s:b}", "dnsmasq_pid", (int)n->dnsmasq_pid, "autostart", 1));
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void lower(int *timeout, uint64_t at, uint64_t now)
{
	int left = at > now ? (int)(at - now) : 0;
	if (*timeout < 0 || left < *timeout)
		*timeout = left;
}

/* The leases of an active nat or isolated network are watched: an inotify of its state directory
 * (dnsmasq rewrites its lease file in place at each change, and makes it at its start). An
 * inactive one's watch is closed. Without inotify the file is read every LEASES_POLL_MS. */
static void leases_watch(struct manager *m, struct mgr_net *n, uint64_t now)
{
	bool want = n->active && n->def.kind != NET_BRIDGE;
	if (!want) {
		if (n->leases_fd >= 0)
			close(n->leases_fd);
		n->leases_fd = -1;
		n->leases_due_ms = 0;
		json_decref(n->guards_seen);
		n->guards_seen = NULL;
		return;
	}
	if (n->leases_fd >= 0 || (n->leases_due_ms && n->leases_due_ms > now))
		return;
	char dir[PATH_MAX], err[256];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && (mgr_net_state_dir(m, n->def.name, dir, sizeof(dir), err, sizeof(err)) < 0 ||
			inotify_add_watch(fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE |
						   IN_MOVED_FROM) < 0)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 && !n->leases_due_ms)
		fprintf(stderr, "petreld: network %s: cannot watch its leases (%s): read every %d ms\n", n->def.name,
			strerror(errno), LEASES_POLL_MS);
	n->leases_fd = fd;
	n->leases_due_ms = now;   /* the guards follow the file as it is now, then its changes */
}

/* The guards of n's taps follow its leases when due. */
static void leases_follow(struct manager *m, struct mgr_net *n, uint64_t now)
{
	if (!n->leases_due_ms || n->leases_due_ms > now)
		return;
	int64_t again = net_guards_follow(m, n);
	n->leases_due_ms = again >= 0 ? now + (uint64_t)again : 0;
	if (n->leases_fd < 0 && (!n->leases_due_ms || n->leases_due_ms > now + LEASES_POLL_MS))
		n->leases_due_ms = now + LEASES_POLL_MS;
}

size_t net_service_fds(struct manager *m, struct pollfd *pfd, size_t max, int *timeout)
{
	size_t k = 0;
	uint64_t now = now_ms();
	for (struct mgr_net *n = m->nets; n; n = n->next) {
		leases_watch(m, n, now);
		leases_follow(m, n, now);
		if (n->leases_due_ms)
			lower(timeout, n->leases_due_ms, now);
		if (n->leases_fd >= 0 && k < max)
			pfd[k++] = (struct pollfd){ n->leases_fd, POLLIN, 0 };
		if (n->active && !n->dnsmasq_pid && n->restart_at_ms) {
			char err[512];
			if (n->restart_at_ms <= now) {
				n->restarts++;
				if (net_run_dnsmasq(m, n, err, sizeof(err)) < 0) {
					fprintf(stderr, "petreld: network %s: cannot start its dnsmasq again: %s\n", n->def.name, err);
					mgr_net_event_emit(m, n->def.name, "network dnsmasq restart failed",
							   json_pack("{s:s, s:i}", "reason", err, "restarts", (int)n->restarts));
					n->restart_at_ms = now + BACKOFF_MAX_MS;
				} else {
					fprintf(stderr, "petreld: network %s: dnsmasq started again (pid %d, restart %u)\n",
						n->def.name, (int)n->dnsmasq_pid, n->restarts);
					mgr_net_event_emit(m, n->def.name, "network dnsmasq restarted",
							   json_pack("{s:i, s:i}", "dnsmasq_pid", (int)n->dnsmasq_pid, "restarts",
								     (int)n->restarts));
				}
			}
			if (n->restart_at_ms)
				lower(timeout, n->restart_at_ms, now);
		}
		if (n->dnsmasq_pidfd >= 0 && k < max)
			pfd[k++] = (struct pollfd){ n->dnsmasq_pidfd, POLLIN, 0 };
	}
	return k;
}

/* n's dnsmasq has ended: its restart is due after the backoff. */
static void ended(struct manager *m, struct mgr_net *n)
{
	int st = -1;
	bool child = waitpid(n->dnsmasq_pid, &st, WNOHANG) == n->dnsmasq_pid;
	uint64_t now = now_ms();
	if (now - n->started_ms >= STABLE_MS)
		n->backoff = 0;
	uint64_t delay = 1000;
	for (unsigned i = 0; i < n->backoff && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	delay = delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay;
	n->backoff++;
	char how[48] = "";
	if (child && WIFEXITED(st))
		snprintf(how, sizeof(how), " with status %d", WEXITSTATUS(st));
	else if (child && WIFSIGNALED(st))
		snprintf(how, sizeof(how), " by signal %d", WTERMSIG(st));
	fprintf(stderr, "petreld: network %s: dnsmasq %d ended%s: started again in %llu ms\n", n->def.name,
		(int)n->dnsmasq_pid, how, (unsigned long long)delay);
	mgr_net_event_emit(m, n->def.name, "network dnsmasq ended",
			   json_pack("{s:i, s:I}", "dnsmasq_pid", (int)n->dnsmasq_pid, "restart_in_ms", (json_int_t)delay));
	close(n->dnsmasq_pidfd);
	n->dnsmasq_pidfd = -1;
	n->dnsmasq_pid = 0;
	n->restart_at_ms = now + delay;
}

/* Whether n's dnsmasq has ended: no such process, or a zombie its parent has not reaped yet
 * (an adopted one's parent is init; a pidfd stays readable, so it must not be seen again). */
static bool dnsmasq_ended(const struct mgr_net *n)
{
	if (syscall(SYS_pidfd_send_signal, n->dnsmasq_pidfd, 0, NULL, 0) < 0)
		return errno == ESRCH;
	return proc_start_time(n->dnsmasq_pid) == 0;   /* gone, or a zombie */
}

/* n's inotify has events: a change of its lease file makes the guards follow it shortly (the
 * writes of one change coalesce; a read that met a change half written is followed by the
 * event of its rest). */
static void leases_changed(struct mgr_net *n)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool leases = false;
	ssize_t len;
	while ((len = read(n->leases_fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= len;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
			if ((ev->len && !strcmp(ev->name, "leases")) || (ev->mask & IN_Q_OVERFLOW))
				leases = true;
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	uint64_t at = now_ms() + LEASES_SETTLE_MS;
	if (leases && (!n->leases_due_ms || n->leases_due_ms > at))
		n->leases_due_ms = at;
}

void net_service_ready(struct manager *m, const struct pollfd *pfd, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (struct mgr_net *n = m->nets; n; n = n->next)
			if (n->leases_fd >= 0 && n->leases_fd == pfd[i].fd)
				leases_changed(n);
		for (struct mgr_net *n = m->nets; n; n = n->next)
			/* the fd is still this dnsmasq's and it has ended (not a number used again) */
			if (n->dnsmasq_pidfd == pfd[i].fd && dnsmasq_ended(n))
				ended(m, n);
	}
}
