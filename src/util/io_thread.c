#include "util/io_thread.h"
#include "util/log.h"
#include "util/proc_metrics.h"
#include "util/thread.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int io_thread_init(struct io_thread *t)
{
	memset(t, 0, offsetof(struct io_thread, handlers));
	t->stop_efd = t->pause_efd = -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -errno;
	t->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_efd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_efd, &ev) < 0)
		return -errno;
	t->pause_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->pause_efd < 0)
		return -errno;
	ev.data.ptr = &t->pause_efd;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->pause_efd, &ev) < 0)
		return -errno;
	return 0;
}

/* The loop holds t->lock while it runs callbacks; a callback that changes the table already
 * has it. So once a caller holds the lock, no callback is running (other than its own). */
static bool lock_table(struct io_thread *t)
{
	bool self = io_thread_is_current(t);
	if (!self)
		pthread_mutex_lock(&t->lock);
	return self;
}

static void unlock_table(struct io_thread *t, bool self)
{
	if (!self)
		pthread_mutex_unlock(&t->lock);
}

int io_thread_add(struct io_thread *t, int fd, uint32_t events, io_handler_fn fn, void *opaque)
{
	bool self = lock_table(t);
	struct io_handler *h = NULL;
	for (unsigned i = 0; i < t->nhandlers && !h; i++)
		if (!t->handlers[i].used)
			h = &t->handlers[i];
	if (!h && t->nhandlers < IO_THREAD_MAX_HANDLERS)
		h = &t->handlers[t->nhandlers++];
	if (!h) {
		unlock_table(t, self);
		log_error("I/O thread: more than %d file descriptors", IO_THREAD_MAX_HANDLERS);
		return -ENOSPC;
	}
	*h = (struct io_handler){ fd, events, fn, opaque, true };
	struct epoll_event ev = { .events = events, .data.ptr = h };
	int err = 0;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		h->used = false;
		log_error("I/O thread: cannot watch fd %d: %s", fd, strerror(errno));
	}
	unlock_table(t, self);
	return err;
}

int io_thread_add_in(struct io_thread *t, int fd, io_handler_fn fn, void *opaque)
{
	return io_thread_add(t, fd, EPOLLIN, fn, opaque);
}

static struct io_handler *find(struct io_thread *t, int fd)
{
	for (unsigned i = 0; i < t->nhandlers; i++)
		if (t->handlers[i].used && t->handlers[i].fd == fd)
			return &t->handlers[i];
	return NULL;
}

int io_thread_modify(struct io_thread *t, int fd, uint32_t events)
{
	bool self = lock_table(t);
	struct io_handler *h = find(t, fd);
	int err = -ENOENT;
	if (h) {
		struct epoll_event ev = { .events = events, .data.ptr = h };
		err = epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
		if (!err)
			h->events = events;
	}
	unlock_table(t, self);
	return err;
}

int io_thread_remove(struct io_thread *t, int fd)
{
	/* Once we hold the table no callback for fd is in progress; after EPOLL_CTL_DEL none
	 * will start. */
	bool self = lock_table(t);
	struct io_handler *h = find(t, fd);
	int err = -ENOENT;
	if (h) {
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
		h->used = false;
		h->fn = NULL;
		err = 0;
	}
	unlock_table(t, self);
	return err;
}

static void *io_loop(void *arg)
{
	struct io_thread *t = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(t->epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("I/O thread: epoll_wait: %s", strerror(errno));
			break;
		}
		t->wakeups++;
		bool stop = false;
		pthread_mutex_lock(&t->lock);
		if (t->pause_requested) {
			uint64_t v;
			if (read(t->pause_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("I/O thread: pause eventfd: %s", strerror(errno));
			t->parked = true;
			pthread_cond_broadcast(&t->cond);
			while (t->pause_requested)
				pthread_cond_wait(&t->cond, &t->lock);
			t->parked = false;
			/* This batch may be stale: ask epoll again. Level-triggered fds that are still
			 * ready are reported again; edge-triggered ones are not, so theirs run now (a
			 * handler of such an fd must bear a call with nothing new: util/io_thread.h). */
			for (int i = 0; i < n; i++) {
				struct io_handler *h = evs[i].data.ptr;
				if (h && h != (void *)&t->pause_efd && h->used && h->fn && (h->events & EPOLLET))
					h->fn(h->opaque, h->fd, evs[i].events);
			}
			pthread_mutex_unlock(&t->lock);
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct io_handler *h = evs[i].data.ptr;
			if (!h) {
				stop = true;
				continue;
			}
			if (h == (void *)&t->pause_efd) {
				uint64_t v;
				if (read(t->pause_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("I/O thread: pause eventfd: %s", strerror(errno));
				continue;
			}
			/* A handler removed by an earlier callback in this batch has fn == NULL. */
			if (h->used && h->fn) {
				proc_metric_inc(PM_DEVICE_EVENTS);   /* the metrics' vmm.device_events */
				h->fn(h->opaque, h->fd, evs[i].events);
			}
		}
		pthread_mutex_unlock(&t->lock);
		if (stop)
			break;
	}
	return NULL;
}

int io_thread_start(struct io_thread *t, const char *name)
{
	if (t->running)
		return 0;
	int err = -thread_start(&t->thread, SC_IO, name ? name : "fc_io", io_loop, t);
	if (err) {
		log_error("cannot start the I/O thread: %s", strerror(err));
		return -err;
	}
	t->running = true;
	return 0;
}

int io_thread_pause(struct io_thread *t)
{
	if (!t->running)
		return 0;
	if (io_thread_is_current(t))
		return -EDEADLK;
	pthread_mutex_lock(&t->lock);
	t->pause_requested = true;
	uint64_t one = 1;
	int err = 0;
	if (write(t->pause_efd, &one, sizeof(one)) < 0)
		err = -errno;
	while (!err && !t->parked)
		pthread_cond_wait(&t->cond, &t->lock);
	if (err)
		t->pause_requested = false;
	pthread_mutex_unlock(&t->lock);
	return err;
}

void io_thread_resume(struct io_thread *t)
{
	pthread_mutex_lock(&t->lock);
	t->pause_requested = false;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void io_thread_stop(struct io_thread *t)
{
	if (!t->running)
		return;
	io_thread_resume(t);
	uint64_t one = 1;
	if (write(t->stop_efd, &one, sizeof(one)) < 0)
		log_warn("I/O thread: cannot signal stop: %s", strerror(errno));
	pthread_join(t->thread, NULL);
	t->running = false;
}

void io_thread_destroy(struct io_thread *t)
{
	io_thread_stop(t);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->stop_efd >= 0)
		close(t->stop_efd);
	if (t->pause_efd >= 0)
		close(t->pause_efd);
	t->epfd = t->stop_efd = t->pause_efd = -1;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

bool io_thread_is_current(const struct io_thread *t)
{
	return t->running && pthread_equal(pthread_self(), t->thread);
}
