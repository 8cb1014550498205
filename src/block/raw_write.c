/* Where a raw image's buffered writes run (raw.h). A file system that cannot take a buffered
 * write without blocking (ext4 and tmpfs today: no RWF_NOWAIT for them) makes io_uring hand
 * every such write to one of its worker threads: two wake-ups a request (the worker's and,
 * at its completion, the I/O thread's), and on a host with few CPUs the worker shares one
 * with the I/O thread while a polling vCPU holds another. The write costs the same CPU on
 * the I/O thread itself, so it is done there, as the synchronous engine does (1 MiB
 * sequential writes on a 2-CPU host: 0.89-0.92 of the host's rate through the worker, 1.11
 * inline; docs/performance.md).
 *
 * The price is that a blocked write (dirty throttling, whose pauses are 10-200 ms; memory
 * reclaim; a slow device) holds the I/O thread and every device on it. A write slower than
 * 10 ms plus 1 ns a byte (below 1 GB/s) therefore pauses inline writes: the drive's writes go
 * back to the ring for 1 s, then 2, 4 ... 64 s while slow writes keep coming; after 256 s
 * without one the pause is 1 s again. Under 10 ms is what the scheduler's preemption of a
 * busy host costs a write (a 1 MiB one took over 2 ms now and then on a 2-CPU host): no
 * reason to leave. Throttled writes shorter than that go unnoticed, and the I/O thread's
 * other devices wait behind each (with the host's dirty limit cut to 8 MiB they took 11.4-11.7
 * ms and paused inline writes). Reads, flushes and O_DIRECT writes always take the ring. */
#include "block/raw.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <sys/uio.h>

#define SLOW_NS          10000000ull       /* plus 1 ns a byte */
#define PAUSE_FIRST_NS   1000000000ull
#define PAUSE_MAX_NS     64000000000ull
#define PAUSE_FORGET_NS  (4 * PAUSE_MAX_NS)

/* Fields a disk copy's thread (raw_sync) and the I/O thread share: relaxed, since a stale
 * value only sends one write the other way. */
static uint64_t get(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void set(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

bool raw_write_inline(struct raw_file *f)
{
	if (!f->async || f->direct)
		return false;
	switch (__atomic_load_n(&f->wr_mode, __ATOMIC_RELAXED)) {
	case RAW_WR_PROBE:
		return true;
	case RAW_WR_INLINE: {
		uint64_t resume = get(&f->wr_resume_ns);
		return !resume || now_ns() >= resume;
	}
	default:
		return false;
	}
}

int64_t raw_write_probe(struct raw_file *f, uint64_t off, const struct iovec *iov, unsigned n)
{
	ssize_t r = pwritev2(f->fd, iov, (int)(n < 64 ? n : 64), (off_t)off, RWF_NOWAIT);
	int err = r < 0 ? errno : 0;
	/* EOPNOTSUPP: no non-blocking buffered writes here, so io_uring would punt them. Any
	 * other answer (EAGAIN too) means the file system has them: the ring runs them in line. */
	int mode = err == EOPNOTSUPP ? RAW_WR_INLINE : RAW_WR_RING;
	__atomic_store_n(&f->wr_mode, mode, __ATOMIC_RELAXED);
	log_debug("disk %s: buffered writes %s", f->path,
		  mode == RAW_WR_INLINE ? "would block io_uring: done on the I/O thread" : "go through io_uring");
	return r < 0 ? -err : r;
}

void raw_write_timed(struct raw_file *f, uint64_t ns, uint64_t len, uint64_t now)
{
	__atomic_fetch_add(&f->wr_inline, 1, __ATOMIC_RELAXED);
	if (ns <= SLOW_NS + len)
		return;
	__atomic_fetch_add(&f->wr_slow, 1, __ATOMIC_RELAXED);
	uint64_t pause = get(&f->wr_pause_ns);
	if (!pause || now - get(&f->wr_slow_ns) > PAUSE_FORGET_NS)
		pause = PAUSE_FIRST_NS;
	set(&f->wr_slow_ns, now);
	set(&f->wr_resume_ns, now + pause);
	set(&f->wr_pause_ns, MIN(2 * pause, PAUSE_MAX_NS));
	log_limited(LOG_INFO, "disk %s: a %llu-byte write took %llu us on the I/O thread: writes go through "
		    "io_uring's workers for %llu s", f->path, (unsigned long long)len,
		    (unsigned long long)(ns / 1000), (unsigned long long)(pause / 1000000000ull));
}
