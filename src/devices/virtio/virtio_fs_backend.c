/* virtio-fs's back end: connecting and handing it the memory and queues, taking the queues back
 * when it stops or dies, answering the guest without it, finding a new one. See virtio_fs.h. */
#include "devices/virtio/virtio_fs.h"
#include "memory/guest_mem.h"
#include "util/error.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* The guest's memory as the back end maps it: every region of RAM, by its memfd. */
static int set_mem_table(struct virtio_fs *f, char *err, size_t errlen)
{
	const struct guest_mem *mem = f->mem;
	struct vhu_region r[VHU_MAX_REGIONS];
	int fds[VHU_MAX_REGIONS];
	unsigned n = 0;
	for (unsigned i = 0; i < mem->nregions && n < VHU_MAX_REGIONS; i++) {
		const struct guest_region *g = &mem->regions[i];
		if (g->shm_fd < 0)
			continue; /* not shared (virtio-mem's region: refused with virtio-fs) */
		r[n] = (struct vhu_region){ g->gpa, g->size, (uint64_t)(uintptr_t)g->hva, 0 };
		fds[n++] = g->shm_fd;
	}
	return vhu_set_mem_table(&f->conn, r, fds, n, err, errlen);
}

static void take_back(struct virtio_fs *f);

int virtio_fs_connect(struct virtio_fs *f, char *err, size_t errlen)
{
	struct vhu_conn c;
	/* a reconnection runs on the I/O thread: it never waits long */
	unsigned first = f->features_offered ? VIRTIO_FS_TIMEOUT_MS : VIRTIO_FS_FIRST_TIMEOUT_MS;
	int r = vhu_connect(&c, f->socket_path, first, err, errlen);
	if (r < 0)
		return r;
	f->conn = c;
	r = vhu_handshake(&f->conn, err, errlen);
	f->conn.timeout_ms = VIRTIO_FS_TIMEOUT_MS;
	if (r == 0 && f->features_offered &&
	    (f->vdev.host_features & ~VIRTIO_BIT(VIRTIO_F_VERSION_1) & ~f->conn.features)) {
		/* a new back end must offer what the guest was offered: the driver took it already */
		r = error_set(err, errlen, -EPROTO, "the back end offers features %#llx, the device offered the guest %#llx",
			 (unsigned long long)f->conn.features, (unsigned long long)f->vdev.host_features);
	}
	if (r == 0)
		r = set_mem_table(f, err, errlen);
	if (r == 0 && f->vdev.ops && virtio_is_running(&f->vdev))
		r = virtio_fs_start_queues(f, err, errlen);
	if (r < 0) {
		vhu_close(&f->conn);
		take_back(f);
	}
	return r;
}

int virtio_fs_start_queues(struct virtio_fs *f, char *err, size_t errlen)
{
	struct virtio_dev *d = &f->vdev;
	int r = vhu_set_features(&f->conn, d->st.driver_features, err, errlen);
	for (unsigned q = 0; r == 0 && q < d->nqueues; q++) {
		struct virtq *vq = &d->vq[q];
		struct virtq_state *st = &d->st.queues[q];
		if (!virtq_is_enabled(vq) || f->handed[q])
			continue;
		/* what petrel took it has answered: the back end starts where petrel is */
		struct vhu_vring ring = {
			.index = q, .num = st->size,
			.desc = (uint64_t)(uintptr_t)vq->desc, .avail = (uint64_t)(uintptr_t)vq->avail,
			.used = (uint64_t)(uintptr_t)vq->used, .base = st->last_avail_idx,
			.kick_fd = f->kick_fd[q], .call_fd = f->call_fd[q],
		};
		if ((r = vhu_set_vring(&f->conn, &ring, err, errlen)) == 0 &&
		    (r = vhu_enable_vring(&f->conn, q, true, err, errlen)) == 0) {
			f->handed[q] = true;
			/* requests already in the ring: the back end looks at a kick */
			uint64_t one = 1;
			if (write(f->kick_fd[q], &one, sizeof(one)) < 0)
				r = -errno;
		}
	}
	return r;
}

static uint16_t used_ring_idx(const struct virtq *vq)
{
	uint16_t v;
	memcpy(&v, vq->used + 2, 2);
	return v;
}

/* Queue q was the back end's and petrel has no word from it where it stopped: the used ring
 * says. It completed (used idx - where it started) requests; when each of those is the one the
 * driver made available at the same position (the back end answered in order, as virtiofsd's
 * queue threads do), the next request to answer is at the used index, and the ones it had
 * taken but not answered are answered by petrel. Otherwise the requests it held are lost:
 * petrel goes on from the driver's avail index (their callers wait until killed). */
static void recover_position(struct virtio_fs *f, unsigned q)
{
	struct virtq *vq = &f->vdev.vq[q];
	struct virtq_state *st = &f->vdev.st.queues[q];
	uint16_t used = used_ring_idx(vq), avail = vq->avail[1], size = st->size;
	uint16_t done = (uint16_t)(used - st->last_avail_idx);
	bool in_order = done <= (uint16_t)(avail - st->last_avail_idx);
	for (uint16_t k = 0; in_order && k < done && k < size; k++) {
		uint16_t pos = (uint16_t)(used - 1 - k);
		uint32_t id;
		memcpy(&id, vq->used + 4 + 8 * (pos % size), 4);
		in_order = id == vq->avail[2 + pos % size];
	}
	st->used_idx = used;
	st->last_avail_idx = in_order ? used : avail;
	st->signalled_valid = false;
	if (!in_order)
		log_warn("virtio-fs '%s': queue %u: the back end answered out of order; the %u requests it "
			 "held are lost", f->id, q, (unsigned)(uint16_t)(avail - used));
}

/* Every queue the back end had, back to petrel where the used rings say; what is waiting
 * there is answered. */
static void take_back(struct virtio_fs *f)
{
	struct virtio_dev *d = &f->vdev;
	for (unsigned q = 0; q < d->nqueues; q++) {
		if (!f->handed[q])
			continue;
		f->handed[q] = false;
		recover_position(f, q);
		if (virtio_is_running(d) && virtq_is_enabled(&d->vq[q]))
			virtio_fs_answer_queue(f, q);
	}
}

void virtio_fs_stop_queues(struct virtio_fs *f)
{
	char why[256];
	for (unsigned q = 0; q < f->vdev.nqueues; q++) {
		if (!f->handed[q])
			continue;
		uint32_t base;
		int r = f->conn.fd >= 0 ? vhu_get_vring_base(&f->conn, q, &base, why, sizeof(why)) : -ENOTCONN;
		f->handed[q] = false;
		if (r < 0 || base > 0xffff) {
			if (r == 0)
				snprintf(why, sizeof(why), "it says it stopped at %u", base);
			recover_position(f, q);
			log_limited(LOG_WARN, "virtio-fs '%s': cannot stop queue %u: %s", f->id, q, why);
			if (f->conn.fd >= 0)
				shutdown(f->conn.fd, SHUT_RDWR); /* the I/O thread takes it from here */
			continue;
		}
		f->vdev.st.queues[q].last_avail_idx = (uint16_t)base;
		f->vdev.st.queues[q].used_idx = used_ring_idx(&f->vdev.vq[q]);
		f->vdev.st.queues[q].signalled_valid = false;
	}
}

static void arm_retry(struct virtio_fs *f, bool on)
{
	struct itimerspec t = { 0 };
	if (on) {
		t.it_value.tv_sec = t.it_interval.tv_sec = VIRTIO_FS_RETRY_MS / 1000;
		t.it_value.tv_nsec = t.it_interval.tv_nsec = (VIRTIO_FS_RETRY_MS % 1000) * 1000000L;
	}
	if (f->retry_fd >= 0)
		timerfd_settime(f->retry_fd, 0, &t, NULL);
}

void virtio_fs_lost(struct virtio_fs *f, const char *why)
{
	struct virtio_dev *d = &f->vdev;
	if (f->watched && d->io)
		io_thread_remove(d->io, f->conn.fd);
	f->watched = false;
	vhu_close(&f->conn);
	f->disconnects++;
	log_warn("virtio-fs '%s': the back end on %s %s; the guest's requests fail (ENOTCONN) until one "
		 "is back there", f->id, f->socket_path, why);
	take_back(f);
	arm_retry(f, true);
}

void virtio_fs_socket_event(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct virtio_fs *f = opaque;
	pthread_mutex_lock(&f->vdev.lock);
	if (fd == f->conn.fd) {
		char c;
		/* a reply a vCPU's request read meanwhile leaves nothing: nothing happened */
		ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			virtio_fs_lost(f, "closed the connection");
		else if (n > 0)
			virtio_fs_lost(f, "sent a message nobody asked for (petrel closed the connection)");
	}
	pthread_mutex_unlock(&f->vdev.lock);
}

void virtio_fs_retry_event(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct virtio_fs *f = opaque;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&f->vdev.lock);
	char err[256];
	int r = f->conn.fd >= 0 ? 0 : virtio_fs_connect(f, err, sizeof(err));
	if (f->conn.fd >= 0 && !f->watched) {
		arm_retry(f, false);
		f->reconnects++;
		if (f->vdev.io && io_thread_add(f->vdev.io, f->conn.fd, 0x001, virtio_fs_socket_event, f) == 0)
			f->watched = true;
		log_info("virtio-fs '%s': a back end is back on %s; it serves the guest again", f->id,
			 f->socket_path);
	} else if (f->conn.fd >= 0) {
		arm_retry(f, false);
	} else if (r != -ENOENT && r != -ECONNREFUSED) {
		log_limited(LOG_DEBUG, "virtio-fs '%s': no back end yet: %s", f->id, err);
	}
	pthread_mutex_unlock(&f->vdev.lock);
}

size_t virtio_fs_error_reply(const uint8_t *in, size_t len, int error, uint8_t out[FUSE_OUT_HEADER_LEN])
{
	enum { FUSE_FORGET = 2, FUSE_BATCH_FORGET = 42 };
	if (len < FUSE_IN_HEADER_LEN)
		return 0;
	uint32_t opcode, olen = FUSE_OUT_HEADER_LEN;
	int32_t e = -error;
	memcpy(&opcode, in + 4, 4);
	if (opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET)
		return 0;
	memcpy(out, &olen, 4);
	memcpy(out + 4, &e, 4);
	memcpy(out + 8, in + 8, 8); /* unique: the driver matches the reply by it */
	return FUSE_OUT_HEADER_LEN;
}

static int answer_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_fs *f = ctx;
	uint8_t in[FUSE_IN_HEADER_LEN], out[FUSE_OUT_HEADER_LEN];
	size_t got = virtq_chain_read(c, 0, in, sizeof(in));
	size_t n = virtio_fs_error_reply(in, got, ENOTCONN, out);
	uint32_t written = 0;
	if (n && c->in_len >= n)
		written = (uint32_t)virtq_chain_write(c, 0, out, n);
	f->failed_requests++;
	virtq_push(&d->vq[q], c->head, written);
	return VIRTIO_SERVE_PUSHED;
}

void virtio_fs_answer_queue(struct virtio_fs *f, unsigned q)
{
	virtio_serve_queue(&f->vdev, q, &f->chain, 0, answer_chain, f);
}
