/* What the three parts of the vsock host side share: vsock_mux.c (connections: bookkeeping,
 * flow control, life cycle), vsock_host.c (host sockets: set-up, data to the host, events) and
 * vsock_packets.c (the packets the guest sends and receives). Private to them. */
#ifndef PETREL_NET_VSOCK_MUX_INT_H
#define PETREL_NET_VSOCK_MUX_INT_H

#include "vsock/vsock_mux.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum conn_state {
	CONN_AWAIT_CMD,    /* host client connected, "CONNECT <port>\n" not read yet (not hashed) */
	CONN_CONNECTING,   /* host-initiated: REQUEST sent or queued, waiting for RESPONSE */
	CONN_ESTABLISHED,
	CONN_CLOSING,      /* going away: host socket flushing, or a RST on its way to the guest */
};

/* Packets a connection owes the guest. */
#define P_REQUEST 0x01
#define P_RESPONSE 0x02
#define P_SHUTDOWN 0x04
#define P_CREDIT_UPDATE 0x08
#define P_RST 0x10

#define ID_LISTENER UINT64_MAX
#define ID_TIMER (UINT64_MAX - 1)
#define VSOCK_GATE_MARKS 4  /* epochs a connection tracks apart; older ones merge into the last */
#define CREDIT_UPDATE_THRESHOLD (VSOCK_BUF_ALLOC / 4)
#define TIMER_TICK_MS 100

struct vsock_conn {
	unsigned slot;
	enum conn_state state;
	int fd;
	uint32_t local_port, peer_port;   /* host side, guest side */
	bool hashed, in_rxq, dead;
	struct vsock_conn *hnext, *rxprev, *rxnext;
	unsigned pending;
	uint32_t events;        /* epoll interest registered */
	bool registered;
	bool readable;          /* the host socket may have data we have not read */
	bool host_eof;          /* the host socket read returned 0 */
	bool hup;               /* the host peer is gone (EPOLLHUP/ERR): no more writes */
	bool shut_wr;           /* shutdown(SHUT_WR) done */
	uint32_t guest_shut;    /* SHUTDOWN flags the guest sent */
	uint32_t shutdown_flags;/* what our SHUTDOWN will say */
	/* guest -> host */
	uint32_t fwd_cnt, last_fwd_sent;
	uint8_t *buf;           /* VSOCK_BUF_ALLOC ring, allocated on first use */
	uint32_t buf_head, buf_len;
	/* host -> guest */
	uint32_t rx_cnt, peer_buf_alloc, peer_fwd_cnt;
	uint64_t deadline;      /* ms; 0: none */
	char cmd[32];           /* partial "CONNECT <port>" line */
	unsigned cmd_len;
	/* Output commit while replicated (vsock_gate.c): bytes from the guest, counted since
	 * the connection began, that entered buf while the gate was up, and how many of those
	 * may reach the host. The rest (the tail of buf) waits for the standby's acknowledgement
	 * of the epoch that ends at each mark. */
	uint64_t gate_in, gate_out;
	struct { uint64_t epoch, in; } marks[VSOCK_GATE_MARKS];
	unsigned nmarks;
};

/* Bytes at the tail of buf that may not be written to the host yet. */
static inline uint32_t vsk_held(const struct vsock_conn *c)
{
	return (uint32_t)(c->gate_in - c->gate_out);
}

/* Bytes at the head of buf that may be written to the host now. */
static inline uint32_t vsk_flushable(const struct vsock_conn *c)
{
	return c->buf_len - vsk_held(c);
}

/* buf was emptied without writing it (the host peer is gone, the connection reset): nothing
 * is held any more. */
static inline void vsk_gate_drop(struct vsock_conn *c)
{
	c->gate_out = c->gate_in;
	c->nmarks = 0;
}

bool vsk_can_send_data(const struct vsock_conn *c);
void vsk_clear_deadline(struct vsock_mux *m, struct vsock_conn *c);
struct vsock_conn *vsk_conn_alloc(struct vsock_mux *m, int fd);
void vsk_conn_free(struct vsock_mux *m, struct vsock_conn *c);
bool vsk_conn_has_rx(const struct vsock_conn *c);
/* A packet for connection c: the credit fields tell the guest how much we can take. */
void vsk_conn_hdr(const struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h, uint16_t op, uint32_t flags, uint32_t len);
int vsk_conn_register(struct vsock_mux *m, struct vsock_conn *c, uint32_t events);
/* Tear the connection down: the host socket closes now, the guest gets a RST (connections
 * the guest never heard of are simply freed). */
void vsk_conn_reset(struct vsock_mux *m, struct vsock_conn *c);
/* Watch the host socket for what we can act on now. */
void vsk_conn_set_events(struct vsock_mux *m, struct vsock_conn *c);
/* Stop watching a socket whose peer is gone (EPOLLHUP would fire forever). */
void vsk_conn_unregister(struct vsock_mux *m, struct vsock_conn *c);
void vsk_fill_hdr(const struct vsock_mux *m, struct vsock_hdr *h, uint32_t local, uint32_t peer, uint16_t op, uint32_t flags, uint32_t len);
void vsk_hash_insert(struct vsock_mux *m, struct vsock_conn *c);
struct vsock_conn *vsk_lookup(const struct vsock_mux *m, uint32_t local, uint32_t peer);
void vsk_maybe_credit_update(struct vsock_mux *m, struct vsock_conn *c);
uint32_t vsk_peer_credit(const struct vsock_conn *c);
void vsk_queue_rst(struct vsock_mux *m, uint32_t local, uint32_t peer);
void vsk_rxq_add(struct vsock_mux *m, struct vsock_conn *c);
void vsk_rxq_remove(struct vsock_mux *m, struct vsock_conn *c);
void vsk_set_deadline(struct vsock_mux *m, struct vsock_conn *c, uint64_t ms);
void vsk_after_flush(struct vsock_mux *m, struct vsock_conn *c);
/* Write what may go to the host now; then vsk_after_flush. May reset c. */
void vsk_flush(struct vsock_mux *m, struct vsock_conn *c);
/* The guest asks for host port h->dst_port: connect to <uds_path>_<port>. */
void vsk_guest_connect(struct vsock_mux *m, const struct vsock_hdr *h);
/* RW payload from the guest: straight to the socket, the rest into the ring. */
int vsk_write_payload(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *payload, unsigned niov, uint32_t len);

#endif
