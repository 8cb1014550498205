/* The host side of virtio-vsock: stream connections between the guest's AF_VSOCK sockets and
 * host AF_UNIX sockets, with Firecracker's conventions.
 *
 *   host -> guest: petrel listens on `uds_path`. A host program connects, writes
 *                  "CONNECT <port>\n"; petrel sends the guest a REQUEST for that port from a
 *                  fresh host port P (>= 2^30) and, once the guest answers RESPONSE, writes
 *                  "OK <P>\n" back: from then on the Unix socket is the stream. A RST (nobody
 *                  listens in the guest) or no answer within 2 s closes the Unix socket.
 *   guest -> host: a guest REQUEST to host CID 2, port P connects to the Unix socket
 *                  `<uds_path>_<P>`; RESPONSE if that works, RST if not.
 *
 * The mux knows the packet protocol (virtio 1.2 section 5.10.6: REQUEST, RESPONSE, RST,
 * SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST; credit-based flow control) but nothing of
 * virtqueues: the device hands it each packet the guest sent (vsock_mux_tx) and asks it for
 * the next packet to give the guest (vsock_mux_rx), writing payload straight into the
 * guest's buffers. Everything the guest says is untrusted: unknown connections, ops and
 * types get a RST, packets with foreign CIDs are dropped, a peer that sends more than its
 * credit is reset, and the guest's buf_alloc/fwd_cnt only ever limit what petrel sends.
 * Host-side work (accepting, reading "CONNECT", flushing buffered data, timeouts) runs when
 * the mux's epoll fd is readable (vsock_mux_poll).
 *
 * Not thread-safe: the device calls it with its lock held.
 */
#ifndef PETREL_NET_VSOCK_MUX_H
#define PETREL_NET_VSOCK_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

/* struct virtio_vsock_hdr: little-endian, 44 bytes. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));
#define VSOCK_HDR_LEN 44

#define VSOCK_BUF_ALLOC (128u * 1024)   /* what petrel buffers per connection (our buf_alloc) */
#define VSOCK_MAX_PAYLOAD (64u * 1024)  /* largest RW payload accepted or produced */
#define VSOCK_MAX_CONNS 512
#define VSOCK_CONNECT_TIMEOUT_MS 2000   /* guest answer to a host-initiated REQUEST */
#define VSOCK_CMD_TIMEOUT_MS 30000      /* host client's "CONNECT <port>\n" */
#define VSOCK_CLOSE_TIMEOUT_MS 2000     /* flushing to the host after the guest closed */
#define VSOCK_LOCAL_PORT_BASE (1u << 30)
#define VSOCK_RST_QUEUE 64              /* replies to packets for no connection */

struct vsock_conn;

struct vsock_mux_stats {
	uint64_t conns_host, conns_guest, refused, resets_sent, resets_got;
	uint64_t dropped_cid, bad_packets, credit_violations;
	uint64_t bytes_to_host, bytes_to_guest;
};

struct vsock_mux {
	uint64_t guest_cid;
	char uds_path[108];
	int listen_fd;
	int epfd;                      /* listener, connections, timer */
	int timer_fd;
	bool timer_armed;
	unsigned ndeadlines;           /* connections with a timeout running */
	struct vsock_conn *slots[VSOCK_MAX_CONNS];
	uint32_t slot_gen[VSOCK_MAX_CONNS];
	unsigned nconns;
	struct vsock_conn *hash[1024];
	struct vsock_conn *rxq_head, *rxq_tail;   /* connections with something for the guest */
	struct { uint32_t local_port, peer_port; } rst[VSOCK_RST_QUEUE];
	unsigned rst_head, rst_count;
	uint32_t next_local_port;
	uint64_t (*now_ms)(void);      /* monotonic milliseconds (tests may replace it) */
	struct vsock_mux_stats stats;
	bool gated;                    /* output commit: guest data held per epoch (vsock_gate.c) */
	uint64_t held_bytes;           /* ...bytes held now, over all connections */
};

/* Listen on uds_path (a stale socket file there is replaced). 0 or -errno, logged. */
int vsock_mux_init(struct vsock_mux *m, const char *uds_path, uint64_t guest_cid);
/* Close everything, remove the socket file. */
void vsock_mux_destroy(struct vsock_mux *m);
/* The fd to watch for EPOLLIN (the mux's own epoll set). */
int vsock_mux_fd(const struct vsock_mux *m);
/* The device was reset: drop every connection (host sockets are closed). */
void vsock_mux_reset(struct vsock_mux *m);
/* Host-side events: accept, CONNECT lines, socket readiness, timeouts. */
void vsock_mux_poll(struct vsock_mux *m);
/* One packet from the guest. `payload` holds exactly h->len bytes (the device checked the
 * chain has them); h->op VSOCK_OP_INVALID marks a packet the device found malformed. */
void vsock_mux_tx(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *payload, unsigned niov);
/* Whether vsock_mux_rx may have a packet. */
bool vsock_mux_has_rx(const struct vsock_mux *m);
/* Produce the next packet for the guest: fills *h, writes h->len <= room payload bytes into
 * the iovecs. 1: a packet; 0: nothing to send now. */
int vsock_mux_rx(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *payload, unsigned niov, size_t room);

/* Output commit while the VM is replicated (vsock_gate.c; util/outgate.h holds the console and
 * the network the same way). With the gate up, data the guest sends to host sockets is kept in
 * each connection's buffer (it still counts against the guest's credit) until the epoch it was
 * sent in is released. Connection set-up and close are not held. */
/* Up: hold from now on. Down: release everything held and pass data straight through. */
void vsock_mux_gate(struct vsock_mux *m, bool up);
/* End epoch n (the guest paused at a checkpoint): what was sent so far belongs to it. */
void vsock_mux_close_epoch(struct vsock_mux *m, uint64_t n);
/* The standby has every checkpoint up to epoch n: let their data go to the host. */
void vsock_mux_release(struct vsock_mux *m, uint64_t n);

#endif
