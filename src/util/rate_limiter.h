/* Firecracker's RateLimiter: two token buckets, bandwidth (bytes) and operations, each with a
 * size, a refill time (the bucket goes from empty to full in refill_time ms, continuously) and
 * a one-time burst spent first and never refilled. An operation goes through only if both
 * buckets can pay; otherwise nothing is taken and a timerfd fires when they can. Unlike
 * Firecracker's fixed 100 ms re-arm, the timer waits exactly for the deficit, so small buckets
 * keep their rate. An operation larger than a bucket goes through when the bucket is full and
 * leaves it in debt. The operation that waited is charged as of the time it was due, not the
 * time the I/O thread got round to it: a late wake-up (scheduling latency, timer slack) does
 * not lower the rate, where a bucket capped at its size would lose the late part. */
#ifndef PETREL_UTIL_RATE_LIMITER_H
#define PETREL_UTIL_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* Firecracker's TokenBucket (the API's and the config file's object, parsed by
 * config/rate_limiter_json.c): a bucket of `size` tokens refilled in refill_time ms. */
struct token_bucket_config {
	bool present;
	uint64_t size;             /* required */
	bool has_one_time_burst;
	uint64_t one_time_burst;
	uint64_t refill_time;      /* required, milliseconds */
};

/* Firecracker's RateLimiter: a bandwidth (bytes) and an operations bucket. */
struct rate_limiter_config {
	bool present;              /* the object was given (even if empty) */
	struct token_bucket_config bandwidth, ops;
};

struct token_bucket {
	bool active;
	uint64_t size, refill_ns;
	uint64_t burst;                /* one-time burst left */
	__int128 budget;               /* tokens x refill_ns (may go below 0: debt) */
	uint64_t last_ns;
};

struct rate_limiter {
	struct token_bucket bw, ops;
	int timer_fd;                  /* -1 when neither bucket is active */
	bool blocked;                  /* an operation waits for the timer */
	uint64_t throttled;            /* operations that had to wait */
	uint64_t due_ns;               /* when the waiting operation could pass (0: none) */
};

/* One bucket alone, for a device that drops what exceeds it rather than waiting (the serial
 * console): NULL or not present: unlimited. take() pays n tokens (true) or nothing (false). */
void token_bucket_init(struct token_bucket *b, const struct token_bucket_config *c, uint64_t now_ns);
bool token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns);

/* Set up from a configuration (NULL or not present: unlimited). 0 or -errno (timerfd). */
int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *c, uint64_t now_ns);
/* New limits at run time, as Firecracker's PATCH: a bucket given replaces the old one and
 * starts full (size or refill_time 0: no limit any more); a bucket left out keeps its limit
 * and what it holds. The timer fd stays the same. */
int rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *c, uint64_t now_ns);
void rate_limiter_destroy(struct rate_limiter *rl);
/* Make the timer fd now even while unlimited (a device registers it once; PATCH may add
 * limits later). 0 or -errno. */
int rate_limiter_make_timer(struct rate_limiter *rl);
static inline bool rate_limiter_active(const struct rate_limiter *rl) { return rl->bw.active || rl->ops.active; }

/* Take `bytes` from the bandwidth bucket and one from the operations bucket, or nothing:
 * false then, and the timer is armed for when both can pay. */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* rate_limiter_consume for devices that keep their operations in order: while an earlier one
 * waits for the timer (blocked), later ones wait too. True when unlimited. */
bool rate_limiter_admit(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* Bytes an admitted operation turned out to move (a write-zeroes request's ranges are in its
 * data, read when it is handled): taken from the bandwidth bucket at once, into debt if need
 * be, so that the operations after it wait for them. */
void rate_limiter_charge(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* How long until an operation of `bytes` could pass (0: now). */
uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* The timer fired: read it and clear `blocked`. */
void rate_limiter_timer_event(struct rate_limiter *rl);

#endif
