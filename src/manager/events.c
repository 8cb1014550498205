/* The event stream: GET /events hands its connection here (a long-lived answer, one JSON
 * object per line); every event also goes to the VM's log, <state dir>/logs/<name>.log.
 * A subscriber that cannot take an event at once (its socket full) is dropped: petreld never
 * waits on a reader. */
#include "manager/events.h"
#include "manager/mgr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBSCRIBERS 64
#define EVENTS_TAIL_BYTES 65536   /* what events_read_log reads of a log: its end */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static int subscribers[MAX_SUBSCRIBERS];
static unsigned nsubs;
static struct manager *ev_manager;

void events_init(struct manager *m)
{
	ev_manager = m;
}

void events_subscribe(void *ctx, int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&ev_lock);
	if (nsubs < MAX_SUBSCRIBERS) {
		subscribers[nsubs++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&ev_lock);
	if (fd >= 0)
		close(fd); /* too many: the reader sees the end at once */
}

static void log_line(struct manager *m, const char *vm, const char *line)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/logs/%s.log", m->state_dir, vm);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", gmtime_r(&t, &tm));
	char buf[1200];
	int n = snprintf(buf, sizeof(buf), "%s%s\n", stamp, line);
	if (write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0) {
		/* a full log disk loses a log line, nothing else */
	}
	close(fd);
}

void mgr_vm_log(struct manager *m, const char *vm, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line(m, vm, line);
}

/* o (taken) with its event name and time, to every subscriber and, when vm is not NULL, the VM's log. */
static void emit(struct manager *m, const char *vm, const char *what, json_t *o)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(o, "event", json_string(what));
	json_object_set_new(o, "time", json_integer((json_int_t)now.tv_sec));
	/* the same in ms: what a failover's steps are timed by (bench/cluster.py) */
	json_object_set_new(o, "time_ms", json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!text)
		return;
	if (vm)
		log_line(m, vm, text);
	size_t len = strlen(text);
	text[len] = '\n'; /* sent with its line end; the NUL is not */
	pthread_mutex_lock(&ev_lock);
	for (unsigned i = 0; i < nsubs;) {
		ssize_t n = send(subscribers[i], text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != (ssize_t)(len + 1)) {
			close(subscribers[i]);
			subscribers[i] = subscribers[--nsubs];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&ev_lock);
	free(text);
}

/* extra (taken) when it is an object, else a new one. */
static json_t *object_of(json_t *extra)
{
	if (extra && json_is_object(extra))
		return extra;
	json_decref(extra);
	return json_object();
}

void mgr_event_emit(struct manager *m, const char *vm, const char *what, json_t *extra)
{
	json_t *o = object_of(extra);
	json_object_set_new(o, "vm", json_string(vm));
	emit(m, vm, what, o);
}

/* An event about something of the host's that is no VM: key names it (its kind), no VM's log. */
static void host_event(struct manager *m, const char *key, const char *name, const char *what, json_t *extra)
{
	json_t *o = object_of(extra);
	json_object_set_new(o, key, json_string(name));
	emit(m, NULL, what, o);
}

void mgr_net_event_emit(struct manager *m, const char *network, const char *what, json_t *extra)
{
	host_event(m, "network", network, what, extra);
}

void mgr_image_event_emit(struct manager *m, const char *image, const char *what, json_t *extra)
{
	host_event(m, "image", image, what, extra);
}

json_t *events_read_log(struct manager *m, const char *vm)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/logs/%s.log", m->state_dir, vm);
	json_t *a = json_array();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return a;
	struct stat st;
	off_t from = fstat(fd, &st) == 0 && st.st_size > EVENTS_TAIL_BYTES ? st.st_size - EVENTS_TAIL_BYTES : 0;
	char *buf = malloc(EVENTS_TAIL_BYTES + 1);
	ssize_t n = buf ? pread(fd, buf, EVENTS_TAIL_BYTES, from) : -1;
	close(fd);
	if (n <= 0) {
		free(buf);
		return a;
	}
	buf[n] = '\0';
	char *line = buf, *end;
	if (from > 0 && (end = strchr(line, '\n'))) /* a cut first line */
		line = end + 1;
	for (; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			break;
		*end = '\0';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		json_t *ev = sp[1] == '{' ? json_loads(sp + 1, 0, NULL) : NULL;
		if (!json_is_object(ev)) {
			json_decref(ev);
			ev = json_pack("{s:s, s:s}", "stamp", line, "message", sp + 1);
		}
		json_array_append_new(a, ev);
	}
	free(buf);
	return a;
}
