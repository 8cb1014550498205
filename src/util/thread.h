/* Background threads of petrel's own (migration, replication, pagers, throttles). */
#ifndef PETREL_UTIL_THREAD_H
#define PETREL_UTIL_THREAD_H

#include <pthread.h>

/* Start fn(arg) with every signal blocked: signals are the console's (signalfd), and vCPU
 * threads a helper starts inherit its mask and unblock only their kick signal. 0 or -errno. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
