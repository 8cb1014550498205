/* The event monitor: JSON lines to a file, a named pipe or an inherited descriptor. See
 * event_monitor.h and docs/events.md. */
#include "util/event_monitor.h"
#include "util/error.h"
#include "util/log.h"
#include "util/utc.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Lines waiting for a slow reader; past this, events are dropped. */
#define EM_BUFFER_MAX (64u << 10)

static struct {
	pthread_mutex_t lock;
	int fd;                 /* -1: no monitor */
	bool on;                /* read without the lock: set once, before any event */
	char id[65];
	uint64_t seq, dropped;
	char *buf;              /* lines not written yet, in order */
	size_t len;
} em = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .id = "petrel" };

/* fd=N: the descriptor must be open for writing. A pipe or FIFO is opened again through
 * /proc (a description of our own, made non-blocking without touching the parent's). */
static int adopt_fd(const char *num, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long n = strtol(num, &end, 10);
	if (errno || end == num || *end || n < 0 || n > INT32_MAX)
		return error_set(err, errlen, -EINVAL, "--event-monitor: 'fd=%s' is not a descriptor number",
				 num);
	int fd = (int)n, fl = fcntl(fd, F_GETFL);
	struct stat st;
	if (fl < 0 || fstat(fd, &st) < 0)
		return error_set(err, errlen, -errno, "--event-monitor: descriptor '%s': %s", num, strerror(errno));
	if ((fl & O_ACCMODE) == O_RDONLY)
		return error_set(err, errlen, -EBADF, "--event-monitor: descriptor (read-only) '%s': %s", num, strerror(EBADF));
	if (fd <= STDERR_FILENO)
		return error_set(err, errlen, -EINVAL,
				 "--event-monitor: fd=%d is a standard stream (the console or the log)", fd);
	if (S_ISFIFO(st.st_mode)) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		int own = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (own >= 0) {
			close(fd);
			return own;
		}
	}
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return error_set(err, errlen, -errno, "--event-monitor: descriptor '%s': %s", num, strerror(errno));
	return fd;
}

static int open_path(const char *path, char *err, size_t errlen)
{
	/* Blocking, so that a named pipe's open waits for its reader, as --log-path does. */
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return error_set(err, errlen, -errno, "--event-monitor: cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)))
		return error_set(err, errlen, -EINVAL,
				 "--event-monitor: '%s' is neither a file nor a named pipe", path);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return error_set(err, errlen, -errno, "--event-monitor: cannot open '%s': %s", path,
				 strerror(errno));
	return TAKE_FD(fd);
}

int event_monitor_open(const char *spec, char *err, size_t errlen)
{
	if (__atomic_load_n(&em.on, __ATOMIC_ACQUIRE))
		return error_set(err, errlen, -EALREADY, "--event-monitor: given twice");
	if (!spec || !*spec)
		return error_set(err, errlen, -EINVAL, "--event-monitor: expected PATH, path=PATH or fd=N");
	int fd;
	if (!strncmp(spec, "fd=", 3))
		fd = adopt_fd(spec + 3, err, errlen);
	else
		fd = open_path(!strncmp(spec, "path=", 5) ? spec + 5 : spec, err, errlen);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&em.lock);
	em.fd = fd;
	pthread_mutex_unlock(&em.lock);
	__atomic_store_n(&em.on, true, __ATOMIC_RELEASE);
	return 0;
}

void event_monitor_set_id(const char *id)
{
	pthread_mutex_lock(&em.lock);
	snprintf(em.id, sizeof(em.id), "%s", id ? id : "petrel");
	pthread_mutex_unlock(&em.lock);
}

/* Write what the buffer holds, without blocking. The caller holds the lock. False when the
 * reader is gone for good (the monitor then stops: nothing more could arrive). */
static bool flush_locked(void)
{
	size_t off = 0;
	while (off < em.len) {
		ssize_t n = write(em.fd, em.buf + off, em.len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		return false;
	}
	memmove(em.buf, em.buf + off, em.len - off);
	em.len -= off;
	return true;
}

static void stop_locked(void)
{
	close(em.fd);
	em.fd = -1;
	__atomic_store_n(&em.on, false, __ATOMIC_RELEASE);
}

static json_t *envelope(const char *source, const char *event, json_t *props, uint64_t seq)
{
	struct timespec wall, mono;
	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	char ts[40];
	size_t n = utc_stamp(ts, sizeof(ts), wall.tv_sec);
	snprintf(ts + n, sizeof(ts) - n, ".%06ldZ", wall.tv_nsec / 1000);
	return json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:o}", "timestamp", ts, "monotonic_us",
			 (json_int_t)(mono.tv_sec * 1000000LL + mono.tv_nsec / 1000), "seq", (json_int_t)seq,
			 "id", em.id, "source", source, "event", event, "properties", props ? props : json_null());
}

void event_emit(const char *source, const char *event, const char *fmt, ...)
{
	if (!__atomic_load_n(&em.on, __ATOMIC_ACQUIRE))
		return;
	json_t *props = NULL;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		props = json_vpack_ex(NULL, 0, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_lock(&em.lock);
	if (em.fd < 0) {
		pthread_mutex_unlock(&em.lock);
		json_decref(props);
		return;
	}
	uint64_t seq = ++em.seq;
	json_t *o = envelope(source, event, props, seq);
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	size_t n = line ? strlen(line) : 0;
	char *grown = line && em.len + n + 1 <= EM_BUFFER_MAX ? realloc(em.buf, em.len + n + 1) : NULL;
	if (grown) {
		em.buf = grown;
		memcpy(em.buf + em.len, line, n);
		em.buf[em.len + n] = '\n';
		em.len += n + 1;
	} else {
		em.dropped++;
	}
	free(line);
	if (!flush_locked()) {
		log_warn("event monitor: the reader is gone (%s): no more events", strerror(errno));
		stop_locked();
	}
	pthread_mutex_unlock(&em.lock);
}

void event_monitor_close(int timeout_ms)
{
	pthread_mutex_lock(&em.lock);
	if (em.fd < 0) {
		pthread_mutex_unlock(&em.lock);
		return;
	}
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (em.len && flush_locked() && em.len) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = { .fd = em.fd, .events = POLLOUT };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || (p.revents & (POLLERR | POLLHUP)))
			break;
	}
	if (em.len)
		log_warn("event monitor: %zu bytes of events not written (the reader is not reading)", em.len);
	stop_locked();
	free(em.buf);
	em.buf = NULL;
	em.len = 0;
	pthread_mutex_unlock(&em.lock);
}

uint64_t event_monitor_dropped(void)
{
	pthread_mutex_lock(&em.lock);
	uint64_t d = em.dropped;
	pthread_mutex_unlock(&em.lock);
	return d;
}
