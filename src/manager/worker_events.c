/* Following the workers' own events (worker_events.h). Each worker writes its events file
 * (--event-monitor, docs/events.md), a regular file in its jail that outlives petreld like the
 * worker does; petreld reads what is appended, woken by one inotify descriptor that watches
 * every worker's file (the supervisor polls it beside the pidfds), and forwards the events it
 * knows to its own stream: a guest's reset ("reset", with the worker's count) for now. The
 * file is the worker's, and a jailed worker is not trusted: it is opened without following a
 * link, must be a regular file, is read at most READ_MAX bytes at a time (a worker that writes
 * without end cannot hold petreld), and every line is parsed as untrusted JSON. */
#include "manager/worker_events.h"
#include "manager/events.h"
#include "manager/mgr.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_MAX (256 << 10)   /* bytes one call reads of a file: the rest at the next round */
#define QUIET_TAIL 65536       /* what a re-adoption reads of a file: its end */

struct worker_follow {
	int fd;
	int wd;                    /* its inotify watch, -1: none (read when the worker ends) */
	off_t off;                 /* read up to here: the start of a line */
	bool more;                 /* written past what was read */
};

int worker_event_parse(const char *line, size_t len, struct worker_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	/* Most lines are other events: no JSON parse for them. */
	if (!memmem(line, len, "\"reset\"", 7))
		return 0;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *props = json_object_get(o, "properties");
	json_t *count = json_object_get(props, "count");
	const char *src = json_string_value(json_object_get(o, "source"));
	const char *what = json_string_value(json_object_get(o, "event"));
	int r = 0;
	if (src && what && !strcmp(src, "vm") && !strcmp(what, "reset") && json_is_integer(count) &&
	    json_integer_value(count) >= 0) {
		snprintf(ev->event, sizeof(ev->event), "reset");
		ev->count = (unsigned long long)json_integer_value(count);
		const char *msg = json_string_value(json_object_get(props, "message"));
		snprintf(ev->message, sizeof(ev->message), "%s", msg ? msg : "");
		r = 1;
	}
	json_decref(o);
	return r;
}

static void forward(struct manager *m, struct mgr_vm *vm, const struct worker_event *ev, bool quiet)
{
	vm->resets = ev->count;
	if (!quiet)
		mgr_event_emit(m, vm->def.name, ev->event,
			       json_pack("{s:I, s:s}", "count", (json_int_t)ev->count, "message", ev->message));
}

/* Whole lines from f->off on, up to READ_MAX bytes: true when more may be there. */
static bool read_some(struct manager *m, struct mgr_vm *vm, bool quiet)
{
	struct worker_follow *f = vm->events;
	char buf[16384];
	for (size_t total = 0; total < READ_MAX;) {
		ssize_t n = pread(f->fd, buf, sizeof(buf), f->off);
		if (n <= 0)
			return false;
		size_t used = 0;
		for (char *nl; (nl = memchr(buf + used, '\n', (size_t)n - used));) {
			struct worker_event ev;
			if (worker_event_parse(buf + used, (size_t)(nl - (buf + used)), &ev) == 1)
				forward(m, vm, &ev, quiet);
			used = (size_t)(nl - buf) + 1;
		}
		if (!used) {
			if ((size_t)n < sizeof(buf))
				return false;      /* a line still being written: the rest comes */
			used = (size_t)n;          /* a line longer than any event: skipped */
		}
		f->off += (off_t)used;
		total += used;
	}
	return true;
}

int worker_events_init(struct manager *m)
{
	m->worker_events = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return m->worker_events < 0 ? -errno : 0;
}

void worker_events_follow(struct manager *m, struct mgr_vm *vm, const char *path, bool quiet)
{
	worker_events_unfollow(m, vm); /* a stale one's */
	vm->resets = 0;
	struct stat st;
	struct worker_follow *f = calloc(1, sizeof(*f));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (!f || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mgr_vm_log(m, vm->def.name, "the worker's events are not followed: %s: %s", path,
			   fd < 0 ? strerror(errno) : f ? "not a regular file" : "out of memory");
		if (fd >= 0)
			close(fd);
		free(f);
		return;
	}
	f->fd = fd;
	f->wd = m->worker_events >= 0 ? inotify_add_watch(m->worker_events, path, IN_MODIFY | IN_DONT_FOLLOW) : -1;
	if (quiet && st.st_size > QUIET_TAIL)
		f->off = st.st_size - QUIET_TAIL;  /* its first, cut line parses as nothing */
	vm->events = f;
	if (quiet)
		while (read_some(m, vm, true))
			;
	else
		f->more = read_some(m, vm, false);
}

static struct mgr_vm *by_watch(struct manager *m, int wd)
{
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm->events && vm->events->wd == wd)
			return vm;
	return NULL;
}

bool worker_events_changed(struct manager *m, bool readable)
{
	bool all = false, more = false;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while (readable && (n = read(m->worker_events, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			struct mgr_vm *vm = e->mask & IN_Q_OVERFLOW ? NULL : by_watch(m, e->wd);
			all |= (e->mask & IN_Q_OVERFLOW) != 0;   /* lost which: look at every file */
			if (vm)
				vm->events->more = true;
			p += sizeof(*e) + e->len;
		}
	}
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm->events && (all || vm->events->more))
			more |= vm->events->more = read_some(m, vm, false);
	return more;
}

void worker_events_unfollow(struct manager *m, struct mgr_vm *vm)
{
	struct worker_follow *f = vm->events;
	if (!f)
		return;
	read_some(m, vm, false);   /* what it said last (a reset just before it ended) */
	if (f->wd >= 0)
		inotify_rm_watch(m->worker_events, f->wd);
	close(f->fd);
	free(f);
	vm->events = NULL;
}
