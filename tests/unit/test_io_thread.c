/* The I/O thread's epoll loop (src/util/io_thread.c) with edge-triggered fds, as the virtio
 * queues' notify eventfds are watched (src/devices/virtio/virtio.c: never read): each edge
 * calls the handler once, and an edge whose batch a pause interrupted is not lost. No KVM. */
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/io_thread.h"
#include "util/log.h"
#include "unit.h"

static unsigned calls;

static void count(void *opaque, int fd, uint32_t events)
{
	(void)opaque;
	(void)fd;
	(void)events;
	__atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
}

static bool wait_calls(unsigned n)
{
	for (int i = 0; i < 2000 && __atomic_load_n(&calls, __ATOMIC_SEQ_CST) < n; i++)
		usleep(1000);
	return __atomic_load_n(&calls, __ATOMIC_SEQ_CST) >= n;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	REQUIRE_EQ(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* An I/O thread watching a new eventfd edge-triggered with count(): the eventfd (the test
 * stops at a failed step). */
static int start_edge_triggered(struct io_thread *t)
{
	int fd = -1;
	CHECK_DO_(io_thread_init(t) == 0, return -1);
	CHECK_DO_((fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) >= 0, return -1);
	calls = 0;
	CHECK_DO_(io_thread_add(t, fd, EPOLLIN | EPOLLET, count, NULL) == 0, return -1);
	CHECK_DO_(io_thread_start(t, "test_io") == 0, return -1);
	return fd;
}

/* Never read, the eventfd stays readable: edge-triggered, a handler runs once per write. */
TEST(io_thread_edge_triggered_unread_eventfd)
{
	struct io_thread t;
	int fd = start_edge_triggered(&t);
	REQUIRE(fd >= 0);
	for (unsigned i = 1; i <= 5; i++) {
		signal_fd(fd);
		CHECK(wait_calls(i));
		usleep(5000);
		CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_SEQ_CST), i); /* not again: no busy loop */
	}
	uint64_t v = 0;
	CHECK_EQ(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	CHECK_EQ(v, 5); /* the loop never read it */
	io_thread_destroy(&t);
	close(fd);
}

/* The race the notify eventfds live with: a driver publishes work (here a generation
 * number), then signals, while the handler may be running for the last signal. Each
 * publication must be seen by a handler call that starts after it: the writer waits for
 * that before it publishes again, so a lost edge leaves it waiting (1 s: a failure).
 * 20000 handshakes; on the development host's kernel none was ever lost. */
static unsigned published, seen;

static void take_generation(void *opaque, int fd, uint32_t events)
{
	(void)opaque;
	(void)fd;
	(void)events;
	__atomic_store_n(&seen, __atomic_load_n(&published, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

TEST(io_thread_edge_triggered_loses_no_wakeup)
{
	struct io_thread t;
	REQUIRE_EQ(io_thread_init(&t), 0);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	REQUIRE(fd >= 0);
	published = seen = 0;
	REQUIRE_EQ(io_thread_add(&t, fd, EPOLLIN | EPOLLET, take_generation, NULL), 0);
	REQUIRE_EQ(io_thread_start(&t, "test_io"), 0);
	unsigned lost = 0;
	for (unsigned g = 1; g <= 20000 && !lost; g++) {
		__atomic_store_n(&published, g, __ATOMIC_RELEASE);
		signal_fd(fd);
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (__atomic_load_n(&seen, __ATOMIC_ACQUIRE) < g) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > 1000000000L) {
				lost = g;
				break;
			}
			sched_yield();
		}
	}
	CHECK_EQ(lost, 0u);
	io_thread_destroy(&t);
	close(fd);
}

/* The loop took the edge from epoll, then saw a pause before running its batch: after the
 * resume the handler runs (a level-triggered fd would be reported again; this one would not). */
TEST(io_thread_edge_in_a_batch_a_pause_interrupted)
{
	struct io_thread t;
	int fd = start_edge_triggered(&t);
	REQUIRE(fd >= 0);
	/* Holding the table lock, the loop cannot run a batch: it wakes with the edge (and the
	 * pause's eventfd) and then waits for the lock, to find the pause requested. */
	pthread_mutex_lock(&t.lock);
	signal_fd(fd);
	usleep(20000); /* the loop has the edge from epoll_wait by now, most likely */
	t.pause_requested = true;
	signal_fd(t.pause_efd);
	while (!t.parked)
		pthread_cond_wait(&t.cond, &t.lock);
	CHECK_EQ(__atomic_load_n(&calls, __ATOMIC_SEQ_CST), 0);
	pthread_mutex_unlock(&t.lock);
	io_thread_resume(&t);
	CHECK(wait_calls(1));
	io_thread_destroy(&t);
	close(fd);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
