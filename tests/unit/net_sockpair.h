/* A virtio-net device over a Unix datagram socket pair standing in for the tap (one datagram =
 * one frame with its vnet header, EAGAIN when the far end's queue is full, as a full tap),
 * started with VERSION_1 | features: test_net_limit.c, test_net_tx_batch.c. Include after
 * fake_ring.h (its guest memory). */
#ifndef PETREL_TESTS_UNIT_NET_SOCKPAIR_H
#define PETREL_TESTS_UNIT_NET_SOCKPAIR_H

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

/* sndbuf: the device end's SO_SNDBUF (0: the default); *peer: the far end. 0 or -errno. */
static inline int net_on_socketpair(struct virtio_net *n, int *peer, const struct rate_limiter_config *rx,
				    const struct rate_limiter_config *tx, int sndbuf, uint64_t features)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	if (sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp" };
	if (rx)
		cfg.rx_rate_limiter = *rx;
	if (tx)
		cfg.tx_rate_limiter = *tx;
	int err = virtio_net_create_fd(n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, NULL);
	if (err < 0) {
		close(sv[1]);
		return err;
	}
	*peer = sv[1];
	start(&n->vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | features, 2);
	return 0;
}

#endif
