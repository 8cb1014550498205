/* A vhost-user front end's connection. See vhost_user.h. */
#include "util/error.h"
#include "vhost/vhost_user.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int vhu_connect(struct vhu_conn *c, const char *path, unsigned timeout_ms, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return error_set(err, errlen, -ENAMETOOLONG, "vhost-user socket path '%s' is too long", path);
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, errlen, e, "cannot connect to the vhost-user back end on '%s': %s", path, strerror(-e));
	}
	c->fd = fd;
	return 0;
}

void vhu_close(struct vhu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_msg(struct vhu_conn *c, const struct vhu_msg *m, const int *fds, unsigned nfds)
{
	struct iovec iov = { .iov_base = (void *)m, .iov_len = VHU_HDR_SIZE + m->size };
	char ctl[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	return (size_t)n == iov.iov_len ? 0 : -EIO;
}

/* Exactly len bytes within the timeout; descriptors the back end sends along are closed (a
 * reply carries none). */
static int recv_exact(struct vhu_conn *c, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, (int)c->timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		char ctl[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct iovec iov = { .iov_base = (char *)buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
					close(((int *)CMSG_DATA(cm))[i]);
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

static int recv_reply(struct vhu_conn *c, uint32_t request, struct vhu_msg *out, char *err, size_t errlen)
{
	unsigned char buf[VHU_HDR_SIZE + sizeof(union vhu_payload)];
	int r = recv_exact(c, buf, VHU_HDR_SIZE);
	uint32_t size;
	memcpy(&size, buf + 8, sizeof(size));
	/* a payload larger than any reply is garbage: not read, the connection is unusable */
	if (r == 0 && size > sizeof(union vhu_payload))
		return error_set(err, errlen, -EPROTO, "reply to %s: payload of %u bytes", vhu_request_name(request), size);
	if (r == 0)
		r = recv_exact(c, buf + VHU_HDR_SIZE, size);
	if (r < 0)
		return error_set(err, errlen, r, "vhost-user back end, waiting for the reply to %s: %s", vhu_request_name(request),
			 r == -ECONNRESET ? "it closed the connection" : strerror(-r));
	return vhu_parse_reply(buf, VHU_HDR_SIZE + size, request, out, err, errlen);
}

int vhu_call(struct vhu_conn *c, struct vhu_msg *m, const int *fds, unsigned nfds, struct vhu_msg *reply,
	     char *err, size_t errlen)
{
	if (c->fd < 0)
		return error_set(err, errlen, -ENOTCONN, "vhost-user back end: not connected");
	if (nfds > VHU_MAX_FDS)
		return -EINVAL;
	bool ack = (m->flags & VHU_FLAG_NEED_REPLY) && (c->protocol_features >> VHU_PROTOCOL_F_REPLY_ACK & 1);
	if (!ack)
		m->flags &= ~VHU_FLAG_NEED_REPLY;
	int r = send_msg(c, m, fds, nfds);
	if (r < 0)
		return error_set(err, errlen, r, "vhost-user back end, sending %s: %s", vhu_request_name(m->request),
			 r == -ECONNRESET ? "it closed the connection" : strerror(-r));
	if (vhu_reply_size(m->request) < 0 && !ack)
		return 0;
	struct vhu_msg tmp;
	if (!reply)
		reply = &tmp;
	if ((r = recv_reply(c, m->request, reply, err, errlen)) < 0)
		return r;
	if (ack && vhu_reply_size(m->request) < 0 && reply->p.u64)
		return error_set(err, errlen, -EIO, "vhost-user back end refused %s (status %llu)", vhu_request_name(m->request),
			 (unsigned long long)reply->p.u64);
	return 0;
}

static int get_u64(struct vhu_conn *c, uint32_t request, uint64_t *out, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 }, reply;
	vhu_build(&m, request, false);
	int r = vhu_call(c, &m, NULL, 0, &reply, err, errlen);
	if (r == 0)
		*out = reply.p.u64;
	return r;
}

int vhu_handshake(struct vhu_conn *c, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 };
	vhu_build(&m, VHU_SET_OWNER, false);
	int r = vhu_call(c, &m, NULL, 0, NULL, err, errlen);
	if (r == 0)
		r = get_u64(c, VHU_GET_FEATURES, &c->features, err, errlen);
	if (r < 0)
		return r;
	c->queues = 1;
	if (!(c->features >> VHU_F_PROTOCOL_FEATURES & 1))
		return 0;
	uint64_t offered = 0;
	if ((r = get_u64(c, VHU_GET_PROTOCOL_FEATURES, &offered, err, errlen)) < 0)
		return r;
	uint64_t want = offered & ((1ull << VHU_PROTOCOL_F_REPLY_ACK) | (1ull << VHU_PROTOCOL_F_MQ));
	m.p.u64 = want;
	vhu_build(&m, VHU_SET_PROTOCOL_FEATURES, false);
	if ((r = vhu_call(c, &m, NULL, 0, NULL, err, errlen)) < 0)
		return r;
	c->protocol_features = want;
	if (want >> VHU_PROTOCOL_F_MQ & 1) {
		uint64_t q = 0;
		if ((r = get_u64(c, VHU_GET_QUEUE_NUM, &q, err, errlen)) < 0)
			return r;
		if (q == 0 || q > 1024)
			return error_set(err, errlen, -EPROTO, "vhost-user back end: GET_QUEUE_NUM says %llu queues", (unsigned long long)q);
		c->queues = (uint32_t)q;
	}
	return 0;
}

int vhu_set_mem_table(struct vhu_conn *c, const struct vhu_region *r, const int *fds, unsigned n, char *err,
		      size_t errlen)
{
	if (n == 0 || n > VHU_MAX_REGIONS)
		return error_set(err, errlen, -EINVAL, "vhost-user: %u memory regions (1 to %u)", n, VHU_MAX_REGIONS);
	struct vhu_msg m = { 0 };
	m.p.mem.nregions = n;
	memcpy(m.p.mem.r, r, n * sizeof(*r));
	vhu_build(&m, VHU_SET_MEM_TABLE, true);
	return vhu_call(c, &m, fds, n, NULL, err, errlen);
}

static int vring_fd(struct vhu_conn *c, uint32_t request, uint32_t index, int fd, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 };
	/* the index in the low byte; bit 8: no descriptor (polling), not used by petrel */
	m.p.u64 = index & 0xff;
	vhu_build(&m, request, true);
	return vhu_call(c, &m, &fd, 1, NULL, err, errlen);
}

int vhu_set_vring(struct vhu_conn *c, const struct vhu_vring *q, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 };
	m.p.state.index = q->index;
	m.p.state.num = q->num;
	vhu_build(&m, VHU_SET_VRING_NUM, true);
	int r = vhu_call(c, &m, NULL, 0, NULL, err, errlen);
	if (r < 0)
		return r;
	memset(&m, 0, sizeof(m));
	m.p.addr.index = q->index;
	m.p.addr.desc = q->desc;
	m.p.addr.used = q->used;
	m.p.addr.avail = q->avail;
	vhu_build(&m, VHU_SET_VRING_ADDR, true);
	if ((r = vhu_call(c, &m, NULL, 0, NULL, err, errlen)) < 0)
		return r;
	memset(&m, 0, sizeof(m));
	m.p.state.index = q->index;
	m.p.state.num = q->base;
	vhu_build(&m, VHU_SET_VRING_BASE, true);
	if ((r = vhu_call(c, &m, NULL, 0, NULL, err, errlen)) < 0)
		return r;
	if ((r = vring_fd(c, VHU_SET_VRING_CALL, q->index, q->call_fd, err, errlen)) < 0)
		return r;
	return vring_fd(c, VHU_SET_VRING_KICK, q->index, q->kick_fd, err, errlen);
}

int vhu_enable_vring(struct vhu_conn *c, uint32_t index, bool on, char *err, size_t errlen)
{
	if (!(c->features >> VHU_F_PROTOCOL_FEATURES & 1))
		return 0;
	struct vhu_msg m = { 0 };
	m.p.state.index = index;
	m.p.state.num = on;
	vhu_build(&m, VHU_SET_VRING_ENABLE, true);
	return vhu_call(c, &m, NULL, 0, NULL, err, errlen);
}

int vhu_set_features(struct vhu_conn *c, uint64_t features, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 };
	m.p.u64 = features | (c->features & (1ull << VHU_F_PROTOCOL_FEATURES));
	vhu_build(&m, VHU_SET_FEATURES, true);
	return vhu_call(c, &m, NULL, 0, NULL, err, errlen);
}

int vhu_get_vring_base(struct vhu_conn *c, uint32_t index, uint32_t *base, char *err, size_t errlen)
{
	struct vhu_msg m = { 0 }, reply;
	m.p.state.index = index;
	vhu_build(&m, VHU_GET_VRING_BASE, false);
	int r = vhu_call(c, &m, NULL, 0, &reply, err, errlen);
	if (r == 0 && reply.p.state.index != index)
		r = error_set(err, errlen, -EPROTO, "vhost-user back end: GET_VRING_BASE for queue %u answered for queue %u", index,
			 reply.p.state.index);
	if (r == 0)
		*base = reply.p.state.num;
	return r;
}
