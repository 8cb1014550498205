/* The primary: an initial sync (pre-copy, as a live migration's, with the guest running), then
 * a checkpoint every interval: pause, copy the dirty pages and every state to a staging
 * buffer, resume, send, and release the epoch's held output when the standby acknowledges. */
#include "ha/ha_int.h"
#include "util/error.h"
#include "util/outgate.h"
#include "memory/guest_mem.h"
#include "migration/disks.h"
#include "migration/sender.h"
#include "migration/throttle.h"
#include "migration/url.h"
#include "migration/wire.h"
#include "devices/virtio/vsock.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"
#include "util/bitmap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct run {
	uint64_t gpa;
	uint32_t npages;
	bool zero;           /* all zero (pages the balloon or virtio-mem dropped): no data staged */
	size_t off;          /* in the staging buffer */
};

struct primary {
	struct replication *r;
	struct mig_sender s;
	struct vm *vm;
	uint8_t *stage;      /* the dirty pages of the checkpoint being sent */
	size_t stage_cap;
	struct run *runs;
	size_t nruns, runs_cap;
	struct disk_stage disks;  /* the checkpoint's disk writes (mirror_disks) */
	uint8_t *cout;       /* the checkpoint's epoch's console output (its last MIG_MAX_COUT bytes) */
	size_t cout_len;
	uint64_t pause_sum_ns;
};


/* vsock's part of closing (release false) or releasing (true) epoch n. */
static void vsock_epoch(struct vm *vm, uint64_t n, bool release)
{
	struct virtio_vsock *v = vm_vsock(vm);
	if (v && release)
		virtio_vsock_release(v, n);
	else if (v)
		virtio_vsock_close_epoch(v, n);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* The dirty pages (s.dirty) into the staging buffer as runs, the guest paused. Zero pages (what
 * the balloon inflated, virtio-mem unplugged: gigabytes at once) go as zero runs with no data:
 * copied, they made the pause and the checkpoint as large as the discard, past what a standby
 * takes, and left the standby holding them as resident memory. */
static int stage_pages(struct primary *p)
{
	p->nruns = 0;
	size_t used = 0;
	const struct guest_mem *mem = vm_guest_mem(p->vm);
	for (unsigned r = 0; r < mem->nregions; r++) {
		const struct guest_region *g = &mem->regions[r];
		uint64_t npages = g->size / GUEST_PAGE;
		for (uint64_t pg = 0; pg < npages;) {
			if (!bitmap_test(p->s.dirty[r], pg)) {
				pg++;
				continue;
			}
			bool zero = guest_page_is_zero(g->hva + pg * GUEST_PAGE);
			uint32_t n = 1;
			while (n < MIG_MAX_RUN && pg + n < npages && bitmap_test(p->s.dirty[r], pg + n) &&
			       guest_page_is_zero(g->hva + (pg + n) * GUEST_PAGE) == zero)
				n++;
			size_t stage_cap = p->stage_cap;
			if ((!zero && grow((void **)&p->stage, &stage_cap, used + n * GUEST_PAGE, 1) < 0) ||
			    grow((void **)&p->runs, &p->runs_cap, p->nruns + 1, sizeof(*p->runs)) < 0)
				return -ENOMEM;
			p->stage_cap = stage_cap;
			if (!zero)
				memcpy(p->stage + used, g->hva + pg * GUEST_PAGE, n * GUEST_PAGE);
			p->runs[p->nruns++] = (struct run){ g->gpa + pg * GUEST_PAGE, n, zero, used };
			used += zero ? 0 : n * GUEST_PAGE;
			pg += n;
		}
	}
	return 0;
}

static int send_checkpoint(struct primary *p, const struct mig_ckpt *ck, const struct snap_writer *w, uint64_t *bytes)
{
	int fd = p->s.fd, e = mig_send(fd, MIG_CKPT, ck, sizeof(*ck), NULL, 0);
	*bytes = 0;
	for (size_t i = 0; !e && i < p->nruns; i++) {
		const struct run *rn = &p->runs[i];
		struct mig_pages mp = { .gpa = rn->gpa, .npages = rn->npages, .flags = rn->zero ? MIG_PAGES_ZERO : 0 };
		size_t len = rn->zero ? 0 : mp.npages * GUEST_PAGE;
		e = mig_send(fd, MIG_PAGES, &mp, sizeof(mp), p->stage + rn->off, len);
		*bytes += len;
	}
	if (!e)
		e = mig_disks_send_stage(fd, &p->disks, bytes);
	if (!e)
		e = mig_send(fd, MIG_STATE, w->buf, w->len, NULL, 0);
	if (!e && p->cout_len)
		e = mig_send(fd, MIG_COUT, p->cout, p->cout_len, NULL, 0);
	if (!e)
		e = mig_send(fd, MIG_CEND, ck, sizeof(*ck), NULL, 0);
	*bytes += w->len;
	return e;
}

/* One epoch ends: the checkpoint that captures it goes to the standby, and once the standby
 * has it, the epoch's output goes out. first: right after the initial sync (its last dirty
 * pages are still in s.dirty; the output gate goes up now). */
static int checkpoint(struct primary *p, uint64_t epoch, bool first)
{
	struct replication *r = p->r;
	uint64_t t0 = now_ns(), *pending[GUEST_MEM_MAX_REGIONS] = { 0 };
	vm_pause_exclusive(p->vm); /* no user's pause or resume in between */
	bool was_paused = vm_is_paused(p->vm); /* by its user: it stays so */
	int e = vm_pause(p->vm);
	if (e < 0) {
		vm_pause_release(p->vm);
		return e; /* the guest stopped */
	}
	const struct guest_mem *mem = vm_guest_mem(p->vm);
	for (unsigned i = 0; first && !e && i < mem->nregions; i++) {
		size_t words = guest_region_bitmap_words(&mem->regions[i]);
		if (!(pending[i] = malloc(words * 8)))
			e = -ENOMEM;
		else
			memcpy(pending[i], p->s.dirty[i], words * 8);
	}
	if (!e)
		mig_sender_take_dirty(&p->s, &e, false);
	for (unsigned i = 0; first && !e && i < mem->nregions; i++)
		for (size_t w = 0; w < guest_region_bitmap_words(&mem->regions[i]); w++)
			p->s.dirty[i][w] |= pending[i][w];
	for (unsigned i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
		free(pending[i]);
	struct snap_writer w;
	snap_writer_init(&w);
	uint8_t id[16];
	if (!e)
		e = stage_pages(p);
	if (!e && r->po.mirror_disks) /* devices quiesced: every write of the epoch is done */
		e = mig_disks_stage(p->vm, &p->disks);
	if (!e)
		e = snapshot_state_build(p->vm, "", NULL, NULL, &w, id, p->s.err, p->s.errlen);
	if (!e && first) /* output from now on waits for acknowledgements */
		vm_set_output_gate(p->vm, r->gate);
	uint64_t closed = 0;
	if (!e)
		vsock_epoch(p->vm, closed = outgate_close_epoch(r->gate), false);
	if (!was_paused)
		vm_resume(p->vm);
	vm_pause_release(p->vm);
	uint64_t paused = now_ns() - t0, bytes = 0;
	/* The standby keeps the closed epoch's console output with the checkpoint and writes it
	 * when it takes over, unless this primary said it wrote it (RELS): a primary that dies
	 * between the acknowledgement and its write loses no console output. */
	if (!e && !p->cout && !(p->cout = malloc(MIG_MAX_COUT)))
		e = -ENOMEM;
	if (!e)
		p->cout_len = outgate_copy(r->gate, closed, vm_serial(p->vm), p->cout, MIG_MAX_COUT);
	struct mig_ckpt ck = { .epoch = epoch, .generation = r->st.generation };
	if (!e && (e = send_checkpoint(p, &ck, &w, &bytes)) < 0) {
		char what[96] = "sending a checkpoint";
		if (e == -EAGAIN) { /* the socket's send timeout: the standby stopped reading */
			snprintf(what, sizeof(what), "sending a checkpoint: the standby took no data for %u ms",
				 r->po.failure_timeout_ms);
			e = -ETIMEDOUT;
		}
		mig_sender_peer_reason(&p->s, e, what);
	}
	snap_writer_free(&w);
	struct mig_ckpt ack;
	if (!e && (e = mig_sender_expect(&p->s, MIG_CACK, &ack, sizeof(ack), (int)r->po.failure_timeout_ms,
					 "checkpoint acknowledgement")) == 0 && ack.epoch != epoch) {
		e = error_set(p->s.err, p->s.errlen, -EPROTO, "the standby acknowledged epoch %llu, not %llu",
			      (unsigned long long)ack.epoch, (unsigned long long)epoch);
	}
	if (e)
		return e;
	outgate_release(r->gate, epoch);
	vsock_epoch(p->vm, epoch, true);
	if (p->cout_len && (e = mig_send(p->s.fd, MIG_RELS, &ck, sizeof(ck), NULL, 0)) < 0) {
		mig_sender_peer_reason(&p->s, e, "telling the standby the console output is written");
		return e;
	}
	p->pause_sum_ns += paused;
	REPL_LOCKED(r, {
		r->st.checkpoints++;
		r->st.last_pause_us = (double)paused / 1e3;
		r->st.mean_pause_us = (double)p->pause_sum_ns / 1e3 / (double)r->st.checkpoints;
		if (r->st.last_pause_us > r->st.max_pause_us)
			r->st.max_pause_us = r->st.last_pause_us;
		r->st.last_bytes = bytes;
		r->st.total_bytes += bytes;
	});
	return 0;
}

/* Until t, or until replication is stopped (true): an interval may be a minute. */
static bool sleep_until(struct replication *r, uint64_t t)
{
	uint64_t now = now_ns();
	struct pollfd pf = { .fd = r->cancel_efd, .events = POLLIN };
	return poll(&pf, 1, t > now ? (int)((t - now + 999999) / 1000000) : 0) > 0;
}

/* Replication ends (before its state says so, which lets snapshots be taken again): dirty
 * logging goes back to what it was, and since every checkpoint consumed the log, a Diff
 * snapshot can no longer build on the snapshot taken before (as after a migration). */
static void end_logging(struct primary *p, bool had_log)
{
	if (!had_log)
		vm_dirty_log_stop(p->vm);
	vm_set_snapshot_parent(p->vm, NULL, NULL);
}

/* Replication ends with its output let go of: what is held is written, then the gate opens
 * (output made meanwhile waits behind it), and only then do the devices stop using it. */
static void open_gate(struct primary *p)
{
	outgate_open(p->r->gate);
	vm_set_output_gate(p->vm, NULL);
}

/* The standby is gone (or never came): the policy decides. */
static void lost(struct primary *p, const char *why, bool had_log)
{
	struct replication *r = p->r;
	if (r->gate && r->po.on_loss == REPL_LOSS_STOP) {
		/* The guest stops: what no standby has must not reach the outside (a standby cut
		 * off, not dead, may take over from before it). The gate stays shut, and the devices
		 * behind it stay behind a shut one once this replication (and r->gate) is freed. */
		outgate_drop(r->gate);
		if (vm_output_gate(p->vm) == r->gate)
			vm_set_output_gate(p->vm, outgate_shut());
	} else if (r->gate) {
		open_gate(p); /* nobody will acknowledge these any more */
	}
	end_logging(p, had_log);
	if (r->po.on_loss == REPL_LOSS_STOP) {
		vm_request_stop(p->vm, VM_STOP_ERROR, 1, "replication: lost the standby (%s); policy: stop", why);
		repl_set_state(r, REPL_STOPPED, why);
	} else {
		repl_set_state(r, REPL_UNPROTECTED, why);
	}
}

void *repl_primary_main(void *arg)
{
	struct replication *r = arg;
	pthread_setname_np(pthread_self(), "petrel_repl");
	char err[512] = "";
	struct mig_send_opts so = { .url = r->po.peer_url, .downtime_ms = 50, .mode = MIG_MODE_PRECOPY, .timeout_s = 600,
				    .migrate_disks = r->po.mirror_disks, .tls = r->po.tls };
	struct migration *m = mig_new_source(r->vm, &so, NULL, NULL);
	struct primary p = { .r = r, .vm = r->vm, .s = { .m = m, .vm = r->vm, .fd = -1, .err = err, .errlen = sizeof(err) } };
	bool had_log = vm_dirty_logging(r->vm);
	int e = m ? 0 : -ENOMEM;
	/* The initial sync stops when its migration object is cancelled: that is when replication
	 * is (replication_free), or a stop waited for the whole sync. */
	int cancel = m ? fcntl(r->cancel_efd, F_DUPFD_CLOEXEC, 0) : -1;
	if (m && cancel < 0)
		e = -errno;
	else if (m) {
		close(m->cancel_efd);
		m->cancel_efd = cancel;
	}
	const struct guest_mem *mem = vm_guest_mem(r->vm);
	for (unsigned i = 0; !e && i < mem->nregions; i++)
		if (!(p.s.dirty[i] = calloc(guest_region_bitmap_words(&mem->regions[i]), 8)))
			e = -ENOMEM;
	uint64_t t0 = now_ns();
	if (!e)
		e = mig_sender_open(&p.s);
	struct mig_repl_cfg timing = { .interval_ms = r->po.interval_ms, .failure_timeout_ms = r->po.failure_timeout_ms };
	if (!e && (e = mig_send(p.s.fd, MIG_RCFG, &timing, sizeof(timing), NULL, 0)) < 0)
		mig_sender_peer_reason(&p.s, e, "sending the checkpoint interval");
	if (!e && (e = vm_dirty_log_start(r->vm)) < 0)
		e = error_set(err, sizeof(err), e, "cannot log dirty pages: %s", strerror(-e));
	uint64_t disk_bytes = 0;
	if (!e && r->po.mirror_disks)
		e = mig_disks_start(r->vm, p.s.fd, &disk_bytes, err, sizeof(err));
	if (!e && (e = mig_sender_precopy(&p.s, t0)) > 0)
		e = 0;
	/* The initial sync may have throttled a busy guest (auto-converge); from here on each
	 * checkpoint pauses it briefly instead, and the throttle must not outlive the VM. */
	throttle_stop(p.s.throttle);
	p.s.throttle = NULL;
	/* A standby that stops reading is lost as one that stops answering: a checkpoint sent
	 * with the guest paused must not wait longer than that. */
	if (!e)
		mig_send_timeout(p.s.fd, r->po.failure_timeout_ms);
	r->fd = p.s.fd;
	bool vm_gone = false;
	for (uint64_t epoch = 1; !e; epoch++) {
		uint64_t start = now_ns();
		if ((e = checkpoint(&p, epoch, epoch == 1)) == -ESHUTDOWN) {
			vm_gone = true;
			break;
		}
		if (!e && epoch == 1)
			repl_set_state(r, REPL_PROTECTED, NULL);
		if (!e && repl_cancelled(r))
			e = -ECANCELED;
		if (!e && sleep_until(r, start + (uint64_t)r->po.interval_ms * 1000000ull))
			e = -ECANCELED;
	}
	if (vm_gone || e == -ECANCELED) {
		/* Stopped on purpose (the guest stopped, or replication was ended): the standby must
		 * not take over. */
		if (p.s.fd >= 0)
			mig_send_fail(p.s.fd, vm_gone ? "the primary's guest stopped" : "replication stopped on the primary");
		if (r->gate)
			open_gate(&p);
		end_logging(&p, had_log);
		repl_set_state(r, REPL_STOPPED, vm_gone ? "the guest stopped" : "stopped");
	} else {
		if (p.s.fd >= 0)
			mig_send_fail(p.s.fd, err[0] ? err : strerror(-e));
		lost(&p, err[0] ? err : strerror(-e), had_log);
	}
	if (r->po.mirror_disks)
		mig_disks_stop(r->vm);
	mig_disks_stage_free(&p.disks);
	for (unsigned i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
		free(p.s.dirty[i]);
	free(p.stage);
	free(p.runs);
	free(p.cout);
	if (m) {
		m->fd = -1; /* the socket is r->fd's */
		migration_free(m);
	}
	return NULL;
}
