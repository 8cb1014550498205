/* The figures of a migration whose source worker exited before petreld's GET /migration saw
 * it complete (migrate.c): from the worker's events file (worker_events_path), which petrel
 * alone writes. Apart from migrate.c so that its unit test links it alone. */
#include "manager/peer/peer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The worker may own its events file (in its jail): a regular file only, not followed
 * through a link, never blocking. */
int peer_events_open(const char *path, off_t *end)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (*end = lseek(fd, 0, SEEK_END)) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Never from the worker's log: the guest's console shares that file, and a guest can print a
 * line that looks like one of petrel's. The worker writes the event before it exits, so once
 * it has exited the event is there: the figures of a worker that ended between two polls of
 * GET /migration. The descriptor reads the file also once its jail is removed. */
json_t *peer_events_figures(int fd, off_t offset)
{
	int own = fd >= 0 ? dup(fd) : -1;
	FILE *f = own >= 0 ? fdopen(own, "r") : NULL;
	if (!f) {
		if (own >= 0)
			close(own);
		return NULL;
	}
	json_t *o = NULL;
	char *line = NULL;
	size_t cap = 0;
	if (fseeko(f, offset, SEEK_SET) == 0)
		while (getline(&line, &cap, f) > 0) {
			json_t *one = peer_event_figures(line);
			if (one) {
				json_decref(o);
				o = one;
			}
		}
	free(line);
	fclose(f);
	return o;
}
