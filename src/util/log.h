/* One logging API for all of petrel. The logger is the only global state. */
#ifndef PETREL_UTIL_LOG_H
#define PETREL_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* LOG_OFF as the current level silences everything; it is not a level to log at. */
enum log_level { LOG_OFF = -1, LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Lines look like Firecracker's:
 *   2026-11-21T08:57:34.123456789 [petrel:main:ERROR:vm/vm.c:120] message
 * local time, then Firecracker's tag: the instance id (log_set_id, default "petrel"), the
 * thread name ("main" for the main thread), the level and the origin (each optional, see
 * log_set_format). Each line is one write(); a line that cannot be written without
 * blocking (a full FIFO) is dropped rather than stalling the caller. Default level: LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Send log lines to the file or named pipe at path (appending; created if missing), or back to
 * stderr when path is NULL. Returns 0 or -errno (the previous destination stays in use). */
int log_set_path(const char *path);
/* Lines that could not be written (a full pipe, a broken destination) and were dropped
 * (metrics: logger.missed_log_count). */
uint64_t log_lines_dropped(void);
/* The descriptor lines go to now, without the lock (the SIGSYS handler's, src/seccomp). */
int log_current_fd(void);
/* Firecracker's names, case-insensitive: Error, Warning (or Warn), Info, Debug, Trace, Off.
 * Returns 0 or -EINVAL. */
int log_level_from_name(const char *name, enum log_level *out);
/* The instance id shown in every line (at most 63 characters are kept); NULL restores "petrel". */
void log_set_id(const char *id);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* log_msg with the source location (what the log_* macros use): `file` is __FILE__, shown
 * relative to src/ when the origin is shown, and matched against the module filter. */
void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Firecracker's logger options (PUT /logger, --show-level, --show-log-origin, --module):
 * show the level and/or "file:line" in each line (both on by default for petrel run; the
 * Firecracker-style CLI turns them off like Firecracker does), and keep only messages from
 * source files under src/<module> (NULL or "" keeps all). */
void log_set_format(bool show_level, bool show_origin);
void log_set_module(const char *module);
/* Copy the first ERROR message the calling thread logs from now on into buf (NUL-terminated,
 * whatever the level filter says), until log_capture_end(). Lets a caller turn "vm_create
 * failed, and logged why" into an API fault message. */
void log_capture_begin(char *buf, size_t len);
void log_capture_end(void);

/* Lines a guest (or an image, or a peer) can make us write over and over get a budget per
 * call site: LOG_LIMIT_BURST lines per window (10 s unless window_ns says otherwise); the rest
 * are dropped and counted, and the next line let through says how many went. */
#define LOG_LIMIT_BURST 10
struct log_limit {
	uint64_t window_ns;     /* 0: 10 s */
	uint64_t start;
	unsigned n, dropped;
};
/* True if a line may be written now; *dropped: lines dropped since the last one let through. */
bool log_limit_take(struct log_limit *l, unsigned *dropped);

#define log_limited(level, ...)                                                                     \
	do {                                                                                        \
		static struct log_limit lim_;                                                       \
		unsigned dropped_;                                                                  \
		if (log_limit_take(&lim_, &dropped_)) {                                             \
			if (dropped_)                                                               \
				log_msg_at(level, __FILE__, __LINE__, "(%u more like the next line were " \
					   "dropped)", dropped_);                                            \
			log_msg_at(level, __FILE__, __LINE__, __VA_ARGS__);                         \
		}                                                                                   \
	} while (0)

#define log_error(...) log_msg_at(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg_at(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg_at(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg_at(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_trace(...) log_msg_at(LOG_TRACE, __FILE__, __LINE__, __VA_ARGS__)

#endif
