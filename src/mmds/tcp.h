/* The TCP of MMDS: passive opens on one port, one HTTP request at a time per connection.
 *
 * Pure state machine on parsed segments (stack.c does the bytes): mmds_tcp_rx takes a segment
 * from the guest, mmds_tcp_tx hands out the next segment to send (RSTs first, then the
 * connections in turn). Bounded everywhere: MMDS_TCP_MAX_CONN connections (a SYN beyond them
 * evicts one idle for MMDS_TCP_EVICT_MS, else is answered with RST), a receive buffer of
 * MMDS_TCP_RCV_BUF bytes per connection (a request that does not fit resets the connection,
 * as Firecracker does), MMDS_TCP_MAX_RST queued resets (more are dropped), one response in
 * flight per connection. Lost segments are sent again after MMDS_TCP_RTO_MS (go-back-N), up
 * to MMDS_TCP_RTO_MAX times, then the connection is reset. No options but MSS, no window
 * scaling, no urgent data, no simultaneous open: what a guest's HTTP client needs.
 */
#ifndef PETREL_MMDS_TCP_H
#define PETREL_MMDS_TCP_H

#include "mmds/mmds.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_TCP_MAX_CONN 30        /* Firecracker's DEFAULT_MAX_CONNECTIONS */
#define MMDS_TCP_MAX_RST 100        /* Firecracker's DEFAULT_MAX_PENDING_RESETS */
#define MMDS_TCP_RCV_BUF 2500       /* Firecracker's RCV_BUF_MAX_SIZE */
#define MMDS_TCP_MSS 1460           /* what we announce and the most we send */
#define MMDS_TCP_RTO_MS 300
#define MMDS_TCP_RTO_MAX 15
#define MMDS_TCP_EVICT_MS 10000

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* A segment, parsed (rx) or to be written (tx). Addresses and ports in host order; `remote`
 * is the guest's side. */
struct mmds_tcp_seg {
	uint32_t remote_ip;
	uint16_t remote_port, local_port;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss;               /* the MSS option, 0 if absent */
	const uint8_t *data;
	size_t len;
};

struct mmds_conn;

struct mmds_tcp_rst {
	uint32_t ip;
	uint16_t port;
	uint32_t seq, ack;
	uint8_t flags;
};

struct mmds_tcp {
	struct mmds *svc;
	uint16_t port;
	struct mmds_conn *conn[MMDS_TCP_MAX_CONN];
	unsigned next;              /* round robin for mmds_tcp_tx */
	struct mmds_tcp_rst rst[MMDS_TCP_MAX_RST];
	unsigned nrst;
	uint32_t isn;               /* next initial sequence number */
};

void mmds_tcp_init(struct mmds_tcp *t, struct mmds *svc, uint16_t port, uint32_t isn_seed);
void mmds_tcp_free(struct mmds_tcp *t);
void mmds_tcp_rx(struct mmds_tcp *t, const struct mmds_tcp_seg *seg, uint64_t now_ms);
/* The next segment to send into *out (its data points into the connection until the next
 * call); false if there is none now. */
bool mmds_tcp_tx(struct mmds_tcp *t, struct mmds_tcp_seg *out, uint64_t now_ms);
/* Milliseconds until mmds_tcp_tx has a retransmission to make; -1 if none is pending. */
int64_t mmds_tcp_next_timer(const struct mmds_tcp *t, uint64_t now_ms);
unsigned mmds_tcp_connections(const struct mmds_tcp *t);

#endif
