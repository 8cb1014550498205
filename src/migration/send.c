/* The source side: pre-copy rounds while the guest runs, then pause, the last pages, every
 * state, and wait for the destination to run the guest. Any failure before that resumes the
 * guest here (if this side paused it) and leaves it as it was. */
#include "migration/migration_int.h"
#include "migration/disks.h"
#include "migration/postcopy.h"
#include "migration/sender.h"
#include "migration/throttle.h"
#include "migration/url.h"
#include "util/error.h"
#include "util/thread_kind.h"
#include "migration/wire.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"
#include "util/bitmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ROUNDS 100     /* auto-converge gets there long before */
#define CONNECT_TIMEOUT_MS 10000
#define RELOCK_WAIT_MS 2000     /* the failed destination lets go of the drives' locks */
#define READY_TIMEOUT_MS 60000   /* the destination builds the machine (taps, disks) */
#define GO_TIMEOUT_MS 30000      /* states loaded and vCPUs started over there */



/* A send failed: the destination may have said why before it hung up. */
int mig_sender_peer_reason(struct mig_sender *s, int e, const char *what)
{
	struct mig_hdr h;
	char why[MIG_MAX_TEXT + 1];
	if (recv(s->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_PEEK) == (ssize_t)sizeof(h) &&
	    mig_recv_hdr(s->fd, &h, 100, why, sizeof(why)) == 0 && h.type == MIG_FAIL) {
		mig_recv_fail(s->fd, &h, why, sizeof(why));
		return error_set(s->err, s->errlen, e, "the destination failed: %.400s", why);
	}
	return error_set(s->err, s->errlen, e, "%s: %s", what, strerror(-e));
}

/* max_bandwidth_mib_s: sleep until the bytes sent so far are due. */
static void pace(struct mig_sender *s, uint64_t bytes)
{
	unsigned mib_s = s->m->so.max_bandwidth_mib_s;
	if (!mib_s)
		return;
	if (!s->pace_start)
		s->pace_start = now_ns();
	s->paced += bytes;
	uint64_t due = s->pace_start + s->paced * 1000000000ull / ((uint64_t)mib_s << 20), now = now_ns();
	if (due > now)
		usleep((useconds_t)((due - now) / 1000));
}

static int send_run(struct mig_sender *s, uint64_t gpa, const uint8_t *hva, uint32_t n, bool zero)
{
	struct mig_pages p = { .gpa = gpa, .npages = n, .flags = zero ? MIG_PAGES_ZERO : 0 };
	int e = mig_send(s->fd, MIG_PAGES, &p, sizeof(p), zero ? NULL : hva, zero ? 0 : n * GUEST_PAGE);
	if (e < 0)
		return mig_sender_peer_reason(s, e, "sending guest memory");
	pace(s, sizeof(p) + (zero ? 0 : n * GUEST_PAGE));
	MIG_LOCKED(s->m, {
		s->m->st.bytes_sent += sizeof(p) + (zero ? 0 : n * GUEST_PAGE);
		s->m->st.pages_sent += zero ? 0 : n;
		s->m->st.zero_pages += zero ? n : 0;
	});
	return 0;
}

/* The chosen pages of region r: every touched page (sel NULL: round 0 on a fresh destination,
 * whose memory is zero: zero pages are skipped) or those set in sel (later rounds: a page
 * that became zero must be zeroed there). Runs of like pages go in one message. With sel and
 * clear, each 64-page chunk's bits are cleared in KVM's log (its pages write-protected
 * again) just before its pages are read and sent. */
static int send_region(struct mig_sender *s, unsigned r, uint64_t *sel, bool clear)
{
	const struct guest_region *g = &vm_guest_mem(s->vm)->regions[r];
	uint64_t npages = g->size / GUEST_PAGE, cleared_to = 0;
	uint8_t *touched = sel ? NULL : guest_region_touched(g);
	int e = 0;
	for (uint64_t p = 0; !e && p < npages;) {
		bool want = sel ? bitmap_test(sel, p) : !touched || touched[p];
		if (want && clear && p + MIG_MAX_RUN > cleared_to && cleared_to < npages) {
			/* the chunks this page's run may reach, ahead of reading them */
			uint64_t from = cleared_to > p / 64 * 64 ? cleared_to : p / 64 * 64;
			uint64_t to = (p + MIG_MAX_RUN + 63) / 64 * 64;
			for (uint64_t c = from; !e && c < to && c < npages; c += 64)
				e = vm_clear_dirty(s->vm, r, c, 64, &sel[c / 64]);
			cleared_to = to;
			if (e) {
				e = error_set(s->err, s->errlen, e, "clearing the dirty page log: %s",
					      strerror(-e));
				break;
			}
		}
		if (!want) {
			p++;
			continue;
		}
		bool zero = guest_page_is_zero(g->hva + p * GUEST_PAGE);
		uint32_t n = 1;
		while (n < MIG_MAX_RUN && p + n < npages && (sel ? bitmap_test(sel, p + n) : !touched || touched[p + n]) &&
		       guest_page_is_zero(g->hva + (p + n) * GUEST_PAGE) == zero)
			n++;
		if (!zero || sel)
			e = send_run(s, g->gpa + p * GUEST_PAGE, g->hva + p * GUEST_PAGE, n, zero);
		p += n;
		if (mig_cancelled(s->m))
			e = -ECANCELED;
	}
	free(touched);
	return e;
}

/* Which pages are dirty now. fetch_only: KVM's log is cleared later, chunk by chunk, as the
 * pages go out (send_dirty with clear); else now (the guest is paused: the last round). */
uint64_t mig_sender_take_dirty(struct mig_sender *s, int *e, bool fetch_only)
{
	*e = fetch_only ? vm_fetch_dirty(s->vm, s->dirty) : vm_take_dirty(s->vm, s->dirty);
	const struct guest_mem *mem = vm_guest_mem(s->vm);
	uint64_t n = 0;
	for (unsigned r = 0; !*e && r < mem->nregions; r++)
		for (uint64_t w = 0; w < guest_region_bitmap_words(&mem->regions[r]); w++)
			n += (uint64_t)__builtin_popcountll(s->dirty[r][w]);
	if (*e)
		*e = error_set(s->err, s->errlen, *e, "reading the dirty page log: %s", strerror(-*e));
	return n;
}

int mig_sender_send_dirty(struct mig_sender *s, bool clear)
{
	int e = 0;
	for (unsigned r = 0; !e && r < vm_guest_mem(s->vm)->nregions; r++)
		e = send_region(s, r, s->dirty[r], clear);
	return e;
}

int mig_sender_expect(struct mig_sender *s, uint32_t type, void *payload, size_t len, int timeout_ms, const char *what)
{
	struct mig_hdr h;
	char why[MIG_MAX_TEXT + 1];
	int e = mig_recv_hdr(s->fd, &h, timeout_ms, why, sizeof(why));
	if (e < 0)
		return error_set(s->err, s->errlen, e, "waiting for the destination (%s): %s", what, why);
	if (h.type == MIG_FAIL) {
		mig_recv_fail(s->fd, &h, why, sizeof(why));
		return error_set(s->err, s->errlen, -EREMOTEIO, "the destination failed: %.400s", why);
	}
	if (h.type != type || h.len != len || (len && mig_recv_all(s->fd, payload, len, 5000) < 0))
		return error_set(s->err, s->errlen, -EPROTO, "the destination answered out of turn (%s)",
				 what);
	return 0;
}

/* Connect, say hello, send the definition, wait until the machine is built over there. */
int mig_sender_open(struct mig_sender *s)
{
	struct migration *m = s->m;
	/* A tls: stream's pump runs under the migration's filter, replication's too (the same lists). */
	struct mig_tls tls = { .creds = m->so.tls, .pump_kind = SC_MIGRATION };
	s->fd = mig_connect(m->so.url, CONNECT_TIMEOUT_MS, &tls, s->err, s->errlen);
	if (s->fd < 0)
		return s->fd;
	mig_set_fd(m, s->fd);
	struct mig_hello h = { .version = MIG_VERSION, .page_size = GUEST_PAGE };
	memcpy(h.magic, MIG_MAGIC, sizeof(h.magic));
	struct snap_writer w;
	snap_writer_init(&w);
	int e = snapshot_definition_build(s->vm, &w, s->err, s->errlen);
	if (!e && ((e = mig_send(s->fd, MIG_HELLO, &h, sizeof(h), NULL, 0)) < 0 ||
		   (e = mig_send(s->fd, MIG_DEFN, w.buf, w.len, NULL, 0)) < 0))
		mig_sender_peer_reason(s, e, "sending the VM definition");
	snap_writer_free(&w);
	return e ? e : mig_sender_expect(s, MIG_READY, NULL, 0, READY_TIMEOUT_MS, "machine built");
}

/* migrate_disks: the chunks the guest wrote since the last round. */
static int send_disk_changes(struct mig_sender *s)
{
	uint64_t bytes = 0;
	int e = mig_disks_send_dirty(s->vm, s->fd, &bytes, s->err, s->errlen);
	MIG_LOCKED(s->m, s->m->st.bytes_sent += bytes);
	return e;
}

/* Auto-converge, as QEMU does: two rounds in a row in which the guest dirtied more than half
 * of what was sent, and the vCPUs are held 20% of the time, then 10% more each time. */
static void converge(struct mig_sender *s, uint64_t dirtied, uint64_t sent)
{
	if (dirtied * 2 <= sent) {
		s->strikes = 0;
		return;
	}
	if (++s->strikes < 2)
		return;
	s->strikes = 0;
	if (s->m->so.mode == MIG_MODE_AUTO) {
		s->postcopy = true; /* rather than slow the guest down, let it run there now */
		return;
	}
	if (!s->throttle && throttle_start(s->vm, &s->throttle) < 0)
		return;
	unsigned pct = throttle_get(s->throttle);
	pct = pct ? pct + 10 : 20;
	throttle_set(s->throttle, pct);
	MIG_LOCKED(s->m, s->m->st.throttle_percent = throttle_get(s->throttle));
	log_info("migration: the guest dirties memory faster than it is sent: vCPUs throttled to %u%%",
		 throttle_get(s->throttle));
}

/* Pre-copy: every touched page, then what the guest dirtied meanwhile, round after round,
 * until what is left fits the downtime at the measured bandwidth. */
int mig_sender_precopy(struct mig_sender *s, uint64_t t0)
{
	struct migration *m = s->m;
	int e = 0;
	uint64_t round_start = now_ns(), sent_before = 0;
	for (unsigned r = 0; !e && r < vm_guest_mem(s->vm)->nregions; r++)
		e = send_region(s, r, NULL, false);
	for (unsigned round = 1; !e; round++) {
		uint64_t now = now_ns(), dirty = mig_sender_take_dirty(s, &e, true);
		if (e)
			break;
		double secs = (double)(now - round_start) / 1e9;
		uint64_t sent;
		MIG_LOCKED(m, sent = m->st.bytes_sent);
		double bw = secs > 0 ? (double)(sent - sent_before) / secs : 0;
		double expect_ms = bw > 0 ? (double)(dirty * GUEST_PAGE) / bw * 1000 : 1e9;
		MIG_LOCKED(m, {
			m->st.bytes_remaining = dirty * GUEST_PAGE;
			m->st.bandwidth_mib_s = bw / (1 << 20);
			m->st.dirty_rate_mib_s = secs > 0 ? (double)(dirty * GUEST_PAGE) / secs / (1 << 20) : 0;
			m->st.expected_downtime_ms = expect_ms;
		});
		log_debug("migration: round %u: %llu pages dirty, %.0f MiB/s, expected downtime %.1f ms", round,
			  (unsigned long long)dirty, bw / (1 << 20), expect_ms);
		bool timed_out = now - t0 > (uint64_t)m->so.timeout_s * 1000000000ull;
		if (expect_ms <= m->so.downtime_ms || round > MAX_ROUNDS || timed_out) {
			if (timed_out || round > MAX_ROUNDS)
				log_warn("migration: stopping pre-copy after %u rounds with %llu MiB dirty "
					 "(expected downtime %.0f ms, limit %u ms)", round, (unsigned long long)(dirty * GUEST_PAGE >> 20),
					 expect_ms, m->so.downtime_ms);
			/* The pages just taken go out in the final round, with the guest paused. */
			return 1;
		}
		s->remaining = dirty;
		if (m->so.mode == MIG_MODE_POSTCOPY)
			s->postcopy = true; /* one full pass, then switch */
		if (round > 1)
			converge(s, dirty * GUEST_PAGE, sent - sent_before);
		if (s->postcopy)
			return 1;
		struct mig_round rd = { .round = round, .dirty_pages = dirty };
		MIG_LOCKED(m, m->st.iteration = round);
		round_start = now;
		sent_before = sent;
		if ((e = mig_send(s->fd, MIG_ROUND, &rd, sizeof(rd), NULL, 0)) < 0)
			return mig_sender_peer_reason(s, e, "sending a round");
		e = mig_sender_send_dirty(s, true);
		if (!e && m->so.migrate_disks)
			e = send_disk_changes(s);
	}
	return e;
}

/* Pause, the last pages (those taken at the end of pre-copy and those dirtied since), the
 * states; the destination runs the guest and says so. */
static int switch_over(struct mig_sender *s, uint64_t *t_pause, bool *paused)
{
	struct migration *m = s->m;
	mig_disks_sync_ahead(s->vm); /* the guest runs on meanwhile */
	*t_pause = now_ns();
	/* No user's pause or resume until the outcome: a failed switch resumes the guest only if
	 * it was running when the switch began (mig_send_main lets go). */
	vm_pause_exclusive(s->vm);
	s->holding = true;
	s->was_paused = vm_is_paused(s->vm);
	int e = vm_pause(s->vm);
	if (e < 0)
		return error_set(s->err, s->errlen, e, "cannot pause the VM: %s", strerror(-e));
	*paused = true;
	uint64_t t_paused = now_ns();
	uint64_t *before[GUEST_MEM_MAX_REGIONS] = { 0 };
	const struct guest_mem *mem = vm_guest_mem(s->vm);
	for (unsigned r = 0; r < mem->nregions; r++) {
		size_t words = guest_region_bitmap_words(&mem->regions[r]);
		if (!(before[r] = malloc(words * 8)))
			e = -ENOMEM;
		else
			memcpy(before[r], s->dirty[r], words * 8);
	}
	if (!e)
		mig_sender_take_dirty(s, &e, false);
	for (unsigned r = 0; !e && r < mem->nregions; r++)
		for (uint64_t w = 0; w < guest_region_bitmap_words(&mem->regions[r]); w++)
			s->dirty[r][w] |= before[r][w];
	for (unsigned r = 0; r < GUEST_MEM_MAX_REGIONS; r++)
		free(before[r]);
	if (!e && m->so.migrate_disks) /* devices quiesced: the disks' last changes */
		e = send_disk_changes(s);
	if (!e && !s->postcopy)
		e = mig_sender_send_dirty(s, false);
	if (!e && s->postcopy) {
		/* Not the pages: which pages the destination must fetch from here. */
		size_t len = 0;
		for (unsigned r = 0; r < mem->nregions; r++)
			len += guest_region_bitmap_words(&mem->regions[r]) * 8;
		uint8_t *bm = malloc(len), *at = bm;
		for (unsigned r = 0; bm && r < mem->nregions; r++) {
			size_t n = guest_region_bitmap_words(&mem->regions[r]) * 8;
			memcpy(at, s->dirty[r], n);
			at += n;
		}
		if (!bm)
			e = -ENOMEM;
		else if ((e = mig_send(s->fd, MIG_POSTCOPY, bm, len, NULL, 0)) < 0)
			mig_sender_peer_reason(s, e, "sending the post-copy page list");
		free(bm);
	}
	if (!e) { /* the destination takes the drives' locks when it runs the guest */
		mig_disks_unlock(s->vm);
		s->unlocked = true;
	}
	struct snap_writer w;
	snap_writer_init(&w);
	uint8_t id[16];
	if (!e && (e = snapshot_state_build(s->vm, "", NULL, NULL, &w, id, s->err, s->errlen)) == 0) {
		s->state_sent = true; /* even a failed send may have delivered it */
		if ((e = mig_send(s->fd, MIG_STATE, w.buf, w.len, NULL, 0)) < 0)
			mig_sender_peer_reason(s, e, "sending the VM state");
	}
	if (!e)
		MIG_LOCKED(m, m->st.bytes_sent += w.len);
	snap_writer_free(&w);
	struct mig_go go;
	log_debug("migration: switch: paused in %.2f ms, state out after %.2f ms", (double)(t_paused - *t_pause) / 1e6,
		  (double)(now_ns() - *t_pause) / 1e6);
	if (!e && s->postcopy) {
		log_info("migration: switched to post-copy with %llu pages still to send",
			 (unsigned long long)s->remaining);
		MIG_LOCKED(m, m->st.postcopy = true);
		e = postcopy_serve(m, s->fd, s->vm, s->dirty, *t_pause, &s->committed, s->err, s->errlen);
	} else if (!e && (e = mig_sender_expect(s, MIG_GO, &go, sizeof(go), GO_TIMEOUT_MS, "guest running")) == 0) {
		s->committed = true;
		mig_record_go(m, s->fd, &go, *t_pause);
	}
	return e;
}

/* The migration failed after the source let go of its drives' locks: take them back. The
 * destination lets go of its own when it destroys its half-built VM, which may take a moment. */
static void relock(struct mig_sender *s)
{
	char why[256] = "";
	if (mig_disks_lock(s->vm, RELOCK_WAIT_MS, why, sizeof(why)) < 0)
		log_warn("migration: %s; the guest goes on here without it", why);
}

void *mig_send_main(void *arg)
{
	struct migration *m = arg;
	pthread_setname_np(pthread_self(), "petrel_mig");
	char err[512] = "";
	struct mig_sender s = { .m = m, .vm = m->vm, .fd = -1, .err = err, .errlen = sizeof(err) };
	uint64_t t0 = now_ns(), t_pause = 0;
	bool had_log = vm_dirty_logging(s.vm), paused = false;
	const struct guest_mem *mem = vm_guest_mem(s.vm);
	int e = 0;
	for (unsigned r = 0; !e && r < mem->nregions; r++)
		if (!(s.dirty[r] = calloc(guest_region_bitmap_words(&mem->regions[r]), 8)))
			e = -ENOMEM;
	if (!e)
		e = mig_sender_open(&s);
	if (!e && (e = vm_dirty_log_start(s.vm)) < 0)
		e = error_set(err, sizeof(err), e, "cannot log dirty pages: %s", strerror(-e));
	if (!e && m->so.migrate_disks) {
		uint64_t bytes = 0;
		e = mig_disks_start(s.vm, s.fd, &bytes, err, sizeof(err));
		MIG_LOCKED(m, m->st.bytes_sent += bytes);
	}
	if (!e && (e = mig_sender_precopy(&s, t0)) > 0)
		e = 0;
	throttle_stop(s.throttle); /* the switch pauses the guest anyway; a failure resumes it whole */
	s.throttle = NULL;
	if (!e)
		e = switch_over(&s, &t_pause, &paused);
	if (e) {
		if (e == -ECANCELED)
			error_set(err, sizeof(err), e, "cancelled");
		if (s.fd >= 0)
			mig_send_fail(s.fd, err[0] ? err : strerror(-e));
		if (s.committed)
			/* The destination runs the guest (post-copy lost its source of pages): this
			 * copy must never run again. */
			vm_request_stop(s.vm, VM_STOP_ERROR, 1, "migration failed after the switch: %s", err);
		else if (s.unlocked)
			relock(&s);
		if (!s.committed && paused && !s.was_paused)
			vm_resume(s.vm); /* the guest goes on here as if nothing happened */
		if (!s.committed && s.state_sent)
			/* The destination may have run the guest and announced its MACs on its own
			 * ports: switches must learn this host's again (as a destination does). */
			for (int round = 0; round < 3; round++)
				vm_devices_announce(s.vm, round); /* waits 50, then 100 ms before rounds 1, 2 */
		if (!had_log)
			vm_dirty_log_stop(s.vm);
		/* The dirty log was consumed: a Diff snapshot can no longer build on the last one. */
		vm_set_snapshot_parent(s.vm, NULL, NULL);
	}
	if (s.holding)
		vm_pause_release(s.vm);
	if (m->so.migrate_disks)
		mig_disks_stop(s.vm);
	for (unsigned r = 0; r < GUEST_MEM_MAX_REGIONS; r++)
		free(s.dirty[r]);
	MIG_LOCKED(m, m->st.total_ms = (double)(now_ns() - t0) / 1e6);
	mig_finish(m, e, err);
	return NULL;
}
