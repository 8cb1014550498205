/* The I/O thread: one epoll loop that does device work off the vCPU threads. Devices add
 * file descriptors (ioeventfds of their queues, completion eventfds of their backends, tap
 * and socket fds) with a callback; the callback runs on the I/O thread whenever the fd is
 * readable (level-triggered epoll, so a callback that leaves data behind is called again).
 * An fd added with EPOLLET is reported once per edge; its callback must take all there is
 * and bear a call with nothing new (the loop repeats a batch a pause interrupted).
 *
 * Callbacks run with the table lock held: do not call io_thread_add/modify/remove while holding
 * a lock that a callback may take (a device lock), except from a callback itself. */
#ifndef PETREL_UTIL_IO_THREAD_H
#define PETREL_UTIL_IO_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*io_handler_fn)(void *opaque, int fd, uint32_t events);

#define IO_THREAD_MAX_HANDLERS 256

struct io_handler {
	int fd;
	uint32_t events;
	io_handler_fn fn;
	void *opaque;
	bool used;
};

struct io_thread {
	int epfd;
	int stop_efd;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;                 /* the handler table */
	uint64_t wakeups;                     /* epoll_wait returns, for statistics */
	/* Pausing (under lock): the loop parks between batches until resumed. */
	int pause_efd;                        /* wakes the loop to notice a pause request */
	pthread_cond_t cond;
	bool pause_requested, parked;
	/* Last, and only the first nhandlers ever written (the rest is not cleared by init: 8 KiB
	 * a VM's few descriptors never reach). */
	unsigned nhandlers;
	struct io_handler handlers[IO_THREAD_MAX_HANDLERS];
};

int io_thread_init(struct io_thread *t);
/* Watch fd for events (EPOLLIN, EPOLLOUT, ...) and call fn on the I/O thread. Safe to call
 * before or after io_thread_start. -ENOSPC when the table is full. */
int io_thread_add(struct io_thread *t, int fd, uint32_t events, io_handler_fn fn, void *opaque);
/* io_thread_add for a readable fd (EPOLLIN, level-triggered): a timerfd, an eventfd, the
 * completion fd of a disk's ring. Without <sys/epoll.h> for its callers. */
int io_thread_add_in(struct io_thread *t, int fd, io_handler_fn fn, void *opaque);
/* Change the events an fd is watched for. */
int io_thread_modify(struct io_thread *t, int fd, uint32_t events);
/* Stop watching fd. Once it returns the callback is not running for fd and will not be
 * called again (unless called from the I/O thread itself, where that is trivially so). */
int io_thread_remove(struct io_thread *t, int fd);
int io_thread_start(struct io_thread *t, const char *name);
/* Park the thread between callbacks and return once it is parked: no device work runs until
 * io_thread_resume (events that arrive meanwhile are served then: level-triggered fds are
 * reported again, and the edge-triggered handlers of a batch the pause interrupted run after
 * the resume).
 * Not from the I/O thread itself. Idempotent; 0 at once if the thread is not running. */
int io_thread_pause(struct io_thread *t);
void io_thread_resume(struct io_thread *t);
/* Stop the thread and wait for it; idempotent. */
void io_thread_stop(struct io_thread *t);
void io_thread_destroy(struct io_thread *t);
bool io_thread_is_current(const struct io_thread *t);

#endif
