/* How many of this process's threads are named `name` (their /proc comm), for the tests of
 * threads petrel makes only when needed (test_pvm.c: the idle kicker; test_thread_spawner.c:
 * the spawner). -1 if /proc cannot be read. */
#ifndef PETREL_TESTS_UNIT_THREADS_NAMED_H
#define PETREL_TESTS_UNIT_THREADS_NAMED_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static inline int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		if (f)
			fclose(f);
		n += !strcmp(comm, name);
	}
	closedir(d);
	return n;
}

#endif
