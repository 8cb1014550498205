/* The UART's output side: guest bytes to the console fd, through the rate limiter, the
 * replication gate and (serial_buffer_output) a buffer written in batches.
 *
 * Why a buffer: a guest writes its console a byte at a time (Linux's 8250 console: an LSR read
 * and a THR write per byte), and each byte written at once cost a poll() and a write() on the
 * vCPU thread. Buffered, a line costs one poll and one write (bench/serial.py). Nothing is
 * lost or reordered by it:
 * - bytes leave in the order they came, from one buffer, under the UART's lock;
 * - a line end, a full buffer, the flush timer (when the guest has written nothing for
 *   SERIAL_IDLE_NS: a prompt without a line end; or SERIAL_MAX_WAIT_NS after the first byte of
 *   a batch) and serial_flush (the VM's pause and exit) write it. The timer is set once per
 *   batch, not per byte: SERIAL_IDLE_NS after its first byte, and when the guest is still
 *   writing then, once more for SERIAL_MAX_WAIT_NS after it (a timer from the first byte on
 *   flushed a line in several pieces where the guest's bytes come slowly: nested KVM);
 * - output held for replication (an outgate) is never buffered here: each byte goes to the
 *   gate as it comes, in the epoch the guest made it, and is written only when the gate
 *   releases that epoch, exactly as before; bytes buffered before a gate was set (none in
 *   practice: the VM is paused, which flushes, when a gate is set) are written first. */
#include "devices/legacy/serial.h"
#include "devices/legacy/serial_int.h"
#include "util/io_thread.h"
#include "util/log.h"
#include "util/outgate.h"
#include "util/stat.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Guest output must never hold a vCPU for long: a console that takes nothing (a pipe or FIFO
 * nobody reads, a stopped terminal) gets SERIAL_STALL_MS to make room, counted from the last
 * time it took something; then the bytes are dropped and counted, and later ones are dropped
 * at once until it takes output again. A reader that is only slow for a moment loses nothing.
 * A vCPU kicked while it waits (pause, exit) drops the bytes and goes. poll() rather than
 * O_NONBLOCK, which would change the file for everyone sharing it (the user's terminal).
 * Output held for replication is written by the replication thread, which must not stop for
 * anything near the standby's failure timeout (default 1 s: a stalled console would make the
 * standby take over a healthy primary), so it gets SERIAL_RELEASE_STALL_MS. The I/O thread
 * (the flush timer) never waits: what the console does not take stays for the next try.
 * A write follows a POLLOUT: a pipe then has a free page (SERIAL_OUT_BUF fits), a socket half
 * its send buffer; only a terminal with less room than the batch whose reader stops in the
 * middle could keep the writer waiting. */
#define SERIAL_STALL_MS 1000
#define SERIAL_RELEASE_STALL_MS 100
#define SERIAL_RETRY_NS 10000000 /* the timer's next try at a full console */

/* Write p as the console takes it: waiting for room until stall_ms after *since (the first
 * time it had none, 0: not yet), or with wait false not at all. What it did not take by then
 * is dropped and counted. Returns how many bytes are left (only without wait, in time). */
static size_t write_console(struct serial *s, const uint8_t *p, size_t len, unsigned stall_ms, uint64_t *since,
			    bool wait)
{
	while (len) {
		struct pollfd pf = { .fd = s->out_fd, .events = POLLOUT };
		int r = poll(&pf, 1, 0);
		if (r == 0 && !s->out_stalled) {
			uint64_t now = now_ns(), limit = (uint64_t)stall_ms * 1000000;
			if (!*since)
				*since = now;
			if (now - *since < limit) {
				if (!wait)
					return len;
				r = poll(&pf, 1, (int)((limit - (now - *since) + 999999) / 1000000));
			}
		}
		if (r != 1 || !(pf.revents & POLLOUT)) {
			if (!s->out_stalled)
				log_limited(LOG_WARN, "serial: the console took no output for %u ms (nobody reads "
					    "it?): dropping guest output until it does", stall_ms);
			s->out_stalled = true;
			stat_add(&s->tx_dropped, len);
			*since = 0;
			return 0;
		}
		s->out_stalled = false;
		ssize_t n = write(s->out_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		p += n;
		len -= (size_t)n;
		*since = 0;
	}
	return 0;
}

/* Held output written when the standby has its epoch (util/outgate.c, the replication thread):
 * under the UART's lock like the vCPU's own writes. */
static void write_out_locked(void *opaque, const void *data, size_t len)
{
	struct serial *s = opaque;
	uint64_t since = 0;
	pthread_mutex_lock(&s->lock);
	write_console(s, data, len, SERIAL_RELEASE_STALL_MS, &since, true);
	pthread_mutex_unlock(&s->lock);
}

void serial_write_again(struct serial *s, const void *data, size_t len)
{
	if (s->out_fd >= 0)
		write_out_locked(s, data, len);
}

void serial_set_rate_limiter(struct serial *s, const struct token_bucket_config *c)
{
	pthread_mutex_lock(&s->lock);
	token_bucket_init(&s->out_limit, c, now_ns());
	pthread_mutex_unlock(&s->lock);
}

static void arm_timer(struct serial *s, uint64_t ns)
{
	struct itimerspec its = { .it_value = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) } };
	if (timerfd_settime(s->out_timer, 0, &its, NULL) == 0)
		s->out_timer_armed = true;
	else /* no timer, no waiting bytes: write them now */
		log_limited(LOG_WARN, "serial: cannot set the output timer: %s", strerror(errno));
}

/* s->lock held. What the console does not take without waiting stays, and the timer tries
 * again (until the stall time ends: then it is dropped, as a waiting write would). */
static void flush_locked(struct serial *s, bool wait)
{
	if (!s->out_len)
		return;
	size_t left = write_console(s, s->out_buf, s->out_len, SERIAL_STALL_MS, &s->out_wait_since, wait);
	if (left && s->io) {
		memmove(s->out_buf, s->out_buf + s->out_len - left, left);
		s->out_len = left;
		arm_timer(s, SERIAL_RETRY_NS);
		if (s->out_timer_armed)
			return;
		write_console(s, s->out_buf, left, SERIAL_STALL_MS, &s->out_wait_since, true);
	}
	s->out_len = 0;
}

static void timer_fired(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct serial *s = opaque;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_limited(LOG_WARN, "serial: output timer: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	s->out_timer_armed = false;
	if (s->out_len) {
		/* Still writing (a byte in the last half of SERIAL_IDLE_NS; a prompt written in one
		 * go is older by then and goes now): the line end will most likely write
		 * it; the timer comes back only at the batch's last moment, so that a guest whose
		 * bytes come slowly (nested KVM: one per ~0.5 ms) does not wake it every few bytes. */
		uint64_t now = now_ns(), last_moment = s->out_first_ns + SERIAL_MAX_WAIT_NS;
		if (now - s->out_last_ns < SERIAL_IDLE_NS / 2 && now < last_moment && !s->out_wait_since)
			arm_timer(s, last_moment - now);
		else
			flush_locked(s, false);
	}
	pthread_mutex_unlock(&s->lock);
}

int serial_buffer_output(struct serial *s, struct io_thread *io)
{
	if (s->out_fd < 0)
		return 0; /* nothing is written: nothing to buffer */
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = io_thread_add_in(io, fd, timer_fired, s);
	if (err < 0) {
		close(fd);
		return err;
	}
	pthread_mutex_lock(&s->lock);
	s->out_timer = fd;
	s->io = io;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void serial_flush(struct serial *s, bool wait)
{
	pthread_mutex_lock(&s->lock);
	flush_locked(s, wait);
	pthread_mutex_unlock(&s->lock);
}

void serial_destroy(struct serial *s)
{
	if (!s->io)
		return;
	io_thread_remove(s->io, s->out_timer); /* the timer's callback is not running after this */
	pthread_mutex_lock(&s->lock);
	s->io = NULL;
	close(s->out_timer);
	s->out_timer = -1;
	flush_locked(s, true);
	pthread_mutex_unlock(&s->lock);
}

void serial_emit(struct serial *s, uint8_t b)
{
	stat_add(&s->tx_bytes, 1);
	if (s->out_fd < 0)
		return;
	/* Firecracker's serial rate limiter: output past the bucket is dropped, never waited for. */
	if (s->out_limit.active && !token_bucket_take(&s->out_limit, 1, now_ns())) {
		stat_add(&s->rl_dropped, 1);
		return;
	}
	/* Replicated (src/ha): the byte goes out once the standby has this epoch. */
	struct outgate *g = __atomic_load_n(&s->gate, __ATOMIC_ACQUIRE);
	if (g) {
		flush_locked(s, true); /* older bytes first */
		if (outgate_hold(g, write_out_locked, s, &b, 1, true))
			return;
	}
	if (!s->io) {
		uint64_t since = 0;
		write_console(s, &b, 1, SERIAL_STALL_MS, &since, true);
		return;
	}
	uint64_t now = now_ns();
	if (!s->out_len)
		s->out_first_ns = now;
	s->out_last_ns = now;
	s->out_buf[s->out_len++] = b;
	if (b == '\n' || s->out_len == SERIAL_OUT_BUF || g)
		flush_locked(s, true);
	else if (!s->out_timer_armed)
		arm_timer(s, SERIAL_IDLE_NS);
	if (s->out_len && !s->out_timer_armed) /* no timer: nothing may wait */
		flush_locked(s, true);
}
