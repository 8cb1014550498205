/* The destination side: accept one source, build the machine from its definition, take its
 * memory page runs, load its states and run the guest. Everything on the wire is checked:
 * message types and lengths (wire.c), every page run against guest RAM, the definition and
 * states as strictly as a snapshot file. On any failure the half-built VM is destroyed and the
 * source, told why, keeps its guest. */
#include "migration/migration_int.h"
#include "migration/disks.h"
#include "migration/postcopy.h"
#include "migration/receiver.h"
#include "migration/url.h"
#include "util/error.h"
#include "util/thread_kind.h"
#include "migration/wire.h"
#include "util/log.h"
#include "util/util.h"
#include "util/bitmap.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_TIMEOUT_MS 60000  /* the source went silent */

/* A state-sized payload (DEFN, STAT) into a new buffer. */
static int read_blob(struct mig_receiver *r, const struct mig_hdr *h, uint8_t **out)
{
	*out = malloc(h->len ? h->len : 1);
	if (!*out)
		return -ENOMEM;
	int e = mig_recv_all(r->fd, *out, h->len, STREAM_TIMEOUT_MS);
	if (e < 0) {
		free(*out);
		*out = NULL;
		return error_set(r->err, r->errlen, e, "receiving the VM state: the source went away");
	}
	return 0;
}

int mig_receiver_handshake(struct mig_receiver *r)
{
	struct migration *m = r->m;
	struct mig_hdr h;
	struct mig_hello hello;
	int e = mig_recv_hdr(r->fd, &h, STREAM_TIMEOUT_MS, r->err, r->errlen);
	if (e < 0)
		return e;
	if (h.type != MIG_HELLO || h.len != sizeof(hello) ||
	    mig_recv_all(r->fd, &hello, sizeof(hello), STREAM_TIMEOUT_MS) < 0 ||
	    memcmp(hello.magic, MIG_MAGIC, sizeof(hello.magic)) != 0)
		return error_set(r->err, r->errlen, -EPROTO, "not a petrel migration stream");
	if (hello.version != MIG_VERSION || hello.page_size != GUEST_PAGE)
		return error_set(r->err, r->errlen, -EPROTONOSUPPORT,
				 "migration stream version %u (page size %u); this petrel speaks %u (4096)",
				 hello.version, hello.page_size, MIG_VERSION);
	uint8_t *defn;
	if ((e = mig_recv_hdr(r->fd, &h, STREAM_TIMEOUT_MS, r->err, r->errlen)) < 0)
		return e;
	if (h.type != MIG_DEFN)
		return error_set(r->err, r->errlen, -EPROTO,
				 "malformed migration stream: no VM definition after the greeting");
	if ((e = read_blob(r, &h, &defn)) < 0)
		return e;
	e = snapshot_config_from_buf(defn, h.len, &m->ro.load, m->cfg, r->err, r->errlen);
	free(defn);
	if (e < 0)
		return e;
	mig_disks_defer_locks(m->cfg); /* the other side still runs the guest on them */
	char why[256] = "";
	log_capture_begin(why, sizeof(why)); /* what went wrong, e.g. a disk in use elsewhere */
	e = r->h->build(r->vm, m->cfg, m->ro.console_out_fd);
	log_capture_end();
	if (e < 0) {
		vm_config_free(m->cfg);
		vm_config_init(m->cfg);
		return error_set(r->err, r->errlen, e, "cannot build the machine: %s",
				 why[0] ? why : strerror(-e));
	}
	r->built = true;
	if ((e = mig_send(r->fd, MIG_READY, NULL, 0, NULL, 0)) < 0)
		return error_set(r->err, r->errlen, e, "the source went away");
	return 0;
}

void *mig_pages_target(struct vm *vm, const struct mig_pages *p, uint64_t msg_len, char *err, size_t errlen)
{
	bool zero = p->flags & MIG_PAGES_ZERO;
	uint64_t bytes = (uint64_t)p->npages * GUEST_PAGE;
	void *dst = guest_mem_ptr(vm_guest_mem(vm), p->gpa, bytes);
	if (p->npages == 0 || p->npages > MIG_MAX_RUN || (p->flags & ~MIG_PAGES_ZERO) || p->gpa % GUEST_PAGE || !dst ||
	    msg_len != sizeof(*p) + (zero ? 0 : bytes)) {
		error_set(err, errlen, -EPROTO,
			  "malformed migration stream: %u pages at %#llx are not guest RAM "
			  "(or the message has %llu bytes)",
			  p->npages, (unsigned long long)p->gpa, (unsigned long long)msg_len);
		return NULL;
	}
	return dst;
}

int mig_receiver_take_pages(struct mig_receiver *r, const struct mig_hdr *h)
{
	struct mig_pages p;
	if (h->len < sizeof(p) || mig_recv_all(r->fd, &p, sizeof(p), STREAM_TIMEOUT_MS) < 0)
		return error_set(r->err, r->errlen, -EPROTO,
				 "malformed migration stream: short page message");
	bool zero = p.flags & MIG_PAGES_ZERO;
	uint64_t bytes = (uint64_t)p.npages * GUEST_PAGE;
	void *dst = mig_pages_target(r->vm, &p, h->len, r->err, r->errlen);
	if (!dst)
		return -EPROTO;
	if (zero) {
		/* Private anonymous memory: dropped pages read as zero again. */
		if (madvise(dst, bytes, MADV_DONTNEED) < 0)
			memset(dst, 0, bytes);
	} else if (mig_recv_all(r->fd, dst, bytes, STREAM_TIMEOUT_MS) < 0) {
		return error_set(r->err, r->errlen, -ECONNRESET,
				 "the source went away in the middle of a page run");
	}
	MIG_LOCKED(r->m, {
		r->m->st.bytes_sent += h->len;
		r->m->st.pages_sent += zero ? 0 : p.npages;
		r->m->st.zero_pages += zero ? p.npages : 0;
	});
	return 0;
}

/* The states, then the vCPUs: the guest runs here from now on. With post-copy the pages
 * still missing are fetched from the source meanwhile (postcopy_dst.c reads the stream). */
static int take_state(struct mig_receiver *r, const struct mig_hdr *h)
{
	struct migration *m = r->m;
	r->t_state = now_ns();
	uint8_t *buf;
	int e = read_blob(r, h, &buf);
	if (e < 0)
		return e;
	uint64_t t_read = now_ns();
	if (r->postcopy && (e = r->h->postcopy(m, r->vm, r->fd, &r->wlock, r->postcopy, r->postcopy_len, &r->pc,
						  r->err, r->errlen)) < 0) {
		free(buf);
		return e;
	}
	uint64_t t_pc = now_ns();
	e = r->h->load(r->vm, buf, h->len, &m->ro.load, r->err, r->errlen);
	free(buf);
	if (e < 0)
		return e;
	uint64_t t_loaded = now_ns();
	if ((e = mig_disks_take(r->vm, 0, r->err, r->errlen)) < 0)
		return e;
	/* The point of no return: a cancel after this waits for the guest to arrive. */
	if (!mig_commit(m))
		return error_set(r->err, r->errlen, -ECANCELED, "cancelled");
	if ((e = r->h->start(r->vm)) < 0)
		return error_set(r->err, r->errlen, e, "cannot start the vCPUs: %s", strerror(-e));
	/* The downtime ends at the first KVM_RUN here: wait for it (briefly) to report it. */
	uint64_t first = 0;
	for (int i = 0; i < 5000 && !(first = vm_first_run_ns(r->vm)); i++)
		usleep(200);
	uint64_t now = now_ns();
	log_debug("migration: state in: read %.2f ms, post-copy set up by %.2f ms, loaded by %.2f ms, first run %.2f ms",
		  (double)(t_read - r->t_state) / 1e6, (double)(t_pc - r->t_state) / 1e6,
		  (double)(t_loaded - r->t_state) / 1e6, first ? (double)(first - r->t_state) / 1e6 : -1.0);
	struct mig_go go = { .since_first_run_ns = first ? now - first : 0, .restore_ns = t_loaded - r->t_state };
	MIG_LOCKED(m, m->st.restore_ms = (double)go.restore_ns / 1e6);
	pthread_mutex_lock(&r->wlock);
	e = mig_send(r->fd, MIG_GO, &go, sizeof(go), NULL, 0);
	pthread_mutex_unlock(&r->wlock);
	if (e < 0)
		log_warn("migration: the source went away before it heard the guest runs here");
	if (r->h == &mig_receive_default)
		vm_devices_announce(r->vm, 0);
	if (r->pc)
		return postcopy_dst_wait(r->pc, r->err, r->errlen);
	/* The source's figure for the downtime, if it still says it. A FAIL instead: it gave up
	 * before it heard GO (its wait for it timed out) and runs its guest again: not here too. */
	struct mig_hdr d;
	uint64_t down_ns;
	char why[MIG_MAX_TEXT + 1];
	if (mig_recv_hdr(r->fd, &d, 2000, why, sizeof(why)) < 0)
		return 0; /* gone or silent: it may have heard GO (docs/migration.md: the one-message window) */
	if (d.type == MIG_FAIL) {
		mig_recv_fail(r->fd, &d, why, sizeof(why));
		return error_set(r->err, r->errlen, -ECANCELED,
				 "the source gave up after the switch and keeps the guest (%.400s)", why);
	}
	if (d.type == MIG_DONE && d.len == sizeof(down_ns) && mig_recv_all(r->fd, &down_ns, sizeof(down_ns), 2000) == 0)
		MIG_LOCKED(m, m->st.downtime_ms = (double)down_ns / 1e6);
	return 0;
}

static int stream(struct mig_receiver *r)
{
	struct migration *m = r->m;
	for (;;) {
		struct mig_hdr h;
		int e = mig_recv_hdr(r->fd, &h, STREAM_TIMEOUT_MS, r->err, r->errlen);
		if (e < 0)
			return e;
		switch (h.type) {
		case MIG_PAGES:
			if ((e = mig_receiver_take_pages(r, &h)) < 0)
				return e;
			break;
		case MIG_ROUND: {
			struct mig_round rd;
			if (h.len != sizeof(rd) || mig_recv_all(r->fd, &rd, sizeof(rd), STREAM_TIMEOUT_MS) < 0)
				return error_set(r->err, r->errlen, -EPROTO,
						 "malformed migration stream: bad round message");
			MIG_LOCKED(m, {
				m->st.iteration = rd.round;
				m->st.bytes_remaining = rd.dirty_pages * GUEST_PAGE;
			});
			break;
		}
		case MIG_DISK: {
			uint64_t bytes = 0;
			if ((e = mig_disks_receive(r->vm, r->fd, &h, &r->disks_sized, &bytes, r->err, r->errlen)) < 0)
				return e;
			MIG_LOCKED(m, m->st.bytes_sent += bytes);
			break;
		}
		case MIG_POSTCOPY: {
			size_t want = 0;
			const struct guest_mem *mem = vm_guest_mem(r->vm);
			for (unsigned i = 0; i < mem->nregions; i++)
				want += guest_region_bitmap_words(&mem->regions[i]) * 8;
			if (r->postcopy || h.len != want)
				return error_set(r->err, r->errlen, -EPROTO,
						 "malformed migration stream: a second post-copy list, or "
						 "one that does not fit guest memory");
			if ((e = read_blob(r, &h, &r->postcopy)) < 0)
				return e;
			r->postcopy_len = h.len;
			break;
		}
		case MIG_STATE:
			return take_state(r, &h);
		case MIG_FAIL: {
			char why[MIG_MAX_TEXT + 1];
			mig_recv_fail(r->fd, &h, why, sizeof(why));
			return error_set(r->err, r->errlen, -ECANCELED, "the source gave up: %.400s", why);
		}
		default:
			return error_set(r->err, r->errlen, -EPROTO,
					 "malformed migration stream: a message out of turn");
		}
		if (mig_cancelled(m))
			return error_set(r->err, r->errlen, -ECANCELED, "cancelled");
	}
}

/* A machine that could not be built all the way is taken down here: the receiver only
 * destroys what it built (a half-built one held KVM, memory and device fds after each
 * refused migration). */
static int build_machine(struct vm *vm, struct vm_config *cfg, int console_fd)
{
	vm_clear(vm); /* a receiver builds again after a refused migration */
	int e = vm_create_restored(vm, cfg, console_fd, -1);
	if (e < 0)
		vm_destroy(vm);
	return e;
}

static void destroy_machine(struct vm *vm)
{
	vm_request_stop(vm, VM_STOP_ERROR, 1, "migration failed");
	vm_join(vm);
	vm_destroy(vm);
}

const struct mig_receive_hooks mig_receive_default = {
	.build = build_machine, .postcopy = postcopy_dst_start, .load = snapshot_states_from_buf,
	.start = vm_start, .destroy = destroy_machine,
};

int mig_receive_stream(struct migration *m, int fd, const struct mig_receive_hooks *h, char *err, size_t errlen)
{
	struct mig_receiver r = { .m = m, .h = h, .vm = m->vm, .fd = fd, .err = err, .errlen = errlen };
	pthread_mutex_init(&r.wlock, NULL);
	int e = mig_receiver_handshake(&r);
	if (e >= 0)
		e = stream(&r);
	if (e < 0) {
		pthread_mutex_lock(&r.wlock);
		mig_send_fail(fd, err[0] ? err : strerror(-e));
		pthread_mutex_unlock(&r.wlock);
		shutdown(fd, SHUT_RDWR); /* post-copy's page thread stops reading */
		postcopy_dst_free(r.pc);
		r.pc = NULL;
		if (r.built) {
			h->destroy(r.vm);
			vm_config_free(m->cfg);
			vm_config_init(m->cfg);
		}
	}
	postcopy_dst_free(r.pc);
	free(r.postcopy);
	pthread_mutex_destroy(&r.wlock);
	return e < 0 ? e : 0;
}

void *mig_receive_main(void *arg)
{
	struct migration *m = arg;
	pthread_setname_np(pthread_self(), "petrel_mig");
	char err[512] = "";
	int timeout = m->ro.timeout_s ? (int)m->ro.timeout_s * 1000 : -1;
	struct mig_tls tls = { .creds = m->ro.tls, .pump_kind = SC_MIGRATION };
	int fd = mig_accept(m->lfd, timeout, m->cancel_efd, &tls, err, sizeof(err));
	uint64_t t0 = now_ns();
	int e = fd < 0 ? fd : 0;
	if (fd >= 0) {
		mig_set_fd(m, fd);
		close(m->lfd); /* one migration per receive */
		m->lfd = -1;
		log_info("migration: the source connected");
		e = mig_receive_stream(m, fd, &mig_receive_default, err, sizeof(err));
	}
	if (e < 0 && e != -ECANCELED && mig_cancelled(m) && !m->committed)
		/* the socket a cancel shut, not the source, ended the stream */
		e = error_set(err, sizeof(err), -ECANCELED, "cancelled");
	MIG_LOCKED(m, m->st.total_ms = (double)(now_ns() - t0) / 1e6);
	mig_finish(m, e, err);
	for (int round = 1; e == 0 && round < 3; round++)
		vm_devices_announce(m->vm, round);
	return NULL;
}
