/* Small helpers of petreld (util.h): clocks, threads, /proc start times, pid files, the HTTP
 * status of an error, waking the supervisor. */
#include "manager/util.h"
#include "manager/mgr.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: count from its last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* p + 2 is field 3 (state); field 22 is 19 fields further. */
	p += 2;
	if (*p == 'Z' || *p == 'X')
		return 0; /* a zombie is no live worker */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

pid_t pid_file_read(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || buf[n - 1] != '\n')
		return 0;   /* not there yet, or not written whole */
	buf[n] = '\0';
	return (pid_t)atoi(buf);
}

int mgr_detached(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return -e;
}

unsigned mgr_status_of(int e)
{
	switch (-e) {
	case EINVAL: case ENOENT: case ENAMETOOLONG: return 400;
	case EEXIST: case EBUSY: case ENOTSUP: return 409;
	case EAGAIN: return 503;
	case ENOSPC: case EDQUOT: return 507;
	case ETIMEDOUT: return 504;
	case EIO: return 502;
	default: return 500;
	}
}

void supervise_wake(struct manager *m)
{
	uint64_t one = 1;
	if (write(m->wake, &one, sizeof(one)) < 0) {
		/* the counter is full: the supervisor is awake anyway */
	}
}
