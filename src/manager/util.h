/* Small helpers of petreld (util.c): clocks, threads, /proc start times, pid files, the HTTP
 * status of an error, waking the supervisor. petrelctl links util.c too. */
#ifndef PETREL_MANAGER_UTIL_H
#define PETREL_MANAGER_UTIL_H

#include <stdint.h>
#include <sys/types.h>

struct manager;

/* Run fn(arg) on a detached thread: 0 or -errno. */
int mgr_detached(void *(*fn)(void *), void *arg);
/* The start time of pid (field 22 of /proc/PID/stat), or 0 if there is no such process. */
unsigned long long proc_start_time(pid_t pid);
/* The pid a pid file names (a line "PID\n"), or 0 while it is missing or not written whole. */
pid_t pid_file_read(const char *path);
/* The HTTP status for a -errno of petreld's. */
unsigned mgr_status_of(int e);
/* Wake the supervisor (supervise.c) up: it has something to look at (a new pidfd, a kill). */
void supervise_wake(struct manager *m);

#endif
