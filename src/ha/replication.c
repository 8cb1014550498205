/* A replication's lifecycle: its thread, its status, stopping it. */
#include "ha/ha_int.h"
#include "util/error.h"
#include "util/outgate.h"
#include "migration/migration_int.h"
#include "migration/url.h"
#include "util/tls.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "util/thread.h"
#include "vm/vm.h"
#include "vm/vm_state.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

const char *repl_state_name(enum repl_state s)
{
	static const char *const n[] = { "waiting", "syncing", "protected", "unprotected", "active", "stopped",
					 "primary-lost" };
	return s <= REPL_PRIMARY_LOST ? n[s] : "?";
}

const char *repl_takeover_name(enum repl_takeover t)
{
	return t == REPL_TAKEOVER_EXTERNAL ? "external" : "auto";
}

int repl_takeover_parse(const char *s, enum repl_takeover *out)
{
	if (!s || (strcmp(s, "auto") && strcmp(s, "external")))
		return -EINVAL;
	*out = !strcmp(s, "external") ? REPL_TAKEOVER_EXTERNAL : REPL_TAKEOVER_AUTO;
	return 0;
}

static struct replication *alloc(const char *url, repl_event_fn ev, void *opaque)
{
	struct replication *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = r->lfd = -1;
	r->url = strdup(url);
	r->cancel_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->promote_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!r->url || r->cancel_efd < 0 || r->promote_efd < 0) {
		free(r->url);
		if (r->cancel_efd >= 0)
			close(r->cancel_efd);
		if (r->promote_efd >= 0)
			close(r->promote_efd);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->ev = ev;
	r->opaque = opaque;
	snprintf(r->st.peer, sizeof(r->st.peer), "%s", url);
	return r;
}

static int start(struct replication *r, void *(*fn)(void *), char *err, size_t errlen)
{
	int e = thread_start(&r->thread, SC_REPLICATION, "petrel_repl", fn, r);
	if (e)
		return error_set(err, errlen, e, "cannot start the replication thread: %s", strerror(-e));
	r->thread_started = true;
	return 0;
}

/* A tls: url needs credentials, and only it. */
static int repl_tls_check(const char *url, const struct tls_creds *tls, char *err, size_t errlen)
{
	if (mig_url_is_tls(url) != (tls != NULL))
		return error_set(err, errlen, -EINVAL, "%s: %s", url,
				 tls ? "tls_dir is for tls: urls only" : "a tls: url needs tls_dir");
	return 0;
}

int replication_primary_start(struct vm *vm, const struct repl_primary_opts *o, repl_event_fn ev, void *opaque,
			      struct replication **out, char *err, size_t errlen)
{
	int e = mig_url_check(o->peer_url, err, errlen);
	if (e == 0)
		e = vm_state_saveable(vm, "replication", err, errlen);
	if (e < 0 || (e = repl_tls_check(o->peer_url, o->tls, err, errlen)) < 0)
		return e;
	struct replication *r = alloc(o->peer_url, ev, opaque);
	if (!r)
		return -ENOMEM;
	r->vm = vm;
	r->po = *o;
	r->po.peer_url = r->url;
	r->po.tls = tls_creds_ref(o->tls);
	r->st = (struct repl_status){ .role = REPL_PRIMARY, .state = REPL_SYNCING,
				      .generation = o->generation ? o->generation : 1,
				      .interval_ms = o->interval_ms, .failure_timeout_ms = o->failure_timeout_ms };
	snprintf(r->st.peer, sizeof(r->st.peer), "%s", o->peer_url);
	/* before the thread: GET /replication reads it from the API thread */
	if (!(r->gate = outgate_new())) {
		replication_free(r);
		return -ENOMEM;
	}
	if ((e = start(r, repl_primary_main, err, errlen)) < 0) {
		replication_free(r);
		return e;
	}
	*out = r;
	return 0;
}

int replication_standby_start(struct vm *vm, struct vm_config *cfg, const struct repl_standby_opts *o,
			      repl_event_fn ev, void *opaque, struct replication **out, char *err, size_t errlen)
{
	return repl_standby_start_hooks(vm, cfg, o, &mig_receive_default, ev, opaque, out, err, errlen);
}

int repl_standby_start_hooks(struct vm *vm, struct vm_config *cfg, const struct repl_standby_opts *o,
			     const struct mig_receive_hooks *h, repl_event_fn ev, void *opaque,
			     struct replication **out, char *err, size_t errlen)
{
	int e = repl_tls_check(o->listen_url, o->tls, err, errlen);
	if (e < 0)
		return e;
	struct replication *r = alloc(o->listen_url, ev, opaque);
	if (!r)
		return -ENOMEM;
	r->hooks = h;
	r->vm = vm;
	r->cfg = cfg;
	r->so = *o;
	r->so.listen_url = r->url;
	r->so.tls = tls_creds_ref(o->tls);
	r->st.role = REPL_STANDBY;
	r->st.state = REPL_WAITING;
	r->st.failure_timeout_ms = o->failure_timeout_ms;
	r->st.takeover = o->takeover;
	e = r->lfd = mig_listen(o->listen_url, err, errlen);
	if (e >= 0)
		e = start(r, repl_standby_main, err, errlen);
	if (e < 0) {
		replication_free(r);
		return e;
	}
	log_info("replication: standby waiting for a primary on %s (takeover: %s)", o->listen_url,
		 repl_takeover_name(o->takeover));
	*out = r;
	return 0;
}

void replication_status(struct replication *r, struct repl_status *out)
{
	REPL_LOCKED(r, *out = r->st);
	out->promoting = out->role == REPL_STANDBY && out->state != REPL_ACTIVE && out->state != REPL_STOPPED &&
			 repl_promote_asked(r);
	if (r->gate) {
		out->output_held = outgate_held(r->gate);
		out->output_dropped = outgate_dropped(r->gate);
		if (r->vm && vm_vsock(r->vm))
			out->output_held += virtio_vsock_held(vm_vsock(r->vm));
	}
}

void repl_set_state(struct replication *r, enum repl_state st, const char *why)
{
	pthread_mutex_lock(&r->lock);
	bool changed = r->st.state != st;
	r->st.state = st;
	if (why)
		snprintf(r->st.reason, sizeof(r->st.reason), "%s", why);
	char peer[sizeof(r->st.peer)];
	snprintf(peer, sizeof(peer), "%s", r->st.peer);
	bool primary = r->st.role == REPL_PRIMARY;
	pthread_mutex_unlock(&r->lock);
	if (!changed)
		return;
	if (why)
		log_info("replication: %s (%s)", repl_state_name(st), why);
	else
		log_info("replication: %s", repl_state_name(st));
	/* protected, unprotected (the standby is lost), active (the standby took over), ... */
	char name[40];
	snprintf(name, sizeof(name), "replication-%s", repl_state_name(st));
	event_emit("replication", name, "{s:s,s:s,s:s}", "role", primary ? "primary" : "standby", "peer", peer,
		   "reason", why ? why : "");
	if (r->ev)
		r->ev(r->opaque, r, st);
}

bool repl_cancelled(struct replication *r)
{
	struct pollfd pf = { .fd = r->cancel_efd, .events = POLLIN };
	return poll(&pf, 1, 0) > 0;
}

void replication_free(struct replication *r)
{
	if (!r)
		return;
	uint64_t one = 1;
	int fd = -1;
	enum repl_role role;
	REPL_LOCKED(r, {
		if (write(r->cancel_efd, &one, sizeof(one)) < 0)
			log_warn("replication: cannot cancel: %s", strerror(errno));
		fd = r->fd;
		role = r->st.role;
	});
	/* A standby waits up to a minute for the primary's next bytes (and a trickling primary
	 * restarts that wait with each byte): its socket is shut to wake it (the stream's end
	 * is then not taken for the primary's death, repl_standby_main). A primary notices
	 * between checkpoints, whose sends are bounded by its failure timeout. */
	if (role == REPL_STANDBY && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	if (r->fd >= 0)
		close(r->fd);
	if (r->lfd >= 0)
		close(r->lfd);
	outgate_free(r->gate);
	close(r->cancel_efd);
	close(r->promote_efd);
	pthread_mutex_destroy(&r->lock);
	tls_creds_free(r->po.tls);
	tls_creds_free(r->so.tls);
	free(r->url);
	free(r);
}
