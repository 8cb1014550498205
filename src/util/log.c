/* The logger: the one piece of global state petrel has. */
#include "util/log.h"
#include "util/utc.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_ID_MAX 64

#define LOG_MODULE_MAX 128

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;          /* under log_lock */
static char log_id[LOG_ID_MAX] = "petrel";  /* under log_lock */
static uint64_t lines_dropped;              /* under log_lock */
static int log_level = LOG_INFO;            /* read without the lock: __atomic */
static bool log_show_level = true;          /* under log_lock */
static bool log_show_origin = false;        /* under log_lock */
static char log_module[LOG_MODULE_MAX];     /* under log_lock; "" keeps everything */

/* log_capture_begin(): the first ERROR message of this thread is copied here. */
static __thread char *capture_buf;
static __thread size_t capture_len;

static const char *const level_names[] = {
	[LOG_ERROR] = "ERROR",
	[LOG_WARN] = "WARN",
	[LOG_INFO] = "INFO",
	[LOG_DEBUG] = "DEBUG",
	[LOG_TRACE] = "TRACE",
};

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return (enum log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_level_from_name(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_ERROR }, { "warning", LOG_WARN }, { "warn", LOG_WARN },
		{ "info", LOG_INFO },   { "debug", LOG_DEBUG },  { "trace", LOG_TRACE },
		{ "off", LOG_OFF },
	};
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_format(bool show_level, bool show_origin)
{
	pthread_mutex_lock(&log_lock);
	log_show_level = show_level;
	log_show_origin = show_origin;
	pthread_mutex_unlock(&log_lock);
}

void log_set_module(const char *module)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_module, sizeof(log_module), "%s", module ? module : "");
	pthread_mutex_unlock(&log_lock);
}

void log_capture_begin(char *buf, size_t len)
{
	capture_buf = len ? buf : NULL;
	capture_len = len;
	if (capture_buf)
		capture_buf[0] = '\0';
}

void log_capture_end(void)
{
	capture_buf = NULL;
	capture_len = 0;
}

/* __FILE__ as the build gives it ("../src/http/server.c") -> "http/server.c". */
static const char *source_path(const char *file)
{
	if (!file)
		return "?";
	const char *p = strstr(file, "src/");
	while (p) {
		const char *next = strstr(p + 4, "src/");
		if (!next)
			break;
		p = next;
	}
	return p ? p + 4 : file;
}

static bool module_matches(const char *path)
{
	size_t n = strlen(log_module);
	if (!n)
		return true;
	if (strncmp(path, log_module, n) != 0)
		return false;
	return log_module[n - 1] == '/' || path[n] == '/' || path[n] == '.' || path[n] == '\0';
}

void log_set_id(const char *id)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_id, sizeof(log_id), "%s", id ? id : "petrel");
	pthread_mutex_unlock(&log_lock);
}

uint64_t log_lines_dropped(void)
{
	pthread_mutex_lock(&log_lock);
	uint64_t n = lines_dropped;
	pthread_mutex_unlock(&log_lock);
	return n;
}

int log_set_path(const char *path)
{
	int fd = STDERR_FILENO;
	if (path) {
		/* O_NONBLOCK: a named pipe nobody reads fails here (ENXIO) instead of hanging,
		 * and a full one drops lines instead of stalling vCPU threads. */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			  0640);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&log_lock);
	int old = log_fd;
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	if (old != STDERR_FILENO)
		close(old);
	return 0;
}

int log_current_fd(void)
{
	return __atomic_load_n(&log_fd, __ATOMIC_RELAXED);   /* no lock: signal handlers read it */
}

/* Append at most what fits; returns the new length (never past cap - 1). */
static size_t append(char *buf, size_t len, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t len, size_t cap, const char *fmt, ...)
{
	if (len >= cap - 1)
		return len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return len;
	return (size_t)n >= cap - len ? cap - 1 : len + (size_t)n;
}

static void thread_name(char *name, size_t size)
{
	/* Like Firecracker, call the main thread "main" (its kernel name is the program's). */
	if (gettid() == getpid())
		snprintf(name, size, "main");
	else if (pthread_getname_np(pthread_self(), name, size) != 0 || !name[0])
		snprintf(name, size, "tid-%d", (int)gettid());
}

static void vlog_msg_at(enum log_level level, const char *file, int line_no, const char *fmt,
			va_list ap) __attribute__((format(printf, 4, 0)));

static void vlog_msg_at(enum log_level level, const char *file, int line_no, const char *fmt,
			va_list ap)
{
	int saved_errno = errno;   /* callers often log strerror(errno) and then use errno */
	if (level == LOG_ERROR && capture_buf && !capture_buf[0]) {
		va_list cap;
		va_copy(cap, ap);
		vsnprintf(capture_buf, capture_len, fmt, cap);
		va_end(cap);
	}
	if ((int)level < LOG_ERROR || (int)level > LOG_TRACE || (int)level > (int)log_get_level()) {
		errno = saved_errno;
		return;
	}

	char line[LOG_LINE_MAX];
	char tname[16];
	struct timespec ts;
	size_t len = 0;
	const char *src = source_path(file);

	/* UTC, as the event monitor's, petreld's events and the metrics' utc_timestamp_ms are, and
	 * as a jailed petrel's always were (no /etc/localtime in its root): no time zone to read,
	 * which at start had cost the file's parse and 64 KiB of libc mapped, and no file a
	 * filtered thread would have to open for its first line. */
	clock_gettime(CLOCK_REALTIME, &ts);
	len = utc_stamp(line, sizeof(line), ts.tv_sec);
	thread_name(tname, sizeof(tname));

	pthread_mutex_lock(&log_lock);
	if (file && !module_matches(src)) {
		pthread_mutex_unlock(&log_lock);
		errno = saved_errno;
		return;
	}
	/* Firecracker's tag: [instance:thread:LEVEL:file:line], level and origin optional. */
	len = append(line, len, sizeof(line), ".%09ld [%s:%s", ts.tv_nsec, log_id, tname);
	if (log_show_level)
		len = append(line, len, sizeof(line), ":%s", level_names[level]);
	if (log_show_origin && file)
		len = append(line, len, sizeof(line), ":%s:%d", src, line_no);
	len = append(line, len, sizeof(line), "] ");
	size_t msg_start = len;
	int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len = (size_t)n >= sizeof(line) - len ? sizeof(line) - 1 : len + (size_t)n;
	if (n > 0 && (size_t)n >= sizeof(line) - msg_start)
		memcpy(line + sizeof(line) - 4, "...", 3);   /* mark truncation */

	/* One line per message: drop trailing newlines, neutralize embedded control characters
	 * (messages may carry guest-supplied text; it must not forge extra log lines). */
	while (len > msg_start && line[len - 1] == '\n')
		len--;
	for (size_t i = msg_start; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';

	/* A single write() keeps lines from different threads whole. */
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(log_fd, line + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {   /* EAGAIN on a full pipe, or a broken destination: drop the line */
			lines_dropped++;
			break;
		}
		done += (size_t)w;
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}

void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_msg_at(level, file, line, fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_msg_at(level, NULL, 0, fmt, ap);
	va_end(ap);
}

bool log_limit_take(struct log_limit *l, unsigned *dropped)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint64_t now = now_ns(), window = l->window_ns ? l->window_ns : 10ull * 1000000000ull;
	pthread_mutex_lock(&lock);
	if (!l->start || now - l->start >= window) {
		l->start = now;
		l->n = 0;
	}
	bool ok = l->n < LOG_LIMIT_BURST;
	if (ok) {
		l->n++;
		*dropped = l->dropped;
		l->dropped = 0;
	} else {
		l->dropped++;
		*dropped = 0;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}
