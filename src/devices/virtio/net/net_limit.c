/* virtio-net's rate limiters (Firecracker's rx_rate_limiter and tx_rate_limiter): one
 * RateLimiter per direction, bytes of frames (without the virtio-net header) and frames.
 * A transmit chain the limiter cannot pay for goes back into the ring; a received frame waits
 * in the bounce buffer, and the tap is not read, until the limiter's timer fires. The timers
 * live in the device's own epoll set (net_ready). See net.h. */
#include "devices/virtio/net/net.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

static int watch(struct virtio_net *n, struct rate_limiter *rl)
{
	int err = rate_limiter_make_timer(rl);   /* always: PATCH may add limits later */
	if (err < 0)
		return err;
	struct epoll_event e = { .events = EPOLLIN, .data.fd = rl->timer_fd };
	return epoll_ctl(n->epfd, EPOLL_CTL_ADD, rl->timer_fd, &e) < 0 ? -errno : 0;
}

int net_limit_init(struct virtio_net *n, const struct virtio_net_params *cfg)
{
	uint64_t now = now_ns();
	int err = rate_limiter_init(&n->rx_rl, &cfg->rx_rate_limiter, now);
	if (!err)
		err = rate_limiter_init(&n->tx_rl, &cfg->tx_rate_limiter, now);
	if (!err)
		err = watch(n, &n->rx_rl);
	if (!err)
		err = watch(n, &n->tx_rl);
	return err;
}

void net_limit_destroy(struct virtio_net *n)
{
	rate_limiter_destroy(&n->rx_rl);   /* closing the timers takes them out of the epoll set */
	rate_limiter_destroy(&n->tx_rl);
}

bool net_limit_timer(struct virtio_net *n, int fd)
{
	if (fd == n->rx_rl.timer_fd)
		rate_limiter_timer_event(&n->rx_rl);
	else if (fd == n->tx_rl.timer_fd)
		rate_limiter_timer_event(&n->tx_rl);
	else
		return false;
	return true;
}

int virtio_net_set_rate_limiters(struct virtio_net *n, const struct rate_limiter_config *rx,
				 const struct rate_limiter_config *tx)
{
	pthread_mutex_lock(&n->vdev.lock);
	uint64_t now = now_ns();
	int err = 0;
	/* A bucket given restarts full, one left out is kept (rate_limiter_update); a direction
	 * waiting on its timer is woken at once. */
	if (rx && rx->present)
		err = rate_limiter_update(&n->rx_rl, rx, now);
	if (!err && tx && tx->present)
		err = rate_limiter_update(&n->tx_rl, tx, now);
	pthread_mutex_unlock(&n->vdev.lock);
	return err;
}
