/* What virtio-net's files share (net.c: queues, transmit, life cycle; net_rx.c: receive).
 * Private to src/devices/virtio. */
#ifndef PETREL_DEVICES_VIRTIO_NET_INT_H
#define PETREL_DEVICES_VIRTIO_NET_INT_H

#include "devices/virtio/net.h"

static inline int tap_fd(const struct virtio_net *n)
{
	return n->tap.fd;
}

static inline bool rx_usable(struct virtio_net *n)
{
	return virtio_is_running(&n->vdev) && virtq_is_enabled(&n->vdev.vq[VIRTIO_NET_RXQ]);
}

/* Move frames from the tap (or the bounce buffer) into the receive queue, up to a budget.
 * true: the guest got something (interrupt it). Device lock held. */
bool net_rx(struct virtio_net *n);
/* Forget the first k held receive chains (they were pushed to the used ring). */
void net_drop_held(struct virtio_net *n, unsigned k);
/* Answer the control queue's commands (net_ctrl.c). true: the guest got answers. Lock held. */
bool net_ctrl(struct virtio_net *n);

#endif
