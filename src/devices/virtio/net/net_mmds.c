/* See net_mmds.h. */
#include "devices/virtio/net/net_mmds.h"
#include "mmds/port.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MMDS_RX_BUDGET 64                /* frames per call before others get a turn */
#define VNET_F_NEEDS_CSUM 1
#define PEEK (VIRTIO_NET_HDR_LEN + ETH_HDR_LEN + ARP_LEN)   /* enough to classify a frame */

struct net_mmds {
	struct mmds_port port;
	uint8_t *frame;                  /* a transmitted frame, linear (VIRTIO_NET_MAX_FRAME) */
	uint8_t out[VIRTIO_NET_HDR_LEN + MMDS_FRAME_MAX];
	uint32_t out_len;                /* a reply waiting for receive buffers when non-zero */
};

int net_mmds_enable(struct virtio_net *n, struct mmds *svc, uint32_t ip)
{
	struct net_mmds *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->frame = malloc(VIRTIO_NET_MAX_FRAME);
	int err = m->frame ? mmds_port_init(&m->port, svc, ip, n->epfd) : -ENOMEM;
	if (err < 0) {
		free(m->frame);
		free(m);
		return err;
	}
	pthread_mutex_lock(&n->vdev.lock);
	n->mmds = m;
	pthread_mutex_unlock(&n->vdev.lock);
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
	mmds_port_free(&m->port, n->epfd);
	free(m->frame);
	free(m);
}

int net_mmds_timer_fd(const struct virtio_net *n)
{
	return n->mmds ? n->mmds->port.timerfd : -1;
}

void net_mmds_timer(struct virtio_net *n)
{
	mmds_port_timer_fired(&n->mmds->port, n->vdev.name);
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

bool net_mmds_wants(struct virtio_net *n, const struct virtq_chain *c)
{
	uint8_t head[PEEK];
	size_t got = gather(c, head, sizeof(head));
	return got > VIRTIO_NET_HDR_LEN &&
	       mmds_stack_wants(&n->mmds->port.stack, head + VIRTIO_NET_HDR_LEN, got - VIRTIO_NET_HDR_LEN);
}

void net_mmds_tx(struct virtio_net *n, const struct virtq_chain *c)
{
	struct net_mmds *m = n->mmds;
	size_t len = gather(c, m->frame, VIRTIO_NET_MAX_FRAME);
	bool csum_partial = (m->frame[0] & VNET_F_NEEDS_CSUM) != 0;
	mmds_stack_rx(&m->port.stack, m->frame + VIRTIO_NET_HDR_LEN, len - VIRTIO_NET_HDR_LEN, csum_partial,
		      mmds_now_ms());
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
			size_t len = mmds_stack_tx(&m->port.stack, m->out + VIRTIO_NET_HDR_LEN, now);
			if (!len)
				break;
			memset(m->out, 0, VIRTIO_NET_HDR_LEN);
			m->out_len = (uint32_t)(VIRTIO_NET_HDR_LEN + len);
		}
		if (!virtio_net_inject(n, m->out, m->out_len, &pushed))
			break;   /* no buffers: it waits for the driver's */
		m->out_len = 0;
	}
	mmds_port_arm(&m->port, now);
	return pushed;
}
