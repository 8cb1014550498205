/* A vhost-user front end's connection to its back end (a separate process such as virtiofsd)
 * over a Unix socket: requests with their descriptors, replies checked (vhost_user_msg.h),
 * every wait bounded, the back end's disconnection an error like any other. Generic: the
 * device (virtio-fs, later -blk or -net) asks for the features it knows. docs/virtio-fs.md. */
#ifndef PETREL_VHOST_VHOST_USER_H
#define PETREL_VHOST_VHOST_USER_H

#include "vhost/vhost_user_msg.h"

struct vhu_conn {
	int fd;
	unsigned timeout_ms;        /* each reply's wait */
	uint64_t features;          /* GET_FEATURES: what the back end offers */
	uint64_t protocol_features; /* agreed: ours and the back end's */
	uint32_t queues;            /* GET_QUEUE_NUM (1 without the MQ protocol feature) */
};

/* Connect to the back end listening on path. 0 or -errno (err says why). */
int vhu_connect(struct vhu_conn *c, const char *path, unsigned timeout_ms, char *err, size_t errlen);
/* Send m (built by vhu_build) with nfds descriptors; with a reply (a GET, or an ACK when
 * REPLY_ACK was agreed and need_reply set) wait for it into *reply. An ACK's nonzero status is
 * -EIO. 0 or -errno: -ECONNRESET when the back end went away, -ETIMEDOUT, -EPROTO. */
int vhu_call(struct vhu_conn *c, struct vhu_msg *m, const int *fds, unsigned nfds, struct vhu_msg *reply,
	     char *err, size_t errlen);
/* The opening every back end expects: SET_OWNER, GET_FEATURES, and with the protocol
 * features GET/SET_PROTOCOL_FEATURES (REPLY_ACK and MQ when offered) and GET_QUEUE_NUM. */
int vhu_handshake(struct vhu_conn *c, char *err, size_t errlen);
/* Guest memory for the back end: n regions (at most VHU_MAX_REGIONS), each a shared mapping
 * of fds[i] (memfd or file-backed memory) at mmap_offset, seen by the guest at gpa and by
 * petrel at uaddr (the addresses vrings are given in). */
int vhu_set_mem_table(struct vhu_conn *c, const struct vhu_region *r, const int *fds, unsigned n, char *err,
		      size_t errlen);
/* One queue, for the back end to run: its size, its rings (petrel's addresses), the next
 * available index, the kick eventfd it waits on and the call eventfd it signals. */
struct vhu_vring {
	uint32_t index, num;
	uint64_t desc, avail, used;   /* uaddr of each ring */
	uint32_t base;
	int kick_fd, call_fd;
};
int vhu_set_vring(struct vhu_conn *c, const struct vhu_vring *q, char *err, size_t errlen);
/* Enable or disable a queue (with the protocol features; without them queues start at kick). */
int vhu_enable_vring(struct vhu_conn *c, uint32_t index, bool on, char *err, size_t errlen);
/* SET_FEATURES: the virtio features the driver took (and VHU_F_PROTOCOL_FEATURES when the
 * back end offered it), before the queues are set. */
int vhu_set_features(struct vhu_conn *c, uint64_t features, char *err, size_t errlen);
/* GET_VRING_BASE: stop queue index; *base is where the back end would take the next request. */
int vhu_get_vring_base(struct vhu_conn *c, uint32_t index, uint32_t *base, char *err, size_t errlen);
void vhu_close(struct vhu_conn *c);

#endif
