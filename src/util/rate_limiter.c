/* Token buckets with exact refill timing. See rate_limiter.h. */
#include "util/rate_limiter.h"
#include "util/stat.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

static void bucket_set(struct token_bucket *b, const struct token_bucket_config *c, uint64_t now)
{
	memset(b, 0, sizeof(*b));
	/* Firecracker: a bucket of size 0 or refill time 0 does not limit. */
	if (!c || !c->present || !c->size || !c->refill_time)
		return;
	b->active = true;
	b->size = c->size;
	/* The parser takes refill times up to INT64_MAX ms: past 2^64 ns, saturate (not wrap). */
	b->refill_ns = c->refill_time > UINT64_MAX / 1000000 ? UINT64_MAX : c->refill_time * 1000000ull;
	b->burst = c->has_one_time_burst ? c->one_time_burst : 0;
	b->budget = (__int128)b->size * b->refill_ns; /* starts full */
	b->last_ns = now;
}

static void refill(struct token_bucket *b, uint64_t now)
{
	if (now <= b->last_ns)
		return;
	/* Compare with the room left before adding: a budget near full plus a long idle time
	 * would overflow 128 bits for the largest buckets (size and refill_ns near 2^63, 2^64). */
	__int128 full = (__int128)b->size * b->refill_ns, room = full - b->budget;
	__int128 add = (__int128)(now - b->last_ns) * b->size;
	b->budget = add >= room ? full : b->budget + add;
	b->last_ns = now;
}

/* ns until the bucket can pay n (0: now). */
static uint64_t bucket_wait(struct token_bucket *b, uint64_t n, uint64_t now)
{
	if (!b->active)
		return 0;
	refill(b, now);
	uint64_t from_burst = n < b->burst ? n : b->burst;
	uint64_t rest = n - from_burst;
	if (!rest)
		return 0;
	/* More than the bucket holds: wait for a full bucket, then run into debt. */
	uint64_t need_tokens = rest < b->size ? rest : b->size;
	__int128 need = (__int128)need_tokens * b->refill_ns;
	if (b->budget >= need)
		return 0;
	__int128 wait = (need - b->budget + b->size - 1) / b->size;
	return wait > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)wait; /* a debt beyond 2^64 ns */
}

static void bucket_take(struct token_bucket *b, uint64_t n)
{
	if (!b->active)
		return;
	uint64_t from_burst = n < b->burst ? n : b->burst;
	b->burst -= from_burst;
	b->budget -= (__int128)(n - from_burst) * b->refill_ns;
}

void token_bucket_init(struct token_bucket *b, const struct token_bucket_config *c, uint64_t now_ns)
{
	bucket_set(b, c, now_ns);
}

bool token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (bucket_wait(b, n, now_ns))
		return false;
	bucket_take(b, n);
	return true;
}

int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *c, uint64_t now_ns)
{
	memset(rl, 0, sizeof(*rl));
	rl->timer_fd = -1;
	return rate_limiter_update(rl, c, now_ns);
}

int rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *c, uint64_t now_ns)
{
	if (c && c->bandwidth.present)
		bucket_set(&rl->bw, &c->bandwidth, now_ns);
	if (c && c->ops.present)
		bucket_set(&rl->ops, &c->ops, now_ns);
	rl->due_ns = 0;
	if (rate_limiter_active(rl) && rl->timer_fd < 0) {
		rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (rl->timer_fd < 0)
			return -errno;
	}
	if (rl->blocked && rl->timer_fd >= 0) {
		/* Whoever waits may go now: fire at once. */
		struct itimerspec its = { .it_value = { 0, 1 } };
		timerfd_settime(rl->timer_fd, 0, &its, NULL);
	}
	return 0;
}

int rate_limiter_make_timer(struct rate_limiter *rl)
{
	if (rl->timer_fd < 0)
		rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return rl->timer_fd < 0 ? -errno : 0;
}

void rate_limiter_destroy(struct rate_limiter *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
	rl->bw.active = rl->ops.active = false;
}

uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t a = bucket_wait(&rl->bw, bytes, now_ns), b = bucket_wait(&rl->ops, 1, now_ns);
	return a > b ? a : b;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	if (!rate_limiter_active(rl))
		return true;
	/* The operation that waited, taken late: charge it at its due time (the buckets refill up
	 * to then, and from then on for what comes next), so the lateness is not lost to the cap. */
	uint64_t due = rl->due_ns;
	rl->due_ns = 0;
	uint64_t wait = due && due < now_ns ? rate_limiter_wait_ns(rl, bytes, due) : 1;
	if (wait)
		wait = rate_limiter_wait_ns(rl, bytes, now_ns);
	if (!wait) {
		bucket_take(&rl->bw, bytes);
		bucket_take(&rl->ops, 1);
		return true;
	}
	stat_add(&rl->throttled, 1);
	rl->blocked = true;
	rl->due_ns = wait > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + wait;
	if (rl->timer_fd >= 0) {
		struct itimerspec its = { .it_value = { (time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull) } };
		timerfd_settime(rl->timer_fd, 0, &its, NULL);
	}
	return false;
}

bool rate_limiter_admit(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	if (!rate_limiter_active(rl))
		return true;
	if (rl->blocked)
		return false;
	return rate_limiter_consume(rl, bytes, now_ns);
}

void rate_limiter_charge(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	if (!rl->bw.active)
		return;
	/* admitted, so the bucket held at least what it pays now: the debt stays below
	 * 2^36 bytes x 2^64 ns per operation, far inside 128 bits */
	refill(&rl->bw, now_ns);
	bucket_take(&rl->bw, bytes);
}

void rate_limiter_timer_event(struct rate_limiter *rl)
{
	uint64_t n;
	if (rl->timer_fd >= 0 && read(rl->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	rl->blocked = false;
}
