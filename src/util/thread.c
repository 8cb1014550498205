/* Thread creation: names, signal masks, seccomp filters, and the spawner. See thread.h. */
#include "util/thread.h"
#include "util/affinity.h"
#include "util/log.h"
#include "util/proc_metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

struct start {
	void *(*fn)(void *);
	void *arg;
	int kind;
	char name[16];
	bool pin;            /* run on `cpus` (util/affinity.h) */
	cpu_set_t cpus;
	pthread_t thread;
	pthread_t *out;      /* the caller's: written by the thread itself before fn runs */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, exists;   /* exists: the child reported (it is a thread to join) */
	int status;
	struct start *next;
};

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawn_cond = PTHREAD_COND_INITIALIZER;
static struct start *spawn_queue;
static bool spawner_running;
static int (*enter_filter)(int kind); /* seccomp's, once it started the spawner */
/* The thread that started the spawner, when its filter is the spawner's own: it creates its
 * threads itself (the spawner is for every other thread). */
static bool creator_direct;
static pthread_t creator;
/* With creator_direct the spawner thread is made when first needed: `owed` until then. It is
 * made before the creator's first thread, unless the creator is `serving`: then it watches
 * `wanted` (an eventfd another thread's first request writes) and makes it then, until
 * thread_spawner_serve_end, after which a request that no spawner would serve fails. All under
 * spawn_lock. */
static bool spawner_owed, serving;
static int wanted = -1;

static void report(struct start *s, int status, bool child)
{
	pthread_mutex_lock(&s->lock);
	s->status = status;
	s->exists = child;
	s->done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* What every new thread does first: its name, and faults and SIGPIPE let through to their
 * counting handlers (util/proc_metrics.h): a blocked synchronous fault would kill without them. */
static void thread_begin(const char *name)
{
	if (name[0])
		prctl(PR_SET_NAME, name, 0, 0, 0);
	sigset_t faults;
	proc_metrics_fault_signals(&faults);
	pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
}

static void *trampoline(void *p)
{
	struct start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;
	thread_begin(s->name);
	/* On its host CPUs before its own filter and before fn: a vCPU never runs a guest
	 * instruction elsewhere. */
	int e = s->pin ? affinity_pin_self(&s->cpus) : 0;
	if (e < 0) {
		char list[128];
		cpulist_format(&s->cpus, list, sizeof(list));
		log_error("thread '%s': cannot run on host CPUs %s: %s", s->name, list, strerror(-e));
	}
	if (e == 0 && enter_filter)
		e = enter_filter(s->kind);
	/* The caller's handle is valid before fn runs (fn may compare it with pthread_self(), as
	 * the I/O thread does, or others may kick it), as with a plain pthread_create. */
	s->thread = pthread_self();
	*s->out = s->thread;
	report(s, e, true);   /* s is the creator's: not touched after this */
	return e < 0 ? NULL : fn(arg);
}

/* pthread_create with every signal blocked (the child inherits the mask). */
static int create_blocked(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -e;
}

static int create(struct start *s)
{
	return create_blocked(&s->thread, trampoline, s);
}

static void *spawner(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&spawn_lock);
	for (;;) {
		while (!spawn_queue)
			pthread_cond_wait(&spawn_cond, &spawn_lock);
		struct start *s = spawn_queue;
		spawn_queue = s->next;
		pthread_mutex_unlock(&spawn_lock);
		if (!s->fn) {   /* not a thread: thread_spawner_pin asks it to move itself */
			report(s, affinity_pin_self(&s->cpus), false);
		} else {
			int e = create(s);
			if (e < 0)
				report(s, e, false);
		}
		pthread_mutex_lock(&spawn_lock);
	}
	return NULL;
}

/* The spawner when its filter is its creator's: what the trampoline does, but nothing to
 * install (enter_filter only unblocks SIGSYS) and no one waiting for it. */
static void *spawner_inheriting(void *arg)
{
	thread_begin("fc_spawn");
	int e = enter_filter(SC_SPAWN);
	if (e < 0) {
		log_error("the spawner thread: %s", strerror(-e));
		return NULL;
	}
	return spawner(arg);
}

/* The spawner that keeps its creator's filter (owed until now): it serves what is queued. */
static int make_spawner(void)
{
	pthread_t t;
	int e = create_blocked(&t, spawner_inheriting, NULL);
	struct start *failed = NULL;
	pthread_mutex_lock(&spawn_lock);
	if (e == 0) {
		pthread_detach(t);
		spawner_running = true;
		spawner_owed = false;
	} else {   /* no one would serve what waits for it */
		failed = spawn_queue;
		spawn_queue = NULL;
	}
	pthread_mutex_unlock(&spawn_lock);
	if (e < 0)
		log_error("cannot start thread 'fc_spawn': %s", strerror(-e));
	while (failed) {
		struct start *next = failed->next;
		report(failed, e, false);   /* failed is the waiter's: not touched after this */
		failed = next;
	}
	return e;
}

int thread_start(pthread_t *t, int kind, const char *name, void *(*fn)(void *), void *arg)
{
	return thread_start_on(t, kind, name, affinity_for_kind(kind), fn, arg);
}

int thread_start_on(pthread_t *t, int kind, const char *name, const cpu_set_t *cpus,
		    void *(*fn)(void *), void *arg)
{
	struct start s = { .fn = fn, .arg = arg, .kind = kind, .out = t, .pin = cpus != NULL };
	if (cpus)
		s.cpus = *cpus;
	snprintf(s.name, sizeof(s.name), "%s", name ? name : "");
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	int e = 0;
	pthread_mutex_lock(&spawn_lock);
	bool by_creator = creator_direct && pthread_equal(pthread_self(), creator);
	bool owed = spawner_owed && !by_creator;   /* another thread, no spawner yet */
	if (owed && !serving)
		e = -ECANCELED;   /* the creator no longer makes one: the process is ending */
	bool queued = !e && !by_creator && (spawner_running || owed);
	if (queued) {
		s.next = spawn_queue;
		spawn_queue = &s;
		pthread_cond_signal(&spawn_cond);
		if (owed)
			(void)!eventfd_write(wanted, 1);
	}
	/* the creator's first thread where it does not serve requests: the spawner first */
	bool make = by_creator && spawner_owed && !serving;
	pthread_mutex_unlock(&spawn_lock);
	if (make)
		e = make_spawner();
	if (!e && !queued)
		e = create(&s);
	if (e == 0) {
		pthread_mutex_lock(&s.lock);
		while (!s.done)
			pthread_cond_wait(&s.cond, &s.lock);
		e = s.status;
		pthread_mutex_unlock(&s.lock);
		/* a thread that could not be filtered has ended without running fn */
		if (e < 0 && s.exists)
			pthread_join(s.thread, NULL);
	}
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	if (e < 0) {
		if (e == -ECANCELED)   /* the caller says what it gave up */
			log_debug("thread '%s' (%s) not started: the process is ending", s.name, sc_kind_name(kind));
		else
			log_error("cannot start thread '%s' (%s): %s", s.name, sc_kind_name(kind), strerror(-e));
		return e;
	}
	*t = s.thread;
	return 0;
}

int thread_spawner_pin(const cpu_set_t *cpus)
{
	struct start s = { .pin = true, .cpus = *cpus };
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	pthread_mutex_lock(&spawn_lock);
	bool queued = spawner_running;
	if (queued) {
		s.next = spawn_queue;
		spawn_queue = &s;
		pthread_cond_signal(&spawn_cond);
	}
	pthread_mutex_unlock(&spawn_lock);
	pthread_mutex_lock(&s.lock);
	while (queued && !s.done)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	return s.status;
}

int thread_spawner_start(int (*enter)(int kind), bool creator_keeps_filter)
{
	enter_filter = enter;
	pthread_mutex_lock(&spawn_lock);
	creator_direct = creator_keeps_filter;
	creator = pthread_self();
	/* Its creator's filter is the spawner's own: made when first needed (see spawner_owed),
	 * and requests queued before it runs wait for it. */
	spawner_owed = creator_keeps_filter && !spawner_running;
	serving = false;
	pthread_mutex_unlock(&spawn_lock);
	if (creator_keeps_filter)
		return 0;
	pthread_t t;
	int e = thread_start(&t, SC_SPAWN, "fc_spawn", spawner, NULL);
	if (e == 0) {
		pthread_mutex_lock(&spawn_lock);
		spawner_running = true;
		pthread_mutex_unlock(&spawn_lock);
	}
	return e;
}

int thread_spawner_serve_begin(void)
{
	int e = 0;
	pthread_mutex_lock(&spawn_lock);
	if (spawner_owed && pthread_equal(pthread_self(), creator)) {
		if (wanted < 0 && (wanted = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			e = -errno;
		else
			serving = true;
	}
	pthread_mutex_unlock(&spawn_lock);
	return e;
}

int thread_spawner_wanted_fd(void)
{
	pthread_mutex_lock(&spawn_lock);
	int fd = serving && spawner_owed ? wanted : -1;
	pthread_mutex_unlock(&spawn_lock);
	return fd;
}

int thread_spawner_serve(void)
{
	eventfd_t v;
	pthread_mutex_lock(&spawn_lock);
	bool make = serving && spawner_owed && spawn_queue;
	if (wanted >= 0)
		(void)!eventfd_read(wanted, &v);
	pthread_mutex_unlock(&spawn_lock);
	return make ? make_spawner() : 0;
}

void thread_spawner_serve_end(void)
{
	pthread_mutex_lock(&spawn_lock);
	/* what was asked before this still gets its thread */
	bool make = serving && spawner_owed && spawn_queue;
	serving = false;
	pthread_mutex_unlock(&spawn_lock);
	if (make)
		(void)make_spawner();
}
