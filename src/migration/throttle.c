#include "migration/throttle.h"
#include "util/thread.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define PERIOD_US 10000

struct throttle {
	struct vm *vm;
	pthread_t thread;
	unsigned percent;    /* atomic */
	bool stop;           /* atomic */
};

static void *throttle_main(void *arg)
{
	struct throttle *t = arg;
	pthread_setname_np(pthread_self(), "petrel_thrott");
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		unsigned pct = __atomic_load_n(&t->percent, __ATOMIC_RELAXED);
		if (pct) {
			vm_throttle_vcpus(t->vm, PERIOD_US * pct / 100);
		}
		struct timespec ts = { 0, PERIOD_US * 1000L };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int throttle_start(struct vm *vm, struct throttle **out)
{
	struct throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->vm = vm;
	int e = thread_start(&t->thread, SC_THROTTLE, "petrel_thrott", throttle_main, t);
	if (e) {
		free(t);
		return e;
	}
	*out = t;
	return 0;
}

void throttle_set(struct throttle *t, unsigned percent)
{
	__atomic_store_n(&t->percent, percent > 99 ? 99 : percent, __ATOMIC_RELAXED);
}

unsigned throttle_get(struct throttle *t)
{
	return __atomic_load_n(&t->percent, __ATOMIC_RELAXED);
}

void throttle_stop(struct throttle *t)
{
	if (!t)
		return;
	__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
	pthread_join(t->thread, NULL);
	vm_throttle_vcpus(t->vm, 0);
	free(t);
}
