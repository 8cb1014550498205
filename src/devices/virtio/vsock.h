/* virtio-vsock (virtio 1.2 section 5.10), served in user space: the device moves packets
 * between the virtqueues and the host-side connection mux (src/vsock/vsock_mux.c), which
 * speaks to Unix sockets with Firecracker's conventions.
 *
 * Queues: 0 = rx (device -> driver packets), 1 = tx (driver -> device), 2 = event (buffers
 * kept; no event is ever sent). Configuration space: le64 guest_cid. Stream sockets only
 * (no VIRTIO_VSOCK_F_SEQPACKET). All work runs on the I/O thread under the device lock.
 */
#ifndef PETREL_DEVICES_VIRTIO_VSOCK_H
#define PETREL_DEVICES_VIRTIO_VSOCK_H

#include "devices/virtio/virtio.h"
#include "vsock/vsock_mux.h"

#define VIRTIO_VSOCK_RXQ 0
#define VIRTIO_VSOCK_TXQ 1
#define VIRTIO_VSOCK_EVQ 2
#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_CONFIG_LEN 8

/* Guest-visible state beyond struct virtio_state. (Connections are host-side state that a
 * snapshot does not carry: a restored guest gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET.) */
struct vsock_state {
	uint64_t guest_cid;
};

struct virtio_vsock_stats {
	uint64_t tx_packets, rx_packets, malformed, bad_bufs;
};

struct virtio_vsock {
	struct virtio_dev vdev;
	struct vsock_state st;
	struct vsock_mux mux;
	bool mux_ready;
	bool rx_waiting;                 /* the mux has packets but the driver gave no buffers */
	struct virtq_chain chain;
	struct iovec payload[VIRTQ_MAX_CHAIN];
	struct virtio_vsock_stats stats;
};

/* After a restore: the host-side connections are gone; tell the driver so it drops its own
 * (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue) and re-reads the guest CID. */
void virtio_vsock_transport_reset(struct virtio_vsock *v);
/* What a virtio-vsock device is made from (vm/device_params.c fills it from the definition). */
struct virtio_vsock_params {
	uint32_t guest_cid;           /* >= 3 */
	const char *uds_path;         /* the host's Unix socket (Firecracker's hybrid vsock) */
};

int virtio_vsock_create(struct virtio_vsock *v, const struct virtio_vsock_params *cfg,
			const struct guest_mem *mem, struct io_thread *io);

/* Split a driver->device chain into the packet header and its payload (pure; fuzzed).
 * 0: *h and payload[0..*niov) (exactly h->len bytes) are set; -EINVAL: fewer than 44
 * readable bytes; -EMSGSIZE: h->len larger than the readable payload or VSOCK_MAX_PAYLOAD
 * (*h is still set, so the connection can be reset). */
int virtio_vsock_parse_tx(const struct virtq_chain *c, struct vsock_hdr *h, struct iovec *payload, unsigned *niov);

/* Run pending work now (what the I/O thread does when the mux's fd is ready); takes the lock. */
void virtio_vsock_poll(struct virtio_vsock *v);

/* Output commit while the VM is replicated (vsock_mux_gate and friends, under the device
 * lock; a release also gives the guest the credit its released bytes free). */
void virtio_vsock_gate(struct virtio_vsock *v, bool up);
void virtio_vsock_close_epoch(struct virtio_vsock *v, uint64_t n);
void virtio_vsock_release(struct virtio_vsock *v, uint64_t n);
/* Bytes held now. */
uint64_t virtio_vsock_held(struct virtio_vsock *v);

/* Its counters for the metrics ("vsock"). */
struct dev_stats_ops;
extern const struct dev_stats_ops virtio_vsock_stats_ops;

#endif
