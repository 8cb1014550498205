/* Supervision, on petreld's main thread: poll() over every worker's pidfd, a wake-up eventfd
 * and the inotify descriptor of the workers' events files (worker_events.c, which forwards what
 * they write); a worker that ends is reaped (when it is petreld's child), its jail and cgroups
 * are cleaned up, and the VM becomes "shut off" (ended by petreld, or a clean exit of the
 * guest) or "crashed", and then its restart policy decides: never; on-failure, after a crash,
 * with a backoff of 1 s doubling to 60 s; always, after any end petreld did not ask for. The
 * host networks' dnsmasq are watched in the same poll (net/net_service.c). */
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/net/net_service.h"
#include "manager/replica.h"
#include "manager/service.h"
#include "manager/start.h"
#include "manager/util.h"
#include "manager/worker.h"
#include "manager/worker_events.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WATCHED 4096
#define BACKOFF_MAX_MS 60000
#define STABLE_S 30   /* a worker that ran this long resets the backoff */

static void schedule_restart(struct manager *m, struct mgr_vm *vm, bool crashed)
{
	/* a replicated VM's recovery is the cluster's (a promoted standby): a restart here, a
	 * fresh boot from the disks, would be a second copy */
	if (vm->def.restart == RESTART_NEVER || (vm->def.restart == RESTART_ON_FAILURE && !crashed) ||
	    vm->replica != REPLICA_NONE)
		return;
	if (vm->started_at && time(NULL) - vm->started_at >= STABLE_S)
		vm->restarts = 0;
	uint64_t backoff = 1000;
	for (unsigned i = 0; i < vm->restarts && backoff < BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	vm->restart_due = true;
	vm->restart_at_ms = now_ms() + backoff;
	mgr_vm_log(m, vm->def.name, "restart policy %s: restart in %llu ms", restart_policy_name(vm->def.restart),
	       (unsigned long long)backoff);
}

/* The worker of vm has ended (m->lock held). */
void supervise_ended(struct manager *m, struct mgr_vm *vm, int status)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->last_exit = status;
	bool asked = vm->stopping;
	bool clean = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	bool was_starting = vm->state == VM_STARTING;
	worker_cleanup(m, vm);
	vm->pid = vm->vmm_pid = 0;
	json_decref(vm->guest_ifs);   /* its agent spoke for the worker that ended */
	vm->guest_ifs = NULL;
	json_t *why = json_object();
	if (status >= 0)
		json_object_set_new(why, WIFSIGNALED(status) ? "signal" : "exit_status",
				    json_integer(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
	if (asked || clean || was_starting) {
		vm->state = VM_SHUTOFF;
		mgr_event_emit(m, vm->def.name, "stopped", why);
		if (!asked && !was_starting)
			schedule_restart(m, vm, false);
	} else {
		vm->state = VM_CRASHED;
		mgr_event_emit(m, vm->def.name, "crashed", why);
		schedule_restart(m, vm, true);
	}
	replica_ended(m, vm);
}

/* The workers that are petreld's children and have ended. Each VM's own pid, never
 * waitpid(-1): that would also reap the children other threads wait for themselves (a seed's
 * mtools in run_tool.c, whose exec makes it an ordinary child whatever its exit signal, and
 * dnsmasq), and their exit status would be lost. An adopted worker (not our child) answers
 * ECHILD here; its pidfd tells its end (supervise_loop). */
static void reap(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	for (struct mgr_vm *vm = m->vms, *next; vm; vm = next) {
		next = vm->next;
		int status;
		if (vm->pid > 0 && waitpid(vm->pid, &status, WNOHANG) == vm->pid)
			supervise_ended(m, vm, status);
	}
	pthread_mutex_unlock(&m->lock);
}

static void *restart_thread(void *arg);
/* The job of a VM the supervisor (re)starts: the API sees it busy, "restart". */
static const struct mgr_job restarting = { .name = "restart" };

/* Whether w (a VM seen in an earlier round, maybe freed since: undefined, migrated away) is
 * still the same VM of the inventory. Its pointer is only compared until it is found listed;
 * the serial tells a VM allocated again at the same address from the one seen. m->lock held. */
struct watched {
	struct mgr_vm *vm;
	uint64_t serial;
};

static struct mgr_vm *still_listed(struct manager *m, const struct watched *w)
{
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm == w->vm)
			return vm->serial == w->serial ? vm : NULL;
	return NULL;
}

void supervise_loop(struct manager *m)
{
	/* pfd[0]: the wake-up eventfd, pfd[1]: the events files' inotify (-1: none, poll skips it) */
	static struct pollfd pfd[MAX_WATCHED + 2];
	static struct watched who[MAX_WATCHED + 2];
	static uint64_t serials;
	bool events_left = false;   /* a worker wrote more than one round read */
	while (!__atomic_load_n(&m->quitting, __ATOMIC_RELAXED)) {
		reap(m);
		nfds_t n = 2;
		int timeout = events_left ? 0 : -1;
		uint64_t now = now_ms();
		pfd[0] = (struct pollfd){ m->wake, POLLIN, 0 };
		pfd[1] = (struct pollfd){ m->worker_events, POLLIN, 0 };
		pthread_mutex_lock(&m->lock);
		for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
			if (!vm->serial)
				vm->serial = ++serials;
			if (vm->pidfd >= 0 && n <= MAX_WATCHED + 1) {
				pfd[n] = (struct pollfd){ vm->pidfd, POLLIN, 0 };
				who[n++] = (struct watched){ vm, vm->serial };
			}
			if (!vm->restart_due || vm->job)
				continue;
			if (vm->restart_at_ms <= now) {
				vm->restart_due = false;
				vm->job = &restarting;
				if (mgr_detached(restart_thread, vm) < 0)
					vm->job = NULL;
			} else {
				int left = (int)(vm->restart_at_ms - now);
				if (timeout < 0 || left < timeout)
					timeout = left;
			}
		}
		nfds_t nets_at = n;   /* the networks' pidfds follow the VMs' */
		n += (nfds_t)net_service_fds(m, pfd + n, MAX_WATCHED + 2 - n, &timeout);
		pthread_mutex_unlock(&m->lock);
		/* Children are also reaped every second: an exit the pidfd did not show. */
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			continue;
		if (pfd[0].revents) {
			uint64_t v;
			if (read(m->wake, &v, sizeof(v)) < 0) {
				/* EAGAIN */
			}
		}
		reap(m);
		/* The lock was let go since the round began (poll, reap): a VM of the round may have
		 * ended, been undefined and freed. Only VMs still listed are looked at. */
		pthread_mutex_lock(&m->lock);
		if (pfd[1].revents || events_left)
			events_left = worker_events_changed(m, pfd[1].revents != 0);
		net_service_ready(m, pfd + nets_at, n - nets_at);
		for (nfds_t i = 2; i < nets_at; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			struct mgr_vm *vm = still_listed(m, &who[i]);
			if (!vm || vm->pidfd != pfd[i].fd)
				continue;
			/* Not petreld's child (adopted): its exit status is not ours to know. */
			int status;
			pid_t r = waitpid(vm->pid, &status, WNOHANG);
			if (r == vm->pid)
				supervise_ended(m, vm, status);
			else if (r < 0 && errno == ECHILD && proc_start_time(vm->pid) != vm->start_time)
				supervise_ended(m, vm, -1);
		}
		pthread_mutex_unlock(&m->lock);
	}
}

static void *restart_thread(void *arg)
{
	struct mgr_vm *vm = arg;
	struct manager *m = the_manager;
	char err[512];
	pthread_mutex_lock(&m->lock);
	bool restart = !vm->autostart_due;
	vm->autostart_due = false;
	pthread_mutex_unlock(&m->lock);
	int e = start_boot(m, vm, restart, err, sizeof(err));
	pthread_mutex_lock(&m->lock);
	if (e < 0) {
		vm->restarts++;
		vm->state = VM_CRASHED;
		mgr_event_emit(m, vm->def.name, "crashed", json_pack("{s:s}", "reason", err));
		schedule_restart(m, vm, true);
	}
	vm->job = NULL;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void supervise_autostart(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm->def.autostart && vm->state == VM_SHUTOFF && !vm->job) {
			vm->restart_due = vm->autostart_due = true; /* the supervisor starts it at once */
			vm->restart_at_ms = 0;
		}
	pthread_mutex_unlock(&m->lock);
}
