/* Re-adoption at start-up: the workers that outlived the last petreld are found from their run
 * state (pid + start time, checked one by one: cheap, no I/O to a worker), then every adopted
 * worker is asked for its state at once by a bounded pool of threads, so one slow or hung
 * worker costs its own timeout and not everyone's, and 1000 workers cost a few round trips. */
#include "manager/manager.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define ADOPT_THREADS 32

struct adopt_pool {
	struct manager *m;
	struct vm **vms;
	size_t n;
	atomic_size_t next;
};

static void *adopt_worker(void *arg)
{
	struct adopt_pool *p = arg;
	for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		runstate_query(p->m, p->vms[i]);
	return NULL;
}

/* Ask every adopted worker for its state; runs before the API serves, so no lock is needed:
 * each thread only writes the VMs it took. */
static void query_all(struct manager *m, struct vm **vms, size_t n)
{
	struct adopt_pool p = { .m = m, .vms = vms, .n = n };
	pthread_t t[ADOPT_THREADS];
	size_t nt = 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 << 10);
	for (; nt < ADOPT_THREADS && nt < n; nt++)
		if (pthread_create(&t[nt], &attr, adopt_worker, &p) != 0)
			break;
	pthread_attr_destroy(&attr);
	adopt_worker(&p); /* this thread too (and alone if no thread could start) */
	for (size_t i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
}

static void adopted_event(struct manager *m, struct vm *vm, bool query)
{
	if (query)
		runstate_query(m, vm);
	if (vm->replica != REPLICA_NONE)
		replica_adopted(m, vm);
	event_emit(m, vm->def.name, "adopted", json_pack("{s:i, s:s}", "pid", (int)vm->pid, "state",
							 vm_state_name(vm->state)));
}

void adopt_all(struct manager *m)
{
	unsigned adopted = 0, dead = 0;
	uint64_t t0 = mgr_now_ms();
	size_t count = 0;
	for (struct vm *vm = m->vms; vm; vm = vm->next)
		count++;
	struct vm **live = calloc(count ? count : 1, sizeof(*live));
	for (struct vm *vm = m->vms; vm; vm = vm->next) {
		int r = runstate_adopt(m, vm);
		if (r == 1) {
			if (live)
				live[adopted] = vm;
			else
				adopted_event(m, vm, true); /* out of memory: one at a time */
			adopted++;
		} else if (r == -ESRCH) {
			dead++;
			supervise_ended(m, vm, -1);
		}
	}
	uint64_t t1 = mgr_now_ms();
	if (live) {
		query_all(m, live, adopted);
		for (size_t i = 0; i < adopted; i++)
			adopted_event(m, live[i], false);
	}
	free(live);
	fprintf(stderr, "petreld: %u worker(s) adopted, %u found dead, in %llu ms (%llu checking run states)\n",
		adopted, dead, (unsigned long long)(mgr_now_ms() - t0), (unsigned long long)(t1 - t0));
}
