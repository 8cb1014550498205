/* The standby: builds the machine from the primary's definition, takes the initial sync's
 * pages straight into guest memory, then checkpoint after checkpoint stages the pages and the
 * state and applies them only when the checkpoint is complete, then acknowledges. It always
 * holds one complete state. When the primary dies — the stream ends, or is silent past the
 * failure timeout — it loads that state, starts the vCPUs and announces the guest: the VM runs
 * here. A FAIL from the primary (its guest stopped, replication ended) ends it without that.
 * Everything on the wire is checked as a migration stream is (src/migration/receive.c). */
#include "ha/ha_int.h"
#include "memory/guest_mem.h"
#include "migration/disks.h"
#include "migration/receiver.h"
#include "migration/url.h"
#include "util/error.h"
#include "util/thread_kind.h"
#include "migration/wire.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SYNC_TIMEOUT_MS 60000      /* before the first checkpoint: the initial copy can take a while */

struct staged {
	void *dst;
	uint32_t npages;
	bool zero;                 /* a zero run: dropped at commit, no data held */
	size_t off;
};

struct standby {
	struct replication *r;
	struct mig_receiver rx;
	uint8_t *pages;            /* the open checkpoint's page data */
	size_t pages_len, pages_cap;
	uint64_t staged_pages;     /* the open checkpoint's pages, data and zero runs */
	struct staged *runs;
	size_t nruns, runs_cap;
	uint8_t *state, *next_state; /* the last complete checkpoint's states; the open one's */
	size_t state_len, next_len;
	struct disk_stage disks;   /* the open checkpoint's disk writes */
	/* The last complete checkpoint's epoch's console output, until the primary says it wrote
	 * it (RELS): written at takeover, so none is lost. The open checkpoint's. */
	uint8_t *cout, *next_cout;
	size_t cout_len, next_cout_len;
	uint64_t cout_epoch;
	struct mig_ckpt open;      /* the checkpoint being received (epoch 0: none) */
	uint64_t generation;
};

/* A read of a message's body failed: the stream ended or went silent in the middle of it,
 * which is the primary dying (take over), not a malformed stream (give up). */
static int cut(struct standby *b, int e)
{
	return error_set(b->rx.err, b->rx.errlen, mig_cut_off(e),
			 "the primary went away in the middle of a checkpoint");
}

/* A page run of a checkpoint, staged. timeout_ms: the silence within it that means the
 * primary is gone (its failure timeout once protected). */
static int stage_run(struct standby *b, const struct mig_hdr *h, int timeout_ms)
{
	struct mig_pages mp;
	if (h->len < sizeof(mp))
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: short page message");
	int r = mig_recv_all(b->rx.fd, &mp, sizeof(mp), timeout_ms);
	if (r < 0)
		return cut(b, r);
	void *dst = mig_pages_target(b->rx.vm, &mp, h->len, b->rx.err, b->rx.errlen);
	if (!dst)
		return -EPROTO;
	bool zero = mp.flags & MIG_PAGES_ZERO;
	size_t bytes = zero ? 0 : (size_t)mp.npages * GUEST_PAGE; /* a zero run holds nothing until commit */
	/* A primary sends each dirty page once per checkpoint: no more pages than guest memory. */
	if (b->staged_pages + mp.npages > vm_guest_mem(b->rx.vm)->total / GUEST_PAGE)
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: a checkpoint larger than guest memory can be");
	b->staged_pages += mp.npages;
	if (b->pages_len + bytes > b->pages_cap) {
		size_t cap = b->pages_cap ? b->pages_cap : 1 << 20;
		while (cap < b->pages_len + bytes)
			cap *= 2;
		uint8_t *q = realloc(b->pages, cap);
		if (!q)
			return -ENOMEM;
		b->pages = q;
		b->pages_cap = cap;
	}
	if (b->nruns == b->runs_cap) {
		size_t cap = b->runs_cap ? b->runs_cap * 2 : 256;
		struct staged *q = realloc(b->runs, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		b->runs = q;
		b->runs_cap = cap;
	}
	if (bytes && (r = mig_recv_all(b->rx.fd, b->pages + b->pages_len, bytes, timeout_ms)) < 0)
		return cut(b, r);
	b->runs[b->nruns++] = (struct staged){ dst, mp.npages, zero, b->pages_len };
	b->pages_len += bytes;
	return 0;
}

/* The checkpoint is complete: into guest memory, its state kept; then the acknowledgement. */
static int commit(struct standby *b, const struct mig_ckpt *ck)
{
	struct replication *r = b->r;
	if (!b->open.epoch || ck->epoch != b->open.epoch || !b->next_state)
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: a checkpoint ends that did not begin, or has no state");
	for (size_t i = 0; i < b->nruns; i++) {
		size_t len = (size_t)b->runs[i].npages * GUEST_PAGE;
		/* Zero runs: dropped, as the primary's pages were (anonymous memory reads zero). */
		if (!b->runs[i].zero)
			memcpy(b->runs[i].dst, b->pages + b->runs[i].off, len);
		else if (madvise(b->runs[i].dst, len, MADV_DONTNEED) < 0)
			memset(b->runs[i].dst, 0, len);
	}
	int e = mig_disks_apply(b->rx.vm, &b->disks, b->rx.err, b->rx.errlen);
	mig_disks_stage_reset(&b->disks);
	if (e < 0)
		return e;
	free(b->state);
	b->state = b->next_state;
	b->state_len = b->next_len;
	b->next_state = NULL;
	free(b->cout);
	b->cout = b->next_cout;
	b->cout_len = b->next_cout_len;
	b->cout_epoch = ck->epoch;
	b->next_cout = NULL;
	b->next_cout_len = 0;
	uint64_t bytes = b->pages_len + b->state_len;
	b->nruns = b->pages_len = 0;
	b->staged_pages = 0;
	b->open.epoch = 0;
	/* Applied: counted before the acknowledgement, so a standby whose primary goes away
	 * now reports (and continues from) the checkpoint it really holds. */
	REPL_LOCKED(r, {
		r->st.checkpoints++;
		r->st.last_bytes = bytes;
		r->st.total_bytes += bytes;
		r->st.generation = ck->generation;
	});
	if (r->st.checkpoints == 1)
		repl_set_state(r, REPL_PROTECTED, NULL);
	if (mig_send(b->rx.fd, MIG_CACK, ck, sizeof(*ck), NULL, 0) < 0)
		return error_set(b->rx.err, b->rx.errlen, -ECONNRESET,
				 "the primary went away before the acknowledgement");
	return 0;
}

/* The primary's timing, before the initial sync: this standby's failure timeout must leave
 * room for an interval and a checkpoint, or it would take over a healthy primary. */
static int check_timing(struct standby *b, const struct mig_hdr *h, int timeout_ms)
{
	struct mig_repl_cfg c;
	if (h->len != sizeof(c) || b->state || b->open.epoch)
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: a timing message out of turn");
	int e = mig_recv_all(b->rx.fd, &c, sizeof(c), timeout_ms);
	if (e < 0)
		return error_set(b->rx.err, b->rx.errlen, mig_cut_off(e),
				 "the primary went away before the initial sync");
	uint64_t need = repl_min_standby_timeout_ms(c.interval_ms);
	if (b->r->so.failure_timeout_ms < need)
		return error_set(b->rx.err, b->rx.errlen, -EINVAL,
				 "the standby's failure_timeout_ms (%u) is too short for the primary's "
				 "checkpoint_interval_ms (%u): it would take a healthy primary for dead; give "
				 "the standby at least %llu ms",
				 b->r->so.failure_timeout_ms, c.interval_ms, (unsigned long long)need);
	return 0;
}

/* The body of a message that carries a struct mig_ckpt (CKPT, CEND, RELS); what: its name in
 * the error. */
static int recv_ckpt(struct standby *b, const struct mig_hdr *h, struct mig_ckpt *ck, int timeout_ms,
		     const char *what)
{
	if (h->len != sizeof(*ck))
		return error_set(b->rx.err, b->rx.errlen, -EPROTO, "malformed replication stream: bad %s",
				 what);
	int e = mig_recv_all(b->rx.fd, ck, sizeof(*ck), timeout_ms);
	return e < 0 ? cut(b, e) : 0;
}

/* The open checkpoint's console output (one message at most). */
static int stage_console(struct standby *b, const struct mig_hdr *h, int timeout_ms)
{
	if (!b->open.epoch || b->next_cout)
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: console output outside a checkpoint, or twice in one");
	if (!(b->next_cout = malloc(h->len ? h->len : 1)))
		return -ENOMEM;
	b->next_cout_len = h->len;
	int e = mig_recv_all(b->rx.fd, b->next_cout, h->len, timeout_ms);
	return e < 0 ? cut(b, e) : 0;
}

/* The primary wrote the last checkpoint's console output: nothing to write at takeover. */
static int console_written(struct standby *b, const struct mig_hdr *h, int timeout_ms)
{
	struct mig_ckpt ck;
	int e = recv_ckpt(b, h, &ck, timeout_ms, "release message");
	if (e < 0)
		return e;
	if (b->open.epoch || !b->cout || ck.epoch != b->cout_epoch)
		return error_set(b->rx.err, b->rx.errlen, -EPROTO,
				 "malformed replication stream: a release of console output the standby does not hold");
	free(b->cout);
	b->cout = NULL;
	b->cout_len = 0;
	return 0;
}

/* Messages until the stream fails: 0 never; -ECONNRESET / -ETIMEDOUT: the primary died (take
 * over); -ECANCELED: it ended replication on purpose; anything else: a bad stream. */
static int follow(struct standby *b)
{
	struct replication *r = b->r;
	for (;;) {
		struct mig_hdr h;
		char why[256];
		int timeout = r->st.checkpoints ? (int)r->so.failure_timeout_ms : SYNC_TIMEOUT_MS;
		int e = mig_recv_hdr(b->rx.fd, &h, timeout, why, sizeof(why));
		if (e == -ECONNRESET || e == -ETIMEDOUT)
			return error_set(b->rx.err, b->rx.errlen, e, "%s",
					 e == -ETIMEDOUT ? "the primary went silent"
							 : "the primary's stream ended");
		if (e < 0)
			return error_set(b->rx.err, b->rx.errlen, e, "%s", why);
		if (repl_cancelled(r))
			return error_set(b->rx.err, b->rx.errlen, -ECANCELED, "stopped on the standby");
		/* Once a checkpoint is held, memory and disks change only by whole checkpoints. */
		if ((h.type == MIG_PAGES || h.type == MIG_DISK) && !b->open.epoch && b->state)
			return error_set(b->rx.err, b->rx.errlen, -EPROTO,
					 "malformed replication stream: data between checkpoints");
		switch (h.type) {
		case MIG_PAGES:
			e = b->open.epoch ? stage_run(b, &h, timeout) : mig_receiver_take_pages(&b->rx, &h);
			break;
		case MIG_DISK: {
			uint64_t bytes = 0;
			e = b->open.epoch ? mig_disks_receive_staged(b->rx.vm, b->rx.fd, &h, b->rx.disks_sized, &b->disks,
								     timeout, b->rx.err, b->rx.errlen)
					  : mig_disks_receive(b->rx.vm, b->rx.fd, &h, &b->rx.disks_sized, &bytes, b->rx.err,
							      b->rx.errlen);
			break;
		}
		case MIG_ROUND: {
			struct mig_round rd;
			if (h.len != sizeof(rd))
				return error_set(b->rx.err, b->rx.errlen, -EPROTO,
						 "malformed replication stream: bad round message");
			if ((e = mig_recv_all(b->rx.fd, &rd, sizeof(rd), timeout)) < 0)
				return cut(b, e);
			break;
		}
		case MIG_CKPT: {
			struct mig_ckpt ck;
			if ((e = recv_ckpt(b, &h, &ck, timeout, "checkpoint message")) < 0)
				return e;
			if (b->open.epoch || !ck.epoch)
				return error_set(b->rx.err, b->rx.errlen, -EPROTO,
						 "malformed replication stream: a checkpoint inside a checkpoint");
			if (ck.generation < b->generation)
				return error_set(b->rx.err, b->rx.errlen, -EPROTO,
						 "a primary of an older generation (fenced)");
			b->generation = ck.generation;
			b->open = ck;
			break;
		}
		case MIG_STATE:
			if (!b->open.epoch || b->next_state)
				return error_set(b->rx.err, b->rx.errlen, -EPROTO,
						 "malformed replication stream: a state outside a checkpoint");
			if (!(b->next_state = malloc(h.len ? h.len : 1)))
				return -ENOMEM;
			b->next_len = h.len;
			if ((e = mig_recv_all(b->rx.fd, b->next_state, h.len, timeout)) < 0)
				return cut(b, e);
			break;
		case MIG_CEND: {
			struct mig_ckpt ck;
			if ((e = recv_ckpt(b, &h, &ck, timeout, "checkpoint end")) < 0)
				return e;
			e = commit(b, &ck);
			break;
		}
		case MIG_RCFG:
			e = check_timing(b, &h, timeout);
			break;
		case MIG_COUT:
			e = stage_console(b, &h, timeout);
			break;
		case MIG_RELS:
			e = console_written(b, &h, timeout);
			break;
		case MIG_FAIL:
			mig_recv_fail(b->rx.fd, &h, why, sizeof(why));
			return error_set(b->rx.err, b->rx.errlen, -ECANCELED,
					 "the primary ended replication: %s", why);
		default:
			return error_set(b->rx.err, b->rx.errlen, -EPROTO,
					 "malformed replication stream: a message out of turn");
		}
		if (e < 0) {
			if (!b->rx.err[0])
				return error_set(b->rx.err, b->rx.errlen, e, "replication stream: %s",
						 strerror(-e));
			return e;
		}
	}
}

int repl_standby_stream(struct replication *r, int fd, const struct mig_receive_hooks *h, struct repl_standby_run *out,
			char *err, size_t errlen)
{
	/* The receiver's machine and definition go into r's storage; its migration object is only
	 * a status holder the receiver code updates. */
	memset(out, 0, sizeof(*out));
	struct migration *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->cfg = r->cfg;
	m->ro.load = r->so.load;
	m->ro.console_out_fd = r->so.console_out_fd;
	m->cancel_efd = r->cancel_efd;
	m->fd = -1;
	struct standby b = { .r = r, .rx = { .m = m, .h = h, .vm = r->vm, .fd = fd, .err = err, .errlen = errlen } };
	pthread_mutex_init(&b.rx.wlock, NULL);
	int e = mig_receiver_handshake(&b.rx);
	if (e >= 0) {
		if (r->st.state == REPL_WAITING)
			repl_set_state(r, REPL_SYNCING, NULL);
		e = follow(&b);
	}
	out->built = b.rx.built;
	out->state = b.state;
	out->state_len = b.state_len;
	out->console = b.cout;
	out->console_len = b.cout_len;
	free(b.next_cout);
	free(b.pages);
	free(b.runs);
	free(b.next_state);
	mig_disks_stage_free(&b.disks);
	pthread_mutex_destroy(&b.rx.wlock);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return e;
}

#define TAKEOVER_LOCK_WAIT_MS 1000

/* The primary is gone: run the last complete checkpoint here. */
static int take_over(struct replication *r, const struct repl_standby_run *run, uint64_t t_detect, char *err,
		     size_t errlen)
{
	if (!run->state)
		return error_set(err, errlen, -ENODATA,
				 "the primary died before the first checkpoint: nothing to run");
	int e = r->hooks->load(r->vm, run->state, run->state_len, &r->so.load, err, errlen);
	if (e < 0)
		return e;
	/* Shared storage: the dead primary's locks went with it (its files close a moment after
	 * its socket: wait a little); a live one still holding them (a silent link, not a death)
	 * keeps its guest, and this side must not run a second. */
	if ((e = mig_disks_take(r->vm, TAKEOVER_LOCK_WAIT_MS, err, errlen)) < 0)
		return e;
	/* The console output of the checkpoint's epoch that the primary may not have written
	 * (it died after the acknowledgement): written again rather than lost. */
	if (run->console_len)
		serial_write_again(vm_serial(r->vm), run->console, run->console_len);
	if ((e = r->hooks->start(r->vm)) < 0)
		return error_set(err, errlen, e, "cannot start the vCPUs: %s", strerror(-e));
	vm_devices_announce(r->vm, 0);
	REPL_LOCKED(r, {
		r->st.failover_ms = (double)(now_ns() - t_detect) / 1e6;
		r->st.generation++; /* fences the old primary */
	});
	return 0;
}

void *repl_standby_main(void *arg)
{
	struct replication *r = arg;
	pthread_setname_np(pthread_self(), "petrel_repl");
	char err[512] = "";
	struct repl_standby_run run = { 0 };
	struct mig_tls tls = { .creds = r->so.tls, .pump_kind = SC_REPLICATION };
	int e = mig_accept(r->lfd, -1, r->cancel_efd, &tls, err, sizeof(err));
	if (e >= 0) {
		/* Published under the lock with the cancel's check (replication_free shuts it). */
		bool cancelled;
		REPL_LOCKED(r, { r->fd = e; cancelled = repl_cancelled(r); });
		if (cancelled)
			shutdown(r->fd, SHUT_RDWR);
		/* One primary per standby: a second one is refused at once, not left in the
		 * backlog to wait for a READY that never comes (as a migration's receive does). */
		close(r->lfd);
		r->lfd = -1;
		e = repl_standby_stream(r, r->fd, r->hooks, &run, err, sizeof(err));
	}
	uint64_t t_detect = now_ns();
	/* An end of the stream that replication_free caused is no death of the primary; one that
	 * a promotion caused (it cuts the stream) is as good as one. */
	bool promoted = repl_promote_asked(r) && e != -ECANCELED && run.state;
	bool died = (promoted || e == -ECONNRESET || e == -ETIMEDOUT) && !repl_cancelled(r);
	if (e < 0 && e != -ECANCELED && repl_cancelled(r))
		e = error_set(err, sizeof(err), -ECANCELED, "stopped on the standby");
	char why[512];
	snprintf(why, sizeof(why), "%s", promoted ? "promoted while the primary's stream was still open" : err);
	/* External takeover: the cluster decides. Hold the checkpoint and wait for its word. */
	if (died && !promoted && run.state && r->so.takeover == REPL_TAKEOVER_EXTERNAL) {
		if (repl_wait_for_promotion(r, why)) {
			t_detect = now_ns(); /* failover_ms: the promotion -> the guest runs */
			snprintf(why, sizeof(why), "promoted (the primary was lost: %.400s)", err);
		} else {
			died = false;
			e = error_set(err, sizeof(err), -ECANCELED, "stopped on the standby");
		}
	}
	if (died && (e = take_over(r, &run, t_detect, err, sizeof(err))) == 0) {
		log_warn("replication: %s%s%s: the guest runs here from checkpoint %llu%s",
			 r->so.takeover == REPL_TAKEOVER_AUTO && !promoted ? "the primary died (" : "", why,
			 r->so.takeover == REPL_TAKEOVER_AUTO && !promoted ? ")" : "",
			 (unsigned long long)r->st.checkpoints,
			 run.console_len ? " (its console output, which the primary may not have written, written again)" : "");
		repl_set_state(r, REPL_ACTIVE, why);
		for (int round = 1; round < 3; round++)
			vm_devices_announce(r->vm, round);
	} else {
		if (run.built) {
			r->hooks->destroy(r->vm);
			vm_config_free(r->cfg);
			vm_config_init(r->cfg);
		}
		if (r->fd >= 0 && e != -ECANCELED)
			mig_send_fail(r->fd, err[0] ? err : strerror(-e));
		if (r->fd >= 0) /* a primary still sending hears at once that nobody reads */
			shutdown(r->fd, SHUT_RDWR);
		repl_set_state(r, REPL_STOPPED, err[0] ? err : strerror(-e));
	}
	free(run.state);
	free(run.console);
	return NULL;
}
