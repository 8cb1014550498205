/* A migration's lifecycle: its thread, its status, cancelling it. */
#include "migration/migration_int.h"
#include "migration/url.h"
#include "util/error.h"
#include "util/tls.h"
#include "migration/wire.h"
#include "vm/vm_state.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

const char *mig_state_name(enum mig_state s)
{
	static const char *const n[] = { "none", "active", "completed", "failed" };
	return s <= MIG_STATE_FAILED ? n[s] : "?";
}

const char *mig_mode_name(enum mig_mode m)
{
	static const char *const n[] = { "precopy", "postcopy", "auto" };
	return m <= MIG_MODE_AUTO ? n[m] : "?";
}

static struct migration *alloc(const char *url, mig_done_fn done, void *opaque)
{
	struct migration *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->fd = m->lfd = -1;
	m->url = strdup(url);
	m->cancel_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!m->url || m->cancel_efd < 0) {
		free(m->url);
		if (m->cancel_efd >= 0)
			close(m->cancel_efd);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->done = done;
	m->opaque = opaque;
	m->st.state = MIG_STATE_ACTIVE;
	snprintf(m->st.peer, sizeof(m->st.peer), "%s", url);
	return m;
}

static int start(struct migration *m, void *(*fn)(void *), char *err, size_t errlen)
{
	int e = thread_start(&m->thread, SC_MIGRATION, "petrel_mig", fn, m);
	if (e)
		return error_set(err, errlen, e, "cannot start the migration thread: %s", strerror(-e));
	m->thread_started = true;
	event_emit("migration", "migration-started", "{s:s,s:s}", "role", m->st.source ? "source" : "destination",
		   "url", m->st.peer);
	return 0;
}

struct migration *mig_new_source(struct vm *vm, const struct mig_send_opts *o, mig_done_fn done, void *opaque)
{
	struct migration *m = alloc(o->url, done, opaque);
	if (!m)
		return NULL;
	m->vm = vm;
	m->so = *o;
	m->so.url = m->url;
	m->so.tls = tls_creds_ref(o->tls);
	m->st.source = true;
	m->st.mode = o->mode;
	m->st.downtime_limit_ms = o->downtime_ms;
	return m;
}

/* A tls: url needs credentials, and only it. */
static int tls_check(const char *url, const struct tls_creds *tls, char *err, size_t errlen)
{
	if (mig_url_is_tls(url) && !tls)
		return error_set(err, errlen, -EINVAL,
				 "%s: a tls: url needs tls_dir (ca.pem, cert.pem, key.pem)", url);
	if (!mig_url_is_tls(url) && tls)
		return error_set(err, errlen, -EINVAL, "%s: tls_dir is for tls: urls only", url);
	return 0;
}

int migration_send_start(struct vm *vm, const struct mig_send_opts *o, mig_done_fn done, void *opaque,
			 struct migration **out, char *err, size_t errlen)
{
	int e = mig_url_check(o->url, err, errlen);
	if (e == 0)
		e = vm_state_saveable(vm, "migration", err, errlen);
	if (e < 0 || (e = tls_check(o->url, o->tls, err, errlen)) < 0)
		return e;
	struct migration *m = mig_new_source(vm, o, done, opaque);
	if (!m)
		return -ENOMEM;
	if ((e = start(m, mig_send_main, err, errlen)) < 0) {
		migration_free(m);
		return e;
	}
	*out = m;
	return 0;
}

int migration_receive_start(struct vm *vm, struct vm_config *cfg, const struct mig_receive_opts *o,
			    mig_done_fn done, void *opaque, struct migration **out, char *err, size_t errlen)
{
	int e = tls_check(o->url, o->tls, err, errlen);
	if (e < 0)
		return e;
	struct migration *m = alloc(o->url, done, opaque);
	if (!m)
		return -ENOMEM;
	m->vm = vm;
	m->cfg = cfg;
	m->ro = *o;
	m->ro.url = m->url;
	m->ro.tls = tls_creds_ref(o->tls);
	e = m->lfd = mig_listen(o->url, err, errlen);
	if (e >= 0)
		e = start(m, mig_receive_main, err, errlen);
	if (e < 0) {
		migration_free(m);
		return e;
	}
	log_info("migration: waiting for the source on %s", o->url);
	*out = m;
	return 0;
}

void migration_status(struct migration *m, struct mig_status *out)
{
	MIG_LOCKED(m, *out = m->st);
}

/* The eventfd too: replication's own objects share its replication's (primary.c, standby.c). */
static bool efd_ready(const struct migration *m)
{
	struct pollfd pf = { .fd = m->cancel_efd, .events = POLLIN };
	return m->cancel_efd >= 0 && poll(&pf, 1, 0) > 0;
}

bool mig_cancelled(struct migration *m)
{
	bool c;
	MIG_LOCKED(m, c = m->cancelling);
	return c || efd_ready(m);
}

void mig_set_fd(struct migration *m, int fd)
{
	bool c;
	MIG_LOCKED(m, { m->fd = fd; c = m->cancelling; });
	if (c && fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

bool mig_commit(struct migration *m)
{
	bool ok;
	MIG_LOCKED(m, { ok = !m->cancelling && !efd_ready(m); m->committed = ok; });
	return ok;
}

/* Ask the thread to stop: the eventfd wakes a wait for the source, the socket's shutdown a
 * thread blocked on it. Unless force, not once the destination is committed. */
static bool cancel(struct migration *m, bool force)
{
	int fd = -1;
	bool ok;
	MIG_LOCKED(m, {
		ok = force || !m->committed;
		if (ok) {
			m->cancelling = true;
			fd = m->fd;
		}
	});
	if (!ok)
		return false;
	uint64_t one = 1;
	if (write(m->cancel_efd, &one, sizeof(one)) < 0)
		log_warn("migration: cannot cancel: %s", strerror(errno));
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	return true;
}

bool migration_cancel(struct migration *m)
{
	return cancel(m, false);
}

void mig_finish(struct migration *m, int e, const char *why)
{
	pthread_mutex_lock(&m->lock);
	m->st.state = e ? MIG_STATE_FAILED : MIG_STATE_COMPLETED;
	if (e)
		snprintf(m->st.reason, sizeof(m->st.reason), "%s", why && *why ? why : strerror(-e));
	struct mig_status st = m->st;
	pthread_mutex_unlock(&m->lock);
	if (e == -ECANCELED && mig_cancelled(m)) /* its owner ended it: not an error */
		log_info("migration %s %s cancelled: %s", st.source ? "to" : "from", st.peer, st.reason);
	else if (e)
		log_error("migration %s %s failed: %s", st.source ? "to" : "from", st.peer, st.reason);
	else
		log_info("migration %s %s completed: downtime %.2f ms, total %.1f ms, %llu MiB sent in %u rounds",
			 st.source ? "to" : "from", st.peer, st.downtime_ms, st.total_ms,
			 (unsigned long long)(st.bytes_sent >> 20), st.iteration + 1);
	event_emit("migration", e == 0 ? "migration-completed" : e == -ECANCELED && mig_cancelled(m) ?
		   "migration-cancelled" : "migration-failed", "{s:s,s:s,s:s,s:f,s:f}", "role",
		   st.source ? "source" : "destination", "url", st.peer, "reason", e ? st.reason : "",
		   "downtime_ms", e ? 0.0 : st.downtime_ms, "total_ms", e ? 0.0 : st.total_ms);
	if (m->done)
		m->done(m->opaque, m, e);
}

void mig_record_go(struct migration *m, int fd, const struct mig_go *go, uint64_t t_pause)
{
	uint64_t down_ns = now_ns() - t_pause - go->since_first_run_ns;
	MIG_LOCKED(m, {
		m->st.downtime_ms = (double)down_ns / 1e6;
		m->st.restore_ms = (double)go->restore_ns / 1e6;
	});
	mig_send(fd, MIG_DONE, &down_ns, sizeof(down_ns), NULL, 0);
}

void migration_free(struct migration *m)
{
	if (!m)
		return;
	cancel(m, true);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	if (m->fd >= 0)
		close(m->fd);
	if (m->lfd >= 0)
		close(m->lfd);
	close(m->cancel_efd);
	pthread_mutex_destroy(&m->lock);
	tls_creds_free(m->so.tls);
	tls_creds_free(m->ro.tls);
	free(m->url);
	free(m);
}
