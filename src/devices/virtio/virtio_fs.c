/* virtio-fs: the device petrel shows the guest; the back end serves its queues. See virtio_fs.h. */
#include "devices/virtio/virtio_fs.h"
#include "memory/guest_mem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

static struct virtio_fs *to_fs(struct virtio_dev *d)
{
	return (struct virtio_fs *)((char *)d - offsetof(struct virtio_fs, vdev));
}

static void fs_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_fs *f = to_fs(d);
	uint8_t cfg[VIRTIO_FS_CONFIG_LEN];
	memcpy(cfg, f->tag, VIRTIO_FS_TAG_LEN);
	uint32_t n = f->nreq; /* little-endian, as the host */
	memcpy(cfg + VIRTIO_FS_TAG_LEN, &n, 4);
	memcpy(data, cfg + off, len); /* the core checked off + len <= config_len */
}

/* The back end cannot be reached while the vCPU holds the lock (io_thread_remove would wait on
 * a callback waiting on that lock): make its socket read as closed, and the I/O thread's
 * socket callback does the rest (virtio_fs_lost). */
static void drop_later(struct virtio_fs *f, const char *what, const char *why)
{
	log_limited(LOG_WARN, "virtio-fs '%s': %s: %s; the guest's requests fail until a back end is "
		    "back on %s", f->id, what, why, f->socket_path);
	if (f->conn.fd >= 0)
		shutdown(f->conn.fd, SHUT_RDWR);
}

static int fs_activate(struct virtio_dev *d)
{
	struct virtio_fs *f = to_fs(d);
	char err[256];
	if (f->conn.fd >= 0 && virtio_fs_start_queues(f, err, sizeof(err)) < 0)
		drop_later(f, "cannot hand the queues to the back end", err);
	return 0; /* without a back end the device still runs: its requests fail (ENOTCONN) */
}

static void fs_reset(struct virtio_dev *d)
{
	virtio_fs_stop_queues(to_fs(d));
}

static void fs_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_fs *f = to_fs(d);
	if (!f->handed[q]) {
		virtio_fs_answer_queue(f, q);
		return;
	}
	uint64_t one = 1;
	f->kicks++;
	if (write(f->kick_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_limited(LOG_WARN, "virtio-fs '%s': cannot kick queue %u: %s", f->id, q, strerror(errno));
}

/* The back end used buffers on a queue: the transport's interrupt (it decided, with EVENT_IDX,
 * that the driver wants one). */
static void call_event(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct virtio_fs *f = opaque;
	struct virtio_dev *d = &f->vdev;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	for (unsigned q = 0; q < d->nqueues; q++) {
		if (f->call_fd[q] != fd)
			continue;
		f->calls++;
		if (virtio_is_running(d) && d->tr && d->tr->interrupt) {
			d->interrupts++;
			d->tr->interrupt(d->tr_opaque, (int)q);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

static void fs_destroy(struct virtio_dev *d)
{
	struct virtio_fs *f = to_fs(d);
	if (d->io && f->watched)
		io_thread_remove(d->io, f->conn.fd);
	f->watched = false;
	vhu_close(&f->conn);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (f->call_fd[q] >= 0 && d->io)
			io_thread_remove(d->io, f->call_fd[q]);
		if (f->call_fd[q] >= 0)
			close(f->call_fd[q]);
		if (f->kick_fd[q] >= 0)
			close(f->kick_fd[q]);
		f->call_fd[q] = f->kick_fd[q] = -1;
	}
	if (f->retry_fd >= 0) {
		if (d->io)
			io_thread_remove(d->io, f->retry_fd);
		close(f->retry_fd);
	}
	f->retry_fd = -1;
}

static const struct virtio_dev_ops fs_ops = {
	.config_read = fs_config_read,
	.activate = fs_activate,
	.reset = fs_reset,
	.queue_notify = fs_queue_notify,
	.destroy = fs_destroy,
};

/* The features the guest may have: what the back end offers of those petrel's rings and its
 * relay understand (no packed rings, no IOMMU, no DAX notifications yet). */
#define FS_FEATURES (VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

int virtio_fs_create(struct virtio_fs *f, const struct virtio_fs_params *p, const struct guest_mem *mem,
		     struct io_thread *io, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->conn.fd = f->retry_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		f->call_fd[q] = f->kick_fd[q] = -1;
	size_t taglen = strlen(p->tag);
	if (taglen == 0 || taglen > VIRTIO_FS_TAG_LEN)
		return error_set(err, errlen, -EINVAL, "virtio-fs '%s': tag '%s' is not 1 to 36 bytes", p->id,
				 p->tag);
	if (strlen(p->socket_path) >= sizeof(f->socket_path))
		return error_set(err, errlen, -ENAMETOOLONG, "virtio-fs '%s': socket path '%s' is too long",
				 p->id, p->socket_path);
	if (p->num_request_queues == 0 || p->num_request_queues > VIRTIO_FS_MAX_REQUEST_QUEUES)
		return error_set(err, errlen, -EINVAL,
				 "virtio-fs '%s': bad number of request queues (1 to 15)", p->id);
	if (!mem->shared)
		return error_set(err, errlen, -EINVAL,
				 "virtio-fs '%s': guest memory is not shared memory a back end can map",
				 p->id);
	snprintf(f->id, sizeof(f->id), "%s", p->id);
	snprintf(f->socket_path, sizeof(f->socket_path), "%s", p->socket_path);
	memcpy(f->tag, p->tag, taglen);
	f->nreq = p->num_request_queues;
	f->mem = mem;
	unsigned nq = 1 + f->nreq;
	char name[32];
	snprintf(name, sizeof(name), "virtio-fs-%.20s", p->id);
	/* what the back end offers decides what the guest is offered: connect first */
	int r = virtio_fs_connect(f, err, errlen);
	if (r < 0) {
		char why[384];
		snprintf(why, sizeof(why), "%s", err);
		return error_set(err, errlen, r, "virtio-fs '%s': %s", p->id, why);
	}
	f->features_offered = f->conn.features;
	if (!(f->conn.features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		vhu_close(&f->conn);
		return error_set(err, errlen, -EPROTO,
				 "virtio-fs '%s': the back end on %s does not offer virtio 1.0", p->id,
				 p->socket_path);
	}
	if (f->conn.queues < nq && (f->conn.protocol_features >> VHU_PROTOCOL_F_MQ & 1)) {
		r = error_set(err, errlen, -EINVAL, "virtio-fs '%s': the back end serves %u queues, %u request queues need %u",
			      p->id, f->conn.queues, f->nreq, nq);
		vhu_close(&f->conn);
		return r;
	}
	r = virtio_dev_init(&f->vdev, name, VIRTIO_ID_FS, f->conn.features & FS_FEATURES, nq, p->queue_size,
			    VIRTIO_FS_CONFIG_LEN, &fs_ops, mem, io);
	if (r < 0) {
		vhu_close(&f->conn);
		return error_set(err, errlen, r,
				 "virtio-fs '%s': cannot create the device (queue size must be a power of two up to 1024)",
				 p->id);
	}
	f->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r = f->retry_fd < 0 ? -errno : 0;
	for (unsigned q = 0; r == 0 && q < nq; q++) {
		f->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		f->call_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->kick_fd[q] < 0 || f->call_fd[q] < 0)
			r = -errno;
		else if (io)
			r = io_thread_add_in(io, f->call_fd[q], call_event, f);
	}
	if (r == 0 && io && (r = io_thread_add(io, f->retry_fd, 0x001, virtio_fs_retry_event, f)) == 0 &&
	    (r = io_thread_add(io, f->conn.fd, 0x001, virtio_fs_socket_event, f)) == 0)
		f->watched = true;
	if (r < 0) {
		virtio_dev_destroy(&f->vdev);
		r = error_set(err, errlen, r, "virtio-fs '%s': cannot set up its eventfds: %s", p->id, strerror(-r));
	}
	return r;
}

int virtio_fs_state_blocker(const struct virtio_fs *f, const char *what, char *err, size_t errlen)
{
	return error_set(err, errlen, -ENOTSUP, "%s of a VM with a virtio-fs device ('%s') is not supported: the state of its "
		 "back end (the files the guest has open, the inodes it knows) lives in the back end "
		 "process, which cannot hand it over (docs/virtio-fs.md)", what, f->id);
}
