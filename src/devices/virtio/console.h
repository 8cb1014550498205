/* virtio-console (virtio 1.2 section 5.3) with VIRTIO_CONSOLE_F_MULTIPORT: named ports, each a
 * byte stream between the guest (/dev/virtio-ports/NAME in Linux) and a back end on the host
 * (docs/guest-agent.md). The QEMU guest agent talks over the port "org.qemu.guest_agent.0".
 *
 * Queues: 0/1 port 0's receive/transmit, 2/3 the control queues (receive: device -> driver,
 * transmit: driver -> device), then 4+2(n-1) / 5+2(n-1) for port n >= 1. Port 0, the console
 * port, has no back end: what the guest writes there is dropped, and it is never announced.
 * Configuration space: le16 cols, le16 rows, le32 max_nr_ports (ports + 1), le32 emerg_wr.
 *
 * A port's back end is a connected stream fd (non-blocking) served on the I/O thread: bytes
 * from the guest's transmit queue are written to it; bytes read from it go to the guest's
 * receive buffers, and only while the guest has the port open (a bounded buffer,
 * VCON_BUF_SIZE, of bytes already read; the rest waits in the fd). Back-pressure both ways:
 * a full fd stops the transmit queue (EPOLLOUT resumes it, the chain written so far is
 * remembered by its byte count), a full buffer or no open stops the reads.
 *
 * Control messages (le32 id, le16 event, le16 value) from the driver are untrusted: an unknown
 * event or port, or one out of order, is counted and refused (log_limited). The device
 * answers DEVICE_READY with DEVICE_ADD for each port, PORT_READY with PORT_NAME and, while the
 * host side is connected, PORT_OPEN 1 (0 when it goes). What the device has to say is derived
 * from each port's state (announced, named, what the guest was told of the host side), so the
 * messages pending are bounded by the ports, whatever the driver sends.
 *
 * Threads: everything runs on the I/O thread under vdev.lock, except
 * virtio_console_port_guest_open (an atomic read). */
#ifndef PETREL_DEVICES_VIRTIO_CONSOLE_H
#define PETREL_DEVICES_VIRTIO_CONSOLE_H

#include "devices/virtio/virtio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Control events (5.3.6.2) */
#define VIRTIO_CONSOLE_DEVICE_READY 0
#define VIRTIO_CONSOLE_DEVICE_ADD 1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY 3
#define VIRTIO_CONSOLE_CONSOLE_PORT 4
#define VIRTIO_CONSOLE_RESIZE 5
#define VIRTIO_CONSOLE_PORT_OPEN 6
#define VIRTIO_CONSOLE_PORT_NAME 7

#define VCON_MAX_PORTS 17                /* port 0 and 16 named ones (CONSOLE_PORTS_MAX) */
#define VCON_NAME_MAX 127
#define VCON_BUF_SIZE 65536              /* bytes read from a back end, waiting for the guest */
#define VCON_QUEUE_SIZE 128
#define VCON_CTRL_RXQ 2
#define VCON_CTRL_TXQ 3
#define VCON_CONFIG_LEN 12
#define VCON_CTRL_HDR 8                  /* le32 id, le16 event, le16 value */

/* Port n's queues. */
#define VCON_RXQ(n) ((n) == 0 ? 0u : 4u + 2u * ((n) - 1u))
#define VCON_TXQ(n) (VCON_RXQ(n) + 1u)

/* What a port is made from. socket_path: the device listens there (0600, in the jail), one
 * connection at a time; host connected while a client is attached (PORT_OPEN value 1/0 sent
 * to the guest). fd >= 0 instead: a connected fd the device owns from then on (the worker's
 * guest agent gives one end of a socketpair). Neither: a port with no back end. */
struct vcon_port_params {
	const char *name;
	int fd;
	const char *socket_path;
};

/* One port's guest-visible state (saved in VCON). */
struct vcon_port_state {
	char name[VCON_NAME_MAX + 1];
	bool announced;        /* DEVICE_ADD sent */
	bool ready;            /* the driver answered PORT_READY 1 */
	bool named;            /* PORT_NAME sent */
	bool told_open;        /* the last PORT_OPEN the driver got: the host side connected */
	bool guest_open;       /* the driver's PORT_OPEN: atomic (virtio_console_port_guest_open) */
	uint32_t tx_done;      /* bytes of the transmit queue's next chain already written */
};

struct virtio_console;
struct vcon_port {
	struct vcon_port_state st;
	struct virtio_console *owner;
	unsigned index;        /* its port number */
	/* The host side (not saved: made again after a restore). */
	int fd;                /* the connection, -1: none */
	int listen_fd;         /* socket ports: the listening socket, -1: none */
	char *socket_path;     /* socket ports */
	bool owns_path;        /* we made the socket file: unlink it at the end */
	bool watched;          /* fd is on the I/O thread */
	uint32_t events;       /* what it is watched for now */
	bool hup;              /* the peer hung up while the buffer was full: read the rest later */
	bool tx_blocked;       /* the fd was full: the transmit queue waits for EPOLLOUT */
	bool rx_waiting;       /* bytes for the driver but no buffer: wait for its kick */
	bool resend_open;      /* after a restore: tell the driver the host side's state again */
	/* Bytes read from fd for the driver (a ring of VCON_BUF_SIZE; saved). */
	uint8_t *buf;
	size_t head, len;
	uint64_t rx_bytes, tx_bytes, dropped;  /* statistics */
};

struct vcon_stats {
	uint64_t ctrl_in, ctrl_out, ctrl_bad, connects;
};

struct virtio_console {
	struct virtio_dev vdev;
	bool device_ready;     /* DEVICE_READY seen (saved) */
	bool ctrl_waiting;     /* control messages to send, no buffer: wait for the kick */
	unsigned nports;       /* ports in all, port 0 included */
	struct vcon_port ports[VCON_MAX_PORTS];
	struct virtq_chain chain;
	struct vcon_stats stats;
};

int virtio_console_create(struct virtio_console *c, const struct vcon_port_params *ports, unsigned nports,
			  struct guest_mem *mem, struct io_thread *io, char *err, size_t errlen);
/* Whether the guest has the port named `name` open (false for no such port). Thread-safe. */
bool virtio_console_port_guest_open(struct virtio_console *c, const char *name);

/* Its counters for the metrics ("console"). */
struct dev_stats_ops;
extern const struct dev_stats_ops virtio_console_stats_ops;

#endif
