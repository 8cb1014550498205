/* petreld's host networks as a service (net_service.h). */
#include "manager/net/net_service.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_run.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000   /* a dnsmasq that ran this long resets the backoff */

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

size_t net_service_fds(struct manager *m, struct pollfd *pfd, size_t max, int *timeout)
{
	size_t k = 0;
	uint64_t now = now_ms();
	for (struct mgr_net *n = m->nets; n; n = n->next) {
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
			if (n->restart_at_ms) {
				int left = (int)(n->restart_at_ms - now);
				if (*timeout < 0 || left < *timeout)
					*timeout = left;
			}
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

void net_service_ready(struct manager *m, const struct pollfd *pfd, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (struct mgr_net *n = m->nets; n; n = n->next)
			/* the fd is still this dnsmasq's and it has ended (not a number used again) */
			if (n->dnsmasq_pidfd == pfd[i].fd && dnsmasq_ended(n))
				ended(m, n);
	}
}
