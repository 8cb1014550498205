/* GET /vms/NAME/console: the VM's serial console output as it comes, for any number of
 * readers at once. A worker's standard output is its guest's serial console, and petreld
 * keeps it in <state dir>/logs/<name>.worker.log (with petrel's own messages); a reader first
 * gets the last CONSOLE_BACKLOG bytes of it, so a late reader sees the recent output, then
 * what is appended, until it goes away. Input goes the other way: console_input.c. */
#include "manager/console.h"
#include "manager/mgr.h"
#include "manager/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSOLE_BACKLOG 16384
#define CONSOLE_POLL_MS 100

struct console_reader {
	char path[PATH_MAX];
	int fd;
};

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 5000) <= 0 || (p.revents & (POLLERR | POLLHUP)))
			return false; /* a reader that does not read for 5 s is let go */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return true;
}

static void *follow(void *arg)
{
	struct console_reader *c = arg;
	int log = open(c->path, O_RDONLY | O_CLOEXEC);
	if (log >= 0) {
		struct stat st;
		if (fstat(log, &st) == 0 && st.st_size > CONSOLE_BACKLOG)
			lseek(log, st.st_size - CONSOLE_BACKLOG, SEEK_SET);
		char buf[8192];
		for (;;) {
			ssize_t n = read(log, buf, sizeof(buf));
			if (n > 0) {
				if (!send_all(c->fd, buf, (size_t)n))
					break;
				continue;
			}
			/* Nothing new: wait, and see whether the reader has gone. */
			struct pollfd p = { c->fd, POLLIN | POLLRDHUP, 0 };
			if (poll(&p, 1, CONSOLE_POLL_MS) > 0) {
				char drop[256];
				if (p.revents & (POLLHUP | POLLRDHUP | POLLERR) || recv(c->fd, drop, sizeof(drop), MSG_DONTWAIT) == 0)
					break;
			}
		}
		close(log);
	}
	close(c->fd);
	free(c);
	return NULL;
}

void console_stream(void *arg, int fd)
{
	struct console_reader *c = arg;
	if (fd < 0) {
		free(c);
		return;
	}
	c->fd = fd;
	if (mgr_detached(follow, c) < 0) {
		close(fd);
		free(c);
	}
}

void *console_reader_new(struct manager *m, const char *vm)
{
	struct console_reader *c = calloc(1, sizeof(*c));
	if (c)
		snprintf(c->path, sizeof(c->path), "%s/logs/%s.worker.log", m->state_dir, vm);
	return c;
}
