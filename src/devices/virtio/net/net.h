/* virtio-net (virtio 1.x section 5.1) over a host tap device with the vnet header.
 *
 * Queues: 0 = receive (tap -> guest), 1 = transmit (guest -> tap), 2 = control (only the
 * guest's acknowledgement of an announcement: net_ctrl.c); one queue pair. Offered: MAC (when
 * configured), STATUS (link always up), MTU (when configured), MRG_RXBUF, CSUM / GUEST_CSUM,
 * HOST_TSO4/6 + HOST_ECN, GUEST_TSO4/6 + GUEST_ECN, CTRL_VQ + GUEST_ANNOUNCE, EVENT_IDX,
 * INDIRECT_DESC. What the driver accepts of the GUEST_* offloads goes to the tap with
 * TUNSETOFFLOAD; transmitted frames go to the tap as the driver built them (header included),
 * and the kernel checks their headers.
 *
 * Both directions run on the I/O thread. Receive reads a frame straight into the driver's
 * buffers when they can hold the largest frame the tap may deliver, else into a bounce buffer
 * that is copied once enough buffers arrive. When the driver has no buffers, petrel stops
 * reading the tap (the frames wait in the tap's queue) until the driver adds some and
 * notifies the receive queue. Transmit stops while the tap refuses writes (EAGAIN) and resumes
 * when it is writable. The frames of one wakeup go to the tap in batches, one io_uring_enter
 * per batch, their chains used only when every write of the batch completed (net_tx_batch.c);
 * without io_uring, one writev per frame.
 */
#ifndef PETREL_DEVICES_VIRTIO_NET_H
#define PETREL_DEVICES_VIRTIO_NET_H

#include "devices/virtio/virtio.h"
#include "net/tap.h"
#include "util/rate_limiter.h"

#include <sys/uio.h>

#define VIRTIO_NET_ID_MAX 64      /* the longest iface_id kept (the definition allows DEVICES_ID_MAX) */

/* Feature bits (5.1.3) */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21

#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* Control queue commands (5.1.6.5): only the announcement's acknowledgement (net_ctrl.c). */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_CTRLQ 2
#define VIRTIO_NET_NQUEUES 3
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_CONFIG_LEN 12   /* mac[6], status, max_virtqueue_pairs, mtu */
#define VIRTIO_NET_HDR_LEN 12      /* struct virtio_net_hdr_v1 (with num_buffers) */
/* Largest frame the tap hands out when segmentation offloads are on: a 64 KiB IP packet,
 * Ethernet + VLAN header, and the vnet header. */
#define VIRTIO_NET_MAX_FRAME (VIRTIO_NET_HDR_LEN + 65535 + 18)
/* Receive buffers held between frames (popped from the ring, not yet used). */
#define VIRTIO_NET_RX_HELD 64
#define VIRTIO_NET_RX_IOV 1024

/* Guest-visible state beyond struct virtio_state. */
struct net_state {
	uint8_t mac[6];
	bool has_mac;
	uint16_t status;
	uint16_t mtu;          /* 0: VIRTIO_NET_F_MTU not offered */
};

/* A receive chain popped from the ring and not yet returned. */
struct net_rx_held {
	uint16_t head;
	uint32_t cap;          /* writable bytes */
	unsigned iov_first, niov;   /* in rx_iov */
};

struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped, rx_bad_bufs, rx_errors;
	uint64_t tx_frames, tx_bytes, tx_errors, tx_malformed;
	uint64_t rx_blocked, tx_blocked;   /* times each direction had to wait */
	uint64_t tx_submits;               /* io_uring submissions of transmit batches */
	uint64_t announce_acks, ctrl_bad;  /* control queue: acknowledged announcements, refused */
};

struct outgate;
struct net_mmds;
struct net_tx_batch;

struct virtio_net {
	struct virtio_dev vdev;
	struct net_state st;
	char iface_id[VIRTIO_NET_ID_MAX + 1];
	struct tap tap;
	struct outgate *gate;  /* while replicated: transmitted frames held per epoch (util/outgate.h) */
	struct net_mmds *mmds; /* this interface answers MMDS (net_mmds.h), or NULL */
	bool is_tap;           /* false: a datagram socket stands in (unit tests) */
	int epfd;              /* private epoll set holding the tap fd (watched by the I/O thread) */
	uint32_t tap_events;   /* current interest in epfd */
	bool rx_waiting;       /* no receive buffers: not reading the tap */
	bool tx_waiting;       /* the tap refused a write: waiting for EPOLLOUT */
	uint32_t rx_max;       /* largest frame (with header) the tap may deliver now */

	struct net_rx_held held[VIRTIO_NET_RX_HELD];
	unsigned nheld;
	struct iovec rx_iov[VIRTIO_NET_RX_IOV];
	unsigned rx_niov;

	uint8_t *bounce;       /* VIRTIO_NET_MAX_FRAME bytes */
	uint32_t bounce_len;   /* a frame waits in bounce when non-zero */
	bool bounce_paid;      /* ...and the receive rate limiter has charged for it */

	struct net_tx_batch *txb;   /* transmit batches (net_tx_batch.c); NULL: one writev a frame */
	struct virtq_chain chain;   /* scratch */
	struct virtio_net_stats stats;
	struct rate_limiter rx_rl, tx_rl;   /* rx_rate_limiter, tx_rate_limiter (net_limit.c) */
};

/* What a virtio-net device is made from (vm/device_params.c fills it from the definition). */
struct virtio_net_params {
	const char *iface_id;
	const char *host_dev_name;    /* the tap (virtio_net_create) */
	bool has_mac;
	uint8_t guest_mac[6];
	bool has_mtu;
	uint32_t mtu;                 /* 68..65535 */
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

/* Open the tap and set up the device (no transport yet). */
int virtio_net_create(struct virtio_net *n, const struct virtio_net_params *cfg, unsigned index,
		      const struct guest_mem *mem, struct io_thread *io);
/* The same over an already-open file descriptor that reads and writes whole frames with the
 * vnet header (a SOCK_DGRAM/SOCK_SEQPACKET socket in tests); no offload ioctls. Takes fd. */
int virtio_net_create_fd(struct virtio_net *n, const struct virtio_net_params *cfg, unsigned index, int fd,
			 const struct guest_mem *mem, struct io_thread *io);
/* Put one frame (a zeroed vnet header first, len bytes in all) into the receive queue now
 * (net_mmds.c). Device lock held. 1: delivered (or dropped as too large for a driver without
 * mergeable buffers), 0: no buffers (the driver's next receive notification retries). *pushed
 * is set when used buffers were published (the caller interrupts). */
int virtio_net_inject(struct virtio_net *n, uint8_t *frame, uint32_t len, bool *pushed);
/* net_limit.c: the rate limiters. Set up from the config (timers in the device's epoll set)
 * (a frame may go when rate_limiter_admit says so); timer: fd is one of the
 * limiters' timers (read, the direction may go on); set: new limits at run time (PATCH; a
 * config not present leaves that direction as it is). */
int net_limit_init(struct virtio_net *n, const struct virtio_net_params *cfg);
void net_limit_destroy(struct virtio_net *n);
bool net_limit_timer(struct virtio_net *n, int fd);
int virtio_net_set_rate_limiters(struct virtio_net *n, const struct rate_limiter_config *rx,
				 const struct rate_limiter_config *tx);
/* Whether transmit batches write with RWF_NOWAIT (net_tx_batch.c: a tap that does not take it,
 * as Linux 6.1's, turns it off at the first batch); keep false turns it off now, as on such a
 * kernel (for tests on kernels whose tap takes it). */
bool virtio_net_tx_nowait(struct virtio_net *n, bool keep);
/* Run the receive/transmit work now (what the I/O thread does when the tap is ready);
 * takes the device lock. For tests that drive the device without an I/O thread. */
void virtio_net_poll(struct virtio_net *n);

/* After a migration or failover: ask the guest to announce itself (VIRTIO_NET_S_ANNOUNCE and a
 * configuration interrupt). false when its driver did not take GUEST_ANNOUNCE (petrel's RARP
 * is then all the network hears). Takes the device lock. */
bool virtio_net_request_announce(struct virtio_net *n);

/* Its counters for the metrics ("net", "net_ID"; devices/dev_stats.h). */
struct dev_stats_ops;
extern const struct dev_stats_ops virtio_net_stats_ops;

#endif
