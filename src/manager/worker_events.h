/* Following a worker's own events (worker_events.c): the file petrel writes with
 * --event-monitor (docs/events.md), watched through one inotify descriptor for every worker;
 * the events petreld forwards become its own (GET /events), and the VM's reset count. */
#ifndef PETREL_MANAGER_WORKER_EVENTS_H
#define PETREL_MANAGER_WORKER_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* One line of a worker's events file, as far as petreld forwards it. */
struct worker_event {
	char event[16];             /* petreld's name of it: "reset" */
	unsigned long long count;   /* the worker's count of them so far */
	char message[128];          /* what the worker said (cut), "" if nothing */
};
/* Parse one line (len bytes, no NUL needed; untrusted: a jailed worker writes it): 1 and *ev
 * when it is an event petreld forwards (the worker's vm/reset), 0 for any other line, valid or
 * not. */
int worker_event_parse(const char *line, size_t len, struct worker_event *ev);

/* The inotify descriptor (m->worker_events) at start-up: 0 or -errno. */
int worker_events_init(struct manager *m);
/* Follow vm's new worker's events file at path (m->lock held, or before the supervisor runs):
 * from its start, forwarding what is there; quiet (a re-adopted worker): from near its end,
 * taking only the reset count of what a petreld before this one forwarded already. A file that
 * cannot be opened is logged and not followed. */
void worker_events_follow(struct manager *m, struct mgr_vm *vm, const char *path, bool quiet);
/* The inotify descriptor is readable, or more was left to read (m->lock held): forward what
 * the workers wrote. true when a worker wrote more than one call reads (call again soon). */
bool worker_events_changed(struct manager *m, bool readable);
/* The worker ended (m->lock held): forward what it wrote last, stop following it. */
void worker_events_unfollow(struct manager *m, struct mgr_vm *vm);

#endif
