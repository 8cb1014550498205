/* virtio-pmem: see pmem.h. */
#include "devices/virtio/pmem.h"
#include "devices/dev_state.h"
#include "kvm/kvm.h"
#include "memory/devmem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct virtio_pmem *to_pmem(struct virtio_dev *d)
{
	return (struct virtio_pmem *)((char *)d - offsetof(struct virtio_pmem, vdev));
}

enum pmem_req_kind virtio_pmem_parse(const struct virtq_chain *c, struct pmem_req *r)
{
	memset(r, 0, sizeof(*r));
	r->head = c->head;
	/* The status goes into the first 4 writable bytes, wherever the driver split them. */
	uint64_t want = 4;
	for (unsigned i = 0; i < c->n_in && want && r->nstatus < 4; i++) {
		const struct iovec *v = &c->iov[c->n_out + i];
		if (!v->iov_len)
			continue;
		size_t n = v->iov_len < want ? v->iov_len : (size_t)want;
		r->status[r->nstatus++] = (struct iovec){ v->iov_base, n };
		want -= n;
	}
	if (want) {
		r->nstatus = 0;
		r->kind = PMEM_REQ_NO_STATUS;
		return PMEM_REQ_NO_STATUS;
	}
	uint32_t type;
	if (c->out_len < 4 || virtq_chain_read(c, 0, &type, 4) != 4 || le32toh(type) != VIRTIO_PMEM_REQ_TYPE_FLUSH) {
		r->kind = PMEM_REQ_BAD;
		return PMEM_REQ_BAD;
	}
	r->kind = PMEM_REQ_FLUSH;
	return PMEM_REQ_FLUSH;
}

#define PMEM_BATCH_BUDGET 4   /* batches (fdatasyncs) per wakeup of the I/O thread */

static void answer(const struct pmem_req *r, uint32_t status)
{
	uint32_t le = htole32(status);
	size_t off = 0;
	for (unsigned i = 0; i < r->nstatus; i++) {
		memcpy(r->status[i].iov_base, (uint8_t *)&le + off, r->status[i].iov_len);
		off += r->status[i].iov_len;
	}
}

/* Make the guest's writes durable: they are in the file's page cache already (MAP_SHARED). */
static int flush_file(struct virtio_pmem *p)
{
	if (p->st.read_only)
		return 0;
	while (fdatasync(p->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Everything the driver queued so far is gathered first (pmem_gather), so that one fdatasync
 * covers every write the driver made before any of these requests (one sync per batch, as a
 * driver that queues flushes from many CPUs at once gets them); then pmem_answer answers them
 * all. */
static int pmem_gather(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_pmem *p = ctx;
	(void)d;
	(void)q;
	if (virtio_pmem_parse(c, &p->batch[p->nbatch++]) == PMEM_REQ_FLUSH)
		p->nflushes++;
	return p->nbatch == PMEM_QUEUE_SIZE ? VIRTIO_SERVE_FLUSH : 0;
}

static int pmem_answer(struct virtio_dev *d, unsigned q, void *ctx)
{
	struct virtio_pmem *p = ctx;
	unsigned n = p->nbatch, flushes = p->nflushes;
	p->nbatch = p->nflushes = 0;
	if (!n || !virtio_is_running(d)) /* a malformed chain broke the device: it waits for a reset */
		return 0;
	/* A flush costs one operation and the file's size in bytes (Firecracker's accounting). */
	if (flushes && !rate_limiter_admit(&p->rl, p->st.file_size, now_ns())) {
		virtq_unpop(&d->vq[q], (uint16_t)n); /* all of them again when the timer fires */
		p->ctr.rate_limiter_throttled_events++;
		return VIRTIO_SERVE_STOP;
	}
	int status = PMEM_STATUS_OK;
	if (flushes) {
		int e = flush_file(p);
		p->ctr.flush_count++;
		if (e < 0) {
			p->ctr.flush_fails++;
			status = PMEM_STATUS_ERROR;
			log_limited(LOG_WARN, "%s: fdatasync of the backing file failed: %s", d->name, strerror(-e));
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct pmem_req *r = &p->batch[i];
		if (r->kind != PMEM_REQ_FLUSH) {
			p->ctr.bad_requests++;
			p->ctr.event_fails++;
		}
		if (r->kind == PMEM_REQ_NO_STATUS) {
			virtq_push(&d->vq[q], r->head, 0);
			continue;
		}
		answer(r, r->kind == PMEM_REQ_FLUSH ? (uint32_t)status : PMEM_STATUS_ERROR);
		virtq_push(&d->vq[q], r->head, 4);
	}
	/* a driver that keeps queueing does not keep the I/O thread: more next turn */
	return VIRTIO_SERVE_PUSHED | (++p->batches == PMEM_BATCH_BUDGET ? VIRTIO_SERVE_YIELD : 0);
}

static void pmem_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_pmem *p = to_pmem(d);
	p->ctr.queue_event_count++;
	p->batches = 0;
	struct virtio_server s = { .chain = pmem_gather, .ctx = p, .flush = pmem_answer };
	virtio_serve(d, q, &p->chain, &s);
}

static void pmem_limiter_timer(void *opaque, int fd, uint32_t events)
{
	struct virtio_pmem *p = opaque;
	struct virtio_dev *d = &p->vdev;
	(void)fd;
	(void)events;
	pthread_mutex_lock(&d->lock);
	rate_limiter_timer_event(&p->rl);
	p->ctr.rate_limiter_event_count++;
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		pmem_queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

static void pmem_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pmem *p = to_pmem(d);
	uint64_t cfg[2] = { htole64(p->st.start), htole64(p->st.size) };
	memcpy(data, (uint8_t *)cfg + off, len);
}

static void pmem_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	/* The configuration space is read-only for the driver. */
	to_pmem(d)->ctr.cfg_fails++;
	log_limited(LOG_WARN, "%s: the driver wrote %u bytes at offset %u of the read-only configuration space",
		    d->name, len, off);
}

static int pmem_activate(struct virtio_dev *d)
{
	to_pmem(d)->ctr.activate_count++;
	return 0;
}

static void pmem_destroy(struct virtio_dev *d)
{
	struct virtio_pmem *p = to_pmem(d);
	if (p->rl.timer_fd >= 0 && d->io)
		io_thread_remove(d->io, p->rl.timer_fd);
	rate_limiter_destroy(&p->rl);
	/* The slot goes before the memory behind it. */
	if (p->kvm)
		kvm_set_user_memory(p->kvm, p->slot, p->st.start, 0, NULL, 0);
	p->kvm = NULL;
	if (p->map)
		munmap(p->map, p->st.size);
	p->map = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static const struct dev_state_ops pmem_state_ops;

static const struct virtio_dev_ops pmem_ops = {
	.config_read = pmem_config_read,
	.config_write = pmem_config_write,
	.activate = pmem_activate,
	.queue_notify = pmem_queue_notify,
	.destroy = pmem_destroy,
	.state = &pmem_state_ops,
};

/* The file, then anonymous zero pages up to the next PMEM_SIZE_ALIGN: one reservation of the
 * whole size with the file mapped over its start. */
static int map_file(struct virtio_pmem *p)
{
	uint64_t len = (p->st.file_size + PMEM_SIZE_ALIGN - 1) & ~(PMEM_SIZE_ALIGN - 1);
	int prot = PROT_READ | (p->st.read_only ? 0 : PROT_WRITE);
	void *base = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	if (mmap(base, p->st.file_size, prot, MAP_SHARED | MAP_FIXED, p->fd, 0) == MAP_FAILED) {
		int e = -errno;
		munmap(base, len);
		return e;
	}
	madvise(base, len, MADV_DONTDUMP); /* a core dump would carry the whole image */
	p->map = base;
	p->st.size = len;
	return 0;
}

/* A read-only device without read-only KVM slots: the same bytes, writable copy-on-write. */
static int remap_private(struct virtio_pmem *p)
{
	if (mprotect(p->map, p->st.size, PROT_READ | PROT_WRITE) < 0)
		return -errno;
	if (mmap(p->map, p->st.file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, p->fd, 0) == MAP_FAILED)
		return -errno;
	madvise(p->map, p->st.size, MADV_DONTDUMP);
	return 0;
}

int pmem_open_file(const struct virtio_pmem_params *c, uint64_t *size, char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
	int fd = open(c->path, (c->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		error_set(err, errlen, -e, "pmem '%s': backing file '%s' cannot be opened%s: %s", c->id, c->path,
			     c->read_only ? "" : " for writing", strerror(e));
		return -e;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = S_ISDIR(st.st_mode) ? "is a directory, not a regular file" : S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file"
		      : S_ISBLK(st.st_mode) ? "is a block device, not a regular file"
		      : S_ISCHR(st.st_mode) ? "is a character device, not a regular file"
		      : S_ISSOCK(st.st_mode) ? "is a socket, not a regular file" : "is not a regular file";
	else if (st.st_size == 0)
		why = "is empty (a pmem device needs at least one byte)";
	else if ((uint64_t)st.st_size > PMEM_MAX_FILE_SIZE)
		why = "is larger than 256 GiB";
	if (why) {
		close(fd);
		error_set(err, errlen, -EINVAL, "pmem '%s': backing file '%s' %s", c->id, c->path, why);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*size = (uint64_t)st.st_size;
	return fd;
}

int virtio_pmem_create(struct virtio_pmem *p, const struct virtio_pmem_params *c, unsigned index,
		       const struct guest_mem *mem, struct io_thread *io, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->rl.timer_fd = -1;
	snprintf(p->id, sizeof(p->id), "%s", c->id ? c->id : "");
	uint64_t size;
	int fd = pmem_open_file(c, &size, err, errlen);
	if (fd < 0)
		return fd;
	p->fd = fd;
	p->st.file_size = size;
	p->st.read_only = c->read_only;
	int e = map_file(p);
	if (e < 0)
		e = error_set(err, errlen, e, "pmem '%s': cannot map '%s': %s", p->id, c->path, strerror(-e));
	else if ((e = rate_limiter_init(&p->rl, &c->rate_limiter, now_ns())) < 0 ||
		 (e = rate_limiter_make_timer(&p->rl)) < 0) /* PATCH may add limits later */
		e = error_set(err, errlen, e, "pmem '%s': rate limiter: %s", p->id, strerror(-e));
	if (e < 0) {
		pmem_destroy(&p->vdev);
		return e;
	}
	char name[32];
	snprintf(name, sizeof(name), "virtio-pmem%u", index);
	e = virtio_dev_init(&p->vdev, name, VIRTIO_ID_PMEM,
			    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 1, PMEM_QUEUE_SIZE,
			    PMEM_CONFIG_LEN, &pmem_ops, mem, io);
	if (e == 0 && io)
		e = io_thread_add_in(io, p->rl.timer_fd, pmem_limiter_timer, p);
	if (e < 0) {
		e = error_set(err, errlen, e, "pmem '%s': cannot create the virtio device: %s", p->id, strerror(-e));
		virtio_dev_destroy(&p->vdev); /* closes the file and the mapping (pmem_destroy) */
		return e;
	}
	return 0;
}

int virtio_pmem_plug(struct virtio_pmem *p, struct devmem *dm, struct kvm *kvm, char *err, size_t errlen)
{
	uint64_t gpa;
	uint32_t slot;
	uint32_t flags = 0;
	int e;
	if (p->st.read_only && kvm_check_extension(kvm, KVM_CAP_READONLY_MEM) > 0) {
		flags = KVM_MEM_READONLY;
	} else if (p->st.read_only) {
		/* No read-only slots (some nested KVMs): the file stays untouched all the same, the
		 * guest's stores going to private copies of its pages that vanish with the VM. */
		if ((e = remap_private(p)) < 0)
			return error_set(err, errlen, e, "pmem '%s': cannot map the file privately: %s", p->id, strerror(-e));
		log_warn("%s: KVM has no read-only memory slots: the guest's stores to read-only pmem '%s' go to "
			 "private copies of the pages, never to the file", p->vdev.name, p->id);
	}
	e = devmem_alloc(dm, p->st.size, PMEM_GPA_ALIGN, &gpa, &slot);
	if (e < 0)
		return error_set(err, errlen, e, "pmem '%s': no room for %llu MiB of device memory: %s", p->id,
			 (unsigned long long)(p->st.size >> 20), strerror(-e));
	e = kvm_set_user_memory(kvm, slot, gpa, p->st.size, p->map, flags);
	if (e < 0)
		return error_set(err, errlen, e, "pmem '%s': cannot map it at 0x%llx: %s", p->id, (unsigned long long)gpa,
			 strerror(-e));
	pthread_mutex_lock(&p->vdev.lock);
	p->st.start = gpa;
	p->slot = slot;
	p->kvm = kvm;
	pthread_mutex_unlock(&p->vdev.lock);
	log_info("%s: '%s' (%llu bytes%s) at guest 0x%llx-0x%llx", p->vdev.name, p->id,
		 (unsigned long long)p->st.file_size, p->st.read_only ? ", read-only" : "",
		 (unsigned long long)gpa, (unsigned long long)(gpa + p->st.size));
	return 0;
}

void virtio_pmem_stats(struct virtio_pmem *p, struct pmem_state *st, struct pmem_counters *c)
{
	pthread_mutex_lock(&p->vdev.lock);
	if (st)
		*st = p->st;
	if (c)
		*c = p->ctr;
	pthread_mutex_unlock(&p->vdev.lock);
}

int virtio_pmem_check_state(struct virtio_pmem *p, const struct pmem_state *st, char *err, size_t errlen)
{
	struct pmem_state cur;
	virtio_pmem_stats(p, &cur, NULL);
	if (st->file_size != cur.file_size)
		return error_set(err, errlen, -EINVAL, "%s: pmem '%s': the backing file has %llu bytes now, %llu when the snapshot "
			 "was taken (it must be the same file, unchanged in size)", p->vdev.name, p->id,
			 (unsigned long long)cur.file_size, (unsigned long long)st->file_size);
	if (st->start != cur.start || st->size != cur.size || st->read_only != cur.read_only)
		return error_set(err, errlen, -EINVAL, "%s: pmem '%s': mapped at 0x%llx (%llu bytes%s) now, at 0x%llx (%llu bytes%s) "
			 "in the snapshot", p->vdev.name, p->id, (unsigned long long)cur.start,
			 (unsigned long long)cur.size, cur.read_only ? ", read-only" : "", (unsigned long long)st->start,
			 (unsigned long long)st->size, st->read_only ? ", read-only" : "");
	return 0;
}

int virtio_pmem_update_limiter(struct virtio_pmem *p, const struct rate_limiter_config *rl)
{
	pthread_mutex_lock(&p->vdev.lock);
	int e = rate_limiter_update(&p->rl, rl, now_ns());
	pthread_mutex_unlock(&p->vdev.lock);
	return e;
}

/* ---- saved state (section PMEM, docs/snapshots.md): where the file is mapped; its bytes are
 * the file's, not the snapshot's: a load maps the same file again (docs/pmem.md) and checks it
 * has the same size at the same place ---- */

static void pmem_save_state(void *dev, struct enc *e)
{
	struct pmem_state st;
	virtio_pmem_stats(to_pmem(dev), &st, NULL);
	put_u64(e, st.start);
	put_u64(e, st.size);
	put_u64(e, st.file_size);
	put_bool(e, st.read_only != 0);
}

static int pmem_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_pmem *p = to_pmem(dev);
	struct pmem_state st = { 0 };
	st.start = get_u64(d);
	st.size = get_u64(d);
	st.file_size = get_u64(d);
	st.read_only = get_bool(d);
	int e = dec_end(d, p->vdev.name, err, errlen);
	return e < 0 ? e : virtio_pmem_check_state(p, &st, err, errlen);
}

static const struct dev_state_ops pmem_state_ops = {
	.id = STATE_ID('P', 'M', 'E', 'M'), .version = 1,
	.save = pmem_save_state, .load = pmem_load_state,
};
