/* virtio-net's control queue (virtio 1.2 section 5.1.6.5), offered for one command: the
 * guest's acknowledgement that it announced itself (VIRTIO_NET_F_GUEST_ANNOUNCE). After a
 * migration or a failover petrel sets VIRTIO_NET_S_ANNOUNCE in the status field and raises a
 * configuration interrupt; a Linux guest then sends gratuitous ARPs (and IPv6 neighbour
 * advertisements) for every address it has, VLANs and bonds included, which petrel's own RARP
 * for the MAC cannot, and acknowledges with VIRTIO_NET_CTRL_ANNOUNCE_ACK.
 *
 * Every other class is answered VIRTIO_NET_ERR: petrel offers none of the features that would
 * let a driver send them (CTRL_RX, CTRL_VLAN, MQ, CTRL_MAC_ADDR, CTRL_GUEST_OFFLOADS). A command
 * is a readable header {u8 class, u8 command} with its data, then one writable ack byte; a
 * chain without room for the ack is returned with nothing written. */
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_int.h"
#include "util/log.h"

#include <stdint.h>

#define CTRL_BUDGET 64 /* commands a turn; the rest after the other queues had theirs */

static uint8_t handle(struct virtio_net *n, const struct virtq_chain *c)
{
	uint8_t hdr[2];
	if (virtq_chain_read(c, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
		n->stats.ctrl_bad++;
		return VIRTIO_NET_ERR;
	}
	if (hdr[0] == VIRTIO_NET_CTRL_ANNOUNCE && hdr[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK &&
	    virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
		n->st.status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		n->stats.announce_acks++;
		return VIRTIO_NET_OK;
	}
	n->stats.ctrl_bad++;
	return VIRTIO_NET_ERR;
}

static int serve_one(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	uint32_t written = 0;
	uint8_t ack = handle(ctx, c);
	if (c->in_len && virtq_chain_write(c, c->in_len - 1, &ack, 1) == 1)
		written = (uint32_t)c->in_len; /* the ack is the chain's last writable byte */
	virtq_push(&d->vq[q], c->head, written);
	return VIRTIO_SERVE_PUSHED;
}

void net_ctrl(struct virtio_net *n)
{
	virtio_serve_queue(&n->vdev, VIRTIO_NET_CTRLQ, &n->chain, CTRL_BUDGET, serve_one, n);
}

bool virtio_net_request_announce(struct virtio_net *n)
{
	pthread_mutex_lock(&n->vdev.lock);
	bool asked = virtio_is_running(&n->vdev) && virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE);
	if (asked) {
		n->st.status |= VIRTIO_NET_S_ANNOUNCE;
		virtio_config_changed(&n->vdev);
	}
	pthread_mutex_unlock(&n->vdev.lock);
	return asked;
}
