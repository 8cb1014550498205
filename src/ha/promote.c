/* Promotion: a standby in external takeover mode never runs the guest by itself. When its
 * primary is lost it holds the last complete checkpoint and says so (primary-lost) until the
 * cluster, which has fenced or stopped the old primary, promotes it; a promotion may also
 * come while the primary's stream is still open (the cluster knows first: a fenced host's
 * socket is silent until the failure timeout), and then the stream is cut for it. A standby
 * in auto mode may be promoted too (a planned switch). What cannot be promoted is refused
 * with the reason: a primary, a standby without a complete checkpoint, one already promoted
 * or being promoted, a replication that has ended. */
#include "ha/ha_int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

bool repl_promote_asked(struct replication *r)
{
	struct pollfd pf = { .fd = r->promote_efd, .events = POLLIN };
	return poll(&pf, 1, 0) > 0;
}

bool repl_wait_for_promotion(struct replication *r, const char *why)
{
	log_warn("replication: the primary is lost (%s): holding checkpoint %llu until promoted", why,
		 (unsigned long long)r->st.checkpoints);
	repl_set_state(r, REPL_PRIMARY_LOST, why);
	struct pollfd pf[2] = { { .fd = r->cancel_efd, .events = POLLIN }, { .fd = r->promote_efd, .events = POLLIN } };
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("replication: waiting to be promoted: %s", strerror(errno));
			return false;
		}
		if (pf[0].revents) /* stopped: never runs a guest after that */
			return false;
		if (pf[1].revents)
			return true;
	}
}

/* Whether r may be promoted now (under r->lock): 0, or the refusal. */
static int may_promote(struct replication *r, char *err, size_t errlen)
{
	const struct repl_status *st = &r->st;
	if (st->role != REPL_STANDBY)
		return error_set(err, errlen, -EINVAL,
				 "this petrel is the replication primary (it runs the guest): only a standby can "
				 "be promoted");
	if (st->state == REPL_ACTIVE)
		return error_set(err, errlen, -EALREADY,
				 "already promoted: the guest runs here (from checkpoint %llu)",
				 (unsigned long long)st->checkpoints);
	if (st->state == REPL_STOPPED)
		return error_set(err, errlen, -ESRCH,
				 "the replication has ended (%s): there is nothing to promote", st->reason);
	if (repl_promote_asked(r))
		return error_set(err, errlen, -EALREADY, "a promotion is already under way");
	if (st->state == REPL_WAITING || st->state == REPL_SYNCING)
		return error_set(err, errlen, -ENODATA,
				 "the standby has no complete checkpoint yet (%s): nothing consistent to run",
				 st->state == REPL_WAITING ? "no primary has connected"
							   : "the initial sync is under way");
	return 0;
}

int replication_promote_ask(struct replication *r, char *err, size_t errlen)
{
	uint64_t one = 1;
	pthread_mutex_lock(&r->lock);
	int e = may_promote(r, err, errlen);
	if (e == 0 && write(r->promote_efd, &one, sizeof(one)) != sizeof(one))
		e = -errno;
	/* Still following the primary: cut its stream; the thread takes over from the last
	 * complete checkpoint (an open one is dropped, as if the primary had died in it). */
	if (e == 0 && r->st.state == REPL_PROTECTED && r->fd >= 0)
		shutdown(r->fd, SHUT_RDWR);
	pthread_mutex_unlock(&r->lock);
	if (e < 0 && e != -EALREADY && e != -EINVAL && e != -ENODATA && e != -ESRCH)
		return error_set(err, errlen, e, "cannot promote: %s", strerror(-e));
	if (e < 0)
		return e;
	log_info("replication: promotion asked for");
	return 0;
}

static int outcome(const struct repl_status *st, char *err, size_t errlen)
{
	if (st->state == REPL_ACTIVE)
		return 0;
	if (st->state == REPL_STOPPED)
		return error_set(err, errlen, -EIO, "the promotion failed: %s", st->reason);
	return -EINPROGRESS;
}

int replication_promote_wait(replication_status_fn status, void *opaque, unsigned wait_ms, char *err, size_t errlen)
{
	uint64_t deadline = now_ns() + (uint64_t)wait_ms * 1000000ull;
	for (;;) {
		struct repl_status st;
		if (!status(opaque, &st))
			return error_set(err, errlen, -EIO, "the replication ended during the promotion");
		int e = outcome(&st, err, errlen);
		if (e != -EINPROGRESS)
			return e;
		if (now_ns() >= deadline)
			return error_set(err, errlen, -ETIMEDOUT,
					 "the promotion is still under way after %u ms", wait_ms);
		usleep(2000);
	}
}

static bool own_status(void *opaque, struct repl_status *st)
{
	replication_status(opaque, st);
	return true;
}

int replication_promote(struct replication *r, unsigned wait_ms, char *err, size_t errlen)
{
	int e = replication_promote_ask(r, err, errlen);
	return e < 0 ? e : replication_promote_wait(own_status, r, wait_ms, err, errlen);
}
