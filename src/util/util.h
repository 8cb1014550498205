/* Small helpers shared by every layer. */
#ifndef PETREL_UTIL_UTIL_H
#define PETREL_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
/* A struct freed by its own function at the end of the scope, which takes a pointer to it
 * and frees nothing in a zeroed one: `_cleanup_(drive_config_free) struct drive_config c = { 0 };` */
#define _cleanup_(fn) __attribute__((cleanup(fn)))
/* Hand a cleanup variable's resource on (to the caller, a struct): it is no longer freed or
 * closed at the end of the scope. `return TAKE_FD(fd);`, `out->buf = TAKE_PTR(buf);`,
 * `*out = TAKE_STRUCT(c);` (c is left zeroed). */
#define TAKE_FD(fd) ({ int take_fd_ = (fd); (fd) = -1; take_fd_; })
#define TAKE_PTR(p) ({ __typeof__(p) take_ptr_ = (p); (p) = NULL; take_ptr_; })
#define TAKE_STRUCT(s) ({ __typeof__(s) take_struct_ = (s); memset(&(s), 0, sizeof(s)); take_struct_; })

/* A bool that came from a file or the wire (a snapshot's or a stream's state struct) is a
 * byte that may hold anything, and a value other than 0 or 1 is neither true nor false to the
 * compiler. True when it is 0 or 1; read as a byte, before it is used as a bool. */
static inline bool saved_bool_ok(const bool *f)
{
	uint8_t v;
	memcpy(&v, f, 1);
	return v <= 1;
}

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience).
 * Returns 0 or -errno; *len excludes the terminator. Refuses files over max_len. */
int read_whole_file(const char *path, size_t max_len, char **buf, size_t *len);
/* Copy src to a new file dst (which must not exist: -EEXIST) created with mode; with sync the
 * mode is set whatever the umask and the data synced before it returns. 0 or -errno; on an
 * error after dst was created it is removed (never a half copy). */
int copy_file_mode(const char *src, const char *dst, mode_t mode, bool sync);

/* A new file to write before it is renamed over path: path.tmp.PID in tmp (tmplen bytes),
 * created afresh (whatever was at that name, a link included, is removed, not written
 * through), mode 0600. The fd, or -errno. */
int open_new_tmp(const char *path, char *tmp, size_t tmplen);

/* s holds 1 to max printable ASCII characters (0x20-0x7e): a name shown in logs, a status, an
 * SMBIOS string. False for NULL. */
static inline bool ascii_printable(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* n bytes at p, all zero. */
static inline bool mem_is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

/* The value of a hexadecimal digit, or -1 (MAC addresses, percent escapes). */
static inline int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
					 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Monotonic clock in nanoseconds, and in milliseconds. */
uint64_t now_ns(void);
static inline uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

#endif
