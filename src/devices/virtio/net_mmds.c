/* See net_mmds.h. */
#include "devices/virtio/net_mmds.h"
#include "mmds/stack.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MMDS_RX_BUDGET 64                /* frames per call before others get a turn */
#define VNET_F_NEEDS_CSUM 1
#define PEEK (VIRTIO_NET_HDR_LEN + ETH_HDR_LEN + ARP_LEN)   /* enough to classify a frame */

struct net_mmds {
	struct mmds_stack stack;
	int timerfd;
	uint8_t *frame;                  /* a transmitted frame, linear (VIRTIO_NET_MAX_FRAME) */
	uint8_t out[VIRTIO_NET_HDR_LEN + MMDS_FRAME_MAX];
	uint32_t out_len;                /* a reply waiting for receive buffers when non-zero */
	int64_t armed_at;                /* the timer's deadline (ms, mmds_now_ms), -1: disarmed */
};

int net_mmds_enable(struct virtio_net *n, struct mmds *svc, uint32_t ip)
{
	struct net_mmds *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->timerfd = -1;
	m->armed_at = -1;
	m->frame = malloc(VIRTIO_NET_MAX_FRAME);
	int err = m->frame ? mmds_stack_init(&m->stack, svc, ip) : -ENOMEM;
	if (err == 0) {
		m->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		struct epoll_event e = { .events = EPOLLIN, .data.fd = m->timerfd };
		if (m->timerfd < 0 || epoll_ctl(n->epfd, EPOLL_CTL_ADD, m->timerfd, &e) < 0)
			err = -errno;
	}
	pthread_mutex_lock(&n->vdev.lock);
	if (err == 0)
		n->mmds = m;
	pthread_mutex_unlock(&n->vdev.lock);
	if (err < 0) {
		if (m->timerfd >= 0)
			close(m->timerfd);
		mmds_stack_free(&m->stack);
		free(m->frame);
		free(m);
		return err;
	}
	log_info("%s: answers MMDS at %u.%u.%u.%u", n->vdev.name, ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
	return 0;
}

void net_mmds_destroy(struct virtio_net *n)
{
	struct net_mmds *m = n->mmds;
	if (!m)
		return;
	n->mmds = NULL;
	if (m->timerfd >= 0) {
		if (n->epfd >= 0)
			epoll_ctl(n->epfd, EPOLL_CTL_DEL, m->timerfd, NULL);
		close(m->timerfd);
	}
	mmds_stack_free(&m->stack);
	free(m->frame);
	free(m);
}

int net_mmds_timer_fd(const struct virtio_net *n)
{
	return n->mmds ? n->mmds->timerfd : -1;
}

void net_mmds_timer(struct virtio_net *n)
{
	uint64_t ticks;
	n->mmds->armed_at = -1;   /* it fired: the next net_mmds_rx arms it again if needed */
	if (read(n->mmds->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("%s: MMDS timer: %s", n->vdev.name, strerror(errno));
}

/* Copy up to cap bytes of the chain's readable part into buf; the bytes copied. */
static size_t gather(const struct virtq_chain *c, uint8_t *buf, size_t cap)
{
	size_t off = 0;
	for (unsigned i = 0; i < c->n_out && off < cap; i++) {
		size_t k = c->iov[i].iov_len;
		if (!k)
			continue;   /* empty descriptors have no address */
		if (k > cap - off)
			k = cap - off;
		memcpy(buf + off, c->iov[i].iov_base, k);
		off += k;
	}
	return off;
}

bool net_mmds_tx(struct virtio_net *n, const struct virtq_chain *c)
{
	struct net_mmds *m = n->mmds;
	uint8_t head[PEEK];
	size_t got = gather(c, head, sizeof(head));
	if (got <= VIRTIO_NET_HDR_LEN ||
	    !mmds_stack_wants(&m->stack, head + VIRTIO_NET_HDR_LEN, got - VIRTIO_NET_HDR_LEN))
		return false;
	size_t len = gather(c, m->frame, VIRTIO_NET_MAX_FRAME);
	bool csum_partial = (m->frame[0] & VNET_F_NEEDS_CSUM) != 0;
	mmds_stack_rx(&m->stack, m->frame + VIRTIO_NET_HDR_LEN, len - VIRTIO_NET_HDR_LEN, csum_partial,
		      mmds_now_ms());
	return true;
}

/* Only when the deadline changes: this runs on every wake-up of the device. */
static void arm_timer(struct net_mmds *m, uint64_t now)
{
	int64_t ms = mmds_stack_next_timer(&m->stack, now);
	int64_t at = ms < 0 ? -1 : (int64_t)now + ms;
	if (at == m->armed_at)
		return;
	m->armed_at = at;
	struct itimerspec its = { 0 };
	if (ms >= 0) {
		if (ms == 0)
			ms = 1;   /* 0 would disarm */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	timerfd_settime(m->timerfd, 0, &its, NULL);
}

bool net_mmds_rx(struct virtio_net *n)
{
	struct net_mmds *m = n->mmds;
	bool pushed = false;
	uint64_t now = mmds_now_ms();
	if (!virtio_is_running(&n->vdev))
		return false;
	for (unsigned budget = MMDS_RX_BUDGET;; budget--) {
		if (!budget) {
			virtio_queue_kick(&n->vdev, VIRTIO_NET_RXQ);   /* more next turn */
			break;
		}
		if (!m->out_len) {
			size_t len = mmds_stack_tx(&m->stack, m->out + VIRTIO_NET_HDR_LEN, now);
			if (!len)
				break;
			memset(m->out, 0, VIRTIO_NET_HDR_LEN);
			m->out_len = (uint32_t)(VIRTIO_NET_HDR_LEN + len);
		}
		if (!virtio_net_inject(n, m->out, m->out_len, &pushed))
			break;   /* no buffers: it waits for the driver's */
		m->out_len = 0;
	}
	arm_timer(m, now);
	return pushed;
}
