#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int read_whole_file(const char *path, size_t max_len, char **buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO must not hang us in open(); it is then refused as not regular. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max_len)
		return -EFBIG;
	_cleanup_free_ char *p = malloc((size_t)st.st_size + 1);
	if (!p)
		return -ENOMEM;
	size_t done = 0;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, p + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	p[done] = '\0';
	*buf = TAKE_PTR(p);
	*len = done;
	return 0;
}

static int write_whole(int fd, const char *p, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int copy_file_mode(const char *src, const char *dst, mode_t mode, bool sync)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), e = 0;
	if (out < 0)
		return -errno;
	char buf[65536];
	ssize_t n;
	while (!e && (n = read(in, buf, sizeof(buf))) != 0)
		e = n < 0 ? (errno == EINTR ? 0 : -errno) : write_whole(out, buf, (size_t)n);
	struct stat st;
	/* the mode whatever the umask; fchmod only when the umask took bits (the VMM's seccomp filter
	 * allows fstat, not fchmod: it makes a UEFI VM's vars file with this) */
	if (!e && sync && (fstat(out, &st) < 0 || ((st.st_mode & 07777) != mode && fchmod(out, mode) < 0) ||
			   fsync(out) < 0))
		e = -errno;
	if (close(out) < 0 && !e)
		e = -errno;
	if (e)
		unlink(dst);
	return e;
}

int open_new_tmp(const char *path, char *tmp, size_t tmplen)
{
	if ((size_t)snprintf(tmp, tmplen, "%s.tmp.%d", path, (int)getpid()) >= tmplen)
		return -ENAMETOOLONG;
	unlink(tmp); /* ours from a run that died, or anyone's link: replaced, never followed */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
