/* virtio-fs (virtio 1.x section 5.11, device ID 26): a host directory shared with the guest,
 * served by a separate vhost-user back end (Debian's /usr/lib/qemu/virtiofsd) over a Unix
 * socket. petrel owns the device's registers and configuration space (tag,
 * num_request_queues), gives the back end the guest's memory (memfd-backed, shared) and the
 * queues' rings, and relays the queues' notifications: a kick (the queue's ioeventfd, on the
 * I/O thread) goes to the back end's kick eventfd, the back end's call eventfd becomes the
 * transport's interrupt. The FUSE requests and replies themselves never pass through petrel.
 *
 * The back end is untrusted and may die. When its socket closes (or it breaks the protocol)
 * petrel takes the queues back and answers every request itself with ENOTCONN, as a FUSE
 * mount whose daemon died does; a timer tries the socket again every second and hands the
 * queues to a new back end found there (virtio_fs_backend.c). docs/virtio-fs.md.
 *
 * No saved state: the back end's (open files, inode numbers the guest holds) is not petrel's
 * to save, so a VM with a virtio-fs device refuses snapshots and migration
 * (virtio_fs_state_blocker). */
#ifndef PETREL_DEVICES_VIRTIO_VIRTIO_FS_H
#define PETREL_DEVICES_VIRTIO_VIRTIO_FS_H

#include "devices/virtio/virtio.h"
#include "vhost/vhost_user.h"

#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_FS 26
#define VIRTIO_FS_TAG_LEN 36          /* the configuration's tag field (not NUL-terminated when full) */
#define VIRTIO_FS_CONFIG_LEN 40       /* tag[36], le32 num_request_queues */
#define VIRTIO_FS_MAX_REQUEST_QUEUES 15  /* and queue 0, the high-priority one */
#define VIRTIO_FS_TIMEOUT_MS 2000     /* each of the back end's replies */
/* The replies of the first handshake (InstanceStart, before any vCPU runs): Debian's virtiofsd
 * sets up its sandbox (namespaces, chroot, seccomp) only after it accepted the connection, and
 * on a slow host (nested KVM under QEMU TCG) its first reply took longer than 2 s. */
#define VIRTIO_FS_FIRST_TIMEOUT_MS 20000
#define VIRTIO_FS_RETRY_MS 1000       /* trying a lost back end's socket again */

struct virtio_fs_params {
	const char *id;               /* for messages and metrics */
	const char *socket_path;      /* the back end's vhost-user socket */
	const char *tag;              /* what the guest mounts: 1..36 bytes */
	unsigned num_request_queues;  /* 1..VIRTIO_FS_MAX_REQUEST_QUEUES */
	uint16_t queue_size;          /* a power of two, at most VIRTQ_MAX_SIZE */
};

struct virtio_fs {
	struct virtio_dev vdev;
	char id[64];
	char socket_path[108];
	uint8_t tag[VIRTIO_FS_TAG_LEN];
	unsigned nreq;
	const struct guest_mem *mem;
	struct vhu_conn conn;         /* conn.fd < 0: no back end now */
	bool watched;                 /* conn.fd is on the I/O thread */
	bool handed[VIRTIO_MAX_QUEUES];  /* the back end runs this queue */
	int kick_fd[VIRTIO_MAX_QUEUES];  /* the back end waits on these */
	int call_fd[VIRTIO_MAX_QUEUES];  /* and signals these (the I/O thread watches them) */
	int retry_fd;                 /* timerfd: try a lost back end's socket again */
	struct virtq_chain chain;     /* without a back end: the request being answered */
	uint64_t features_offered;    /* what the back end offered at the first connection */
	/* statistics */
	uint64_t kicks, calls, failed_requests, disconnects, reconnects;
};

/* Create the device and connect to its back end (which must be listening: a VM does not start
 * without it), share the guest memory with it (mem->shared), and watch the eventfds on io.
 * 0, or -errno with what and why in err. */
int virtio_fs_create(struct virtio_fs *f, const struct virtio_fs_params *p, const struct guest_mem *mem,
		     struct io_thread *io, char *err, size_t errlen);

/* A VM with this device cannot be saved, moved or replicated: -ENOTSUP and why (what: "a
 * snapshot", "migration", ...). */
int virtio_fs_state_blocker(const struct virtio_fs *f, const char *what, char *err, size_t errlen);

/* ---- virtio_fs_backend.c: the back end's connection ---- */

/* Connect to the socket, handshake, check the features, give it the guest memory and (when
 * the driver runs) the enabled queues. With d->lock held. 0 or -errno (err says why). */
int virtio_fs_connect(struct virtio_fs *f, char *err, size_t errlen);
/* The driver set DRIVER_OK: hand the enabled queues to the back end. */
int virtio_fs_start_queues(struct virtio_fs *f, char *err, size_t errlen);
/* Take the queues back from the back end (GET_VRING_BASE: it stops and says where it was). */
void virtio_fs_stop_queues(struct virtio_fs *f);
/* The back end is gone or broke the protocol: close the connection, take the queues back
 * where the used rings say, answer what is pending, start the retry timer. On the I/O
 * thread with d->lock held. */
void virtio_fs_lost(struct virtio_fs *f, const char *why);
/* Without a back end: answer every request on queue q with ENOTCONN. */
void virtio_fs_answer_queue(struct virtio_fs *f, unsigned q);
/* I/O thread callbacks: the socket readable (closed, or a message nobody asked for), the
 * retry timer. */
void virtio_fs_socket_event(void *opaque, int fd, uint32_t events);
void virtio_fs_retry_event(void *opaque, int fd, uint32_t events);

/* A FUSE request's error reply (struct fuse_out_header: le32 len = 16, le32 error = -errno,
 * le64 unique), for a request whose first `len` bytes (its struct fuse_in_header: le32 len,
 * le32 opcode, le64 unique, ...) are `in`: 16 with out filled, or 0 when there is nothing to
 * answer (the header is short, or a FORGET or BATCH_FORGET, which have no reply). The guest
 * wrote every byte: nothing is trusted. */
#define FUSE_IN_HEADER_LEN 40
#define FUSE_OUT_HEADER_LEN 16
size_t virtio_fs_error_reply(const uint8_t *in, size_t len, int error, uint8_t out[FUSE_OUT_HEADER_LEN]);

#endif
