/* What virtio-net's files share (net.c: queues, transmit, life cycle; net_rx.c: receive).
 * Private to src/devices/virtio. */
#ifndef PETREL_DEVICES_VIRTIO_NET_INT_H
#define PETREL_DEVICES_VIRTIO_NET_INT_H

#include "devices/virtio/net/net.h"

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
/* Transmit batches (net_tx_batch.c): the chains of one wakeup's tap frames, written with one
 * io_uring submission. init: 0, or -ENOMEM (no io_uring: n->txb stays NULL, one writev a
 * frame). on: batches are in use. room: c fits in the batch now. add: c joins it (it was
 * admitted by the limiter; VIRTIO_SERVE_FLUSH when the batch is full). flush: write the batch,
 * wait for every write, use the chains; VIRTIO_SERVE_* flags (STOP: the tap is full, the
 * unwritten chains went back to the ring). Device lock held. */
#define NET_TX_BATCH 32
#define NET_TX_BATCH_IOV VIRTQ_MAX_CHAIN
int net_txb_init(struct virtio_net *n);
void net_txb_destroy(struct virtio_net *n);
bool net_txb_on(const struct virtio_net *n);
bool net_txb_room(const struct virtio_net *n, const struct virtq_chain *c);
int net_txb_add(struct virtio_net *n, const struct virtq_chain *c);
int net_txb_flush(struct virtio_net *n);
/* The batches' ring (NULL without io_uring): for tests that make it look as an older kernel's. */
struct io_uring;
struct io_uring *net_txb_ring(struct virtio_net *n);
/* net.c: write one frame to the tap (bytes written or -errno); count a frame's outcome. */
ssize_t net_tx_writev(struct virtio_net *n, const struct iovec *iov, unsigned niov);
void net_tx_count(struct virtio_net *n, ssize_t r, uint64_t len);
/* Answer the control queue's commands through virtio_serve_queue (net_ctrl.c), and interrupt
 * the driver if any was answered. Lock held, on the I/O thread. */
void net_ctrl(struct virtio_net *n);

#endif
