/* Re-adoption at start-up: the workers that outlived the last petreld are found from their run
 * state (pid + start time, checked one by one: cheap, no I/O to a worker). That is the
 * adoption: from then on petreld holds each worker's pidfd, supervises it and serves the API,
 * the VM reported in the state its run state saved. Then, in the background, every adopted
 * worker is asked for its state by a bounded pool of threads (one slow or hung worker costs
 * its own timeout, not everyone's), and a VM whose worker says otherwise (paused while the run
 * state said running: a petreld killed during a snapshot) is corrected, unless a verb has
 * changed it since. Asking 1000 workers costs ~1000 wake-ups of processes that each must be
 * scheduled: on 2 loaded CPUs seconds, which is why the API does not wait for it. */
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/replica.h"
#include "manager/runstate.h"
#include "manager/service.h"
#include "manager/util.h"
#include "manager/worker.h"
#include "manager/worker_events.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADOPT_THREADS 32

struct adopted {
	char name[VM_NAME_MAX + 1];
	char sock[sizeof(((struct mgr_vm *)0)->api_sock)];
	pid_t pid;
	enum mgr_vm_state saved;    /* what adoption set, from the run state */
};

struct confirm {
	struct manager *m;
	struct adopted *a;
	size_t n;
	atomic_size_t next;
	uint64_t t0;
};

/* One answer applied (m->lock taken here): only to the same worker, in the state adoption
 * gave it, with no verb running on it. */
static void confirm_one(struct manager *m, const struct adopted *a)
{
	int st = runstate_ask(m, a->sock);
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, a->name);
	if (vm && vm->pid == a->pid) {
		if (st >= 0 && !vm->job && vm->state == a->saved && (enum mgr_vm_state)st != a->saved) {
			vm->state = (enum mgr_vm_state)st;
			runstate_save(m, vm);
		}
		mgr_event_emit(m, a->name, "adopted", json_pack("{s:i, s:s}", "pid", (int)a->pid, "state",
							    mgr_vm_state_name(vm->state)));
	}
	pthread_mutex_unlock(&m->lock);
}

static void *confirm_worker(void *arg)
{
	struct confirm *c = arg;
	for (size_t i; (i = atomic_fetch_add(&c->next, 1)) < c->n;)
		confirm_one(c->m, &c->a[i]);
	return NULL;
}

/* fn(arg) on up to `threads` helper threads (small stacks) and on this thread too (alone if no
 * thread could start), then joined: each fn takes items from a shared atomic index. */
static void run_pool(void *(*fn)(void *), void *arg, size_t threads)
{
	pthread_t t[ADOPT_THREADS];
	size_t nt = 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 << 10);
	for (; nt < threads && nt < ADOPT_THREADS; nt++)
		if (pthread_create(&t[nt], &attr, fn, arg) != 0)
			break;
	pthread_attr_destroy(&attr);
	fn(arg);
	for (size_t i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
}

static void *confirm_all(void *arg)
{
	struct confirm *c = arg;
	run_pool(confirm_worker, c, c->n);
	fprintf(stderr, "petreld: the states of %zu adopted worker(s) confirmed by the workers in %llu ms\n", c->n,
		(unsigned long long)(now_ms() - c->t0));
	free(c->a);
	free(c);
	return NULL;
}

/* The run-state checks, a few system calls per VM, spread over threads: on this host each
 * system call is slow, and on a loaded one a single thread waits its turn for every one. */
#define CHECK_THREADS 8

struct check {
	struct manager *m;
	struct mgr_vm **vms;
	int *result;
	size_t n;
	atomic_size_t next;
};

/* runstate_adopt, and an adopted worker's events followed again: its reset count from what
 * the last petreld forwarded. */
static int adopt_one(struct manager *m, struct mgr_vm *vm)
{
	int r = runstate_adopt(m, vm);
	if (r == 1) {
		char events[PATH_MAX];
		worker_events_path(m, vm, events, sizeof(events));
		worker_events_follow(m, vm, events, true);
	}
	return r;
}

static void *check_worker(void *arg)
{
	struct check *c = arg;
	for (size_t i; (i = atomic_fetch_add(&c->next, 1)) < c->n;)
		c->result[i] = adopt_one(c->m, c->vms[i]);
	return NULL;
}

static void check_all(struct check *c)
{
	run_pool(check_worker, c, c->n < CHECK_THREADS * 64 ? (c->n + 63) / 64 : CHECK_THREADS);
}

void adopt_all(struct manager *m)
{
	unsigned adopted = 0, dead = 0;
	uint64_t t0 = now_ms();
	size_t count = 0, n = 0;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		count++;
	struct confirm *c = calloc(1, sizeof(*c));
	struct adopted *a = calloc(count ? count : 1, sizeof(*a));
	struct check ck = { .m = m, .vms = calloc(count ? count : 1, sizeof(struct mgr_vm *)),
			    .result = calloc(count ? count : 1, sizeof(int)), .n = count };
	if (!ck.vms || !ck.result) {  /* out of memory: one after another, below */
		free(ck.vms);
		ck.vms = NULL;
	} else {
		size_t i = 0;
		for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
			ck.vms[i++] = vm;
		check_all(&ck);
	}
	size_t i = 0;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next, i++) {
		int r = ck.vms ? ck.result[i] : adopt_one(m, vm);
		if (r == 1) {
			adopted++;
			if (vm->replica != REPLICA_NONE)
				replica_adopted(m, vm);
			if (a && vm->state != VM_STANDBY) {  /* a standby's watcher follows it */
				struct adopted *x = &a[n++];
				snprintf(x->name, sizeof(x->name), "%s", vm->def.name);
				snprintf(x->sock, sizeof(x->sock), "%s", vm->api_sock);
				x->pid = vm->pid;
				x->saved = vm->state;
			}
		} else if (r == -ESRCH) {
			dead++;
			supervise_ended(m, vm, -1);
		}
	}
	free(ck.vms);
	free(ck.result);
	fprintf(stderr, "petreld: %u worker(s) adopted, %u found dead, in %llu ms\n", adopted, dead,
		(unsigned long long)(now_ms() - t0));
	if (!c || !a || !n) {
		free(c);
		free(a);
		return;
	}
	c->m = m;
	c->a = a;
	c->n = n;
	c->t0 = t0;
	if (mgr_detached(confirm_all, c) < 0)
		confirm_all(c);   /* no thread: here, before the API serves */
}
