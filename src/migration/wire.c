#include "migration/wire.h"
#include "util/error.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int send_msg(int fd, int flags, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct mig_hdr h = { .type = type, .len = alen + blen };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen } };
	struct iovec *v = iov;
	int n = 3;
	while (n > 0) {
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int mig_send(int fd, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	return send_msg(fd, 0, type, a, alen, b, blen);
}

int mig_recv_all(int fd, void *buf, size_t n, int timeout_ms)
{
	uint8_t *p = buf;
	while (n) {
		if (timeout_ms >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			int r = poll(&pf, 1, timeout_ms);
			if (r == 0)
				return -ETIMEDOUT;
			if (r < 0 && errno == EINTR)
				continue; /* poll again: recv on this blocking socket would wait without limit */
			if (r < 0)
				return -errno;
		}
		ssize_t r = recv(fd, p, n, 0);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint64_t limit_of(uint32_t type)
{
	switch (type) {
	case MIG_HELLO: return sizeof(struct mig_hello);
	case MIG_DEFN: case MIG_STATE: return MIG_MAX_STATE;
	case MIG_READY: return 0;
	case MIG_PAGES: return sizeof(struct mig_pages) + MIG_MAX_RUN * 4096ull;
	case MIG_ROUND: return sizeof(struct mig_round);
	case MIG_GO: return sizeof(struct mig_go);
	case MIG_DONE: return sizeof(uint64_t);
	case MIG_POSTCOPY: return MIG_MAX_BITMAP;
	case MIG_REQUEST: return sizeof(uint64_t);
	case MIG_END: return 0;
	case MIG_CKPT: case MIG_CEND: case MIG_CACK: case MIG_RELS: return sizeof(struct mig_ckpt);
	case MIG_COUT: return MIG_MAX_COUT;
	case MIG_RCFG: return sizeof(struct mig_repl_cfg);
	case MIG_DISK: return sizeof(struct mig_disk) + MIG_MAX_DISK_RUN;
	case MIG_FAIL: return MIG_MAX_TEXT;
	default: return UINT64_MAX;
	}
}

int mig_recv_hdr(int fd, struct mig_hdr *h, int timeout_ms, char *err, size_t errlen)
{
	int e = mig_recv_all(fd, h, sizeof(*h), timeout_ms);
	if (e < 0)
		return error_set(err, errlen, e, "%s",
				 e == -ECONNRESET          ? "the other side closed the connection"
					 : e == -ETIMEDOUT ? "the other side went silent"
							   : strerror(-e));
	uint64_t lim = limit_of(h->type);
	if (lim == UINT64_MAX || h->len > lim || h->flags)
		return error_set(err, errlen, -EPROTO,
				 "malformed migration stream: message %#x of %llu bytes", h->type,
				 (unsigned long long)h->len);
	return 0;
}

void mig_send_fail(int fd, const char *why)
{
	size_t n = strlen(why);
	/* Without waiting: a peer that reads no more must not hold up the way out (a source's
	 * guest stays paused from the switch until it is said). */
	send_msg(fd, MSG_DONTWAIT, MIG_FAIL, why, n < MIG_MAX_TEXT ? n : MIG_MAX_TEXT, NULL, 0);
}

void mig_recv_fail(int fd, const struct mig_hdr *h, char *why, size_t whylen)
{
	char buf[MIG_MAX_TEXT + 1];
	size_t n = (size_t)h->len;
	if (mig_recv_all(fd, buf, n, 5000) < 0)
		n = 0;
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20)
			buf[i] = '?'; /* the peer's words go into our log and API: printable only */
	snprintf(why, whylen, "%s", n ? buf : "(no reason given)");
}
