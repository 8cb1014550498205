/* The vsock host side's packets: what the guest sends (vsock_mux_tx) and what it is given
 * (vsock_mux_rx). Every field the guest sets is checked here. See vsock_mux.h. */
#include "vsock/vsock_mux.h"
#include "vsock/vsock_mux_int.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- packets from the guest ---- */

void vsock_mux_tx(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *payload, unsigned niov)
{
	if (h->dst_cid != VSOCK_HOST_CID || h->src_cid != m->guest_cid) {
		/* Not for us or not from the guest's own address: nobody to answer. */
		m->stats.dropped_cid++;
		return;
	}
	uint32_t local = h->dst_port, peer = h->src_port;
	struct vsock_conn *c = vsk_lookup(m, local, peer);
	if (h->type != VSOCK_TYPE_STREAM) {
		stat_add(&m->stats.bad_packets, 1);
		if (c)
			vsk_conn_reset(m, c);
		else if (h->op != VSOCK_OP_RST)
			vsk_queue_rst(m, local, peer);
		return;
	}
	if (!c) {
		if (h->op == VSOCK_OP_REQUEST)
			vsk_guest_connect(m, h);
		else if (h->op != VSOCK_OP_RST)
			vsk_queue_rst(m, local, peer);
		return;
	}
	if (c->state == CONN_CLOSING && c->pending == P_RST) {
		/* Already reset on our side: only its RST is left to say. */
		if (h->op == VSOCK_OP_RST)
			vsk_conn_free(m, c);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE: {
		if (c->state != CONN_CONNECTING) {
			stat_add(&m->stats.bad_packets, 1);
			vsk_conn_reset(m, c);
			return;
		}
		char ok[24];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			vsk_conn_reset(m, c);
			return;
		}
		vsk_clear_deadline(m, c);
		c->state = CONN_ESTABLISHED;
		c->readable = true; /* the client may have written already */
		break;
	}
	case VSOCK_OP_RST:
		stat_add(&m->stats.resets_got, 1);
		vsk_conn_free(m, c);
		return;
	case VSOCK_OP_SHUTDOWN:
		if (c->state != CONN_ESTABLISHED && c->state != CONN_CLOSING) {
			vsk_conn_reset(m, c);
			return;
		}
		c->guest_shut |= h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
		if (c->guest_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND) && c->state != CONN_CLOSING) {
			/* The guest closed: flush what it sent, then RST (at most a few seconds). */
			c->state = CONN_CLOSING;
			c->pending &= ~(P_SHUTDOWN | P_CREDIT_UPDATE);
			vsk_set_deadline(m, c, VSOCK_CLOSE_TIMEOUT_MS);
		}
		vsk_after_flush(m, c);
		if (c->dead || c->pending == P_RST)
			return;
		break;
	case VSOCK_OP_RW: {
		if (c->state != CONN_ESTABLISHED || (c->guest_shut & VSOCK_SHUTDOWN_SEND) || c->hup ||
		    h->len > VSOCK_MAX_PAYLOAD) {
			stat_add(&m->stats.bad_packets, 1);
			vsk_conn_reset(m, c);
			return;
		}
		if ((uint64_t)c->buf_len + h->len > VSOCK_BUF_ALLOC) {
			/* More than the credit we gave: a broken or hostile driver. */
			m->stats.credit_violations++;
			vsk_conn_reset(m, c);
			return;
		}
		if (h->len && vsk_write_payload(m, c, payload, niov, h->len) < 0) {
			vsk_conn_reset(m, c);
			return;
		}
		vsk_maybe_credit_update(m, c);
		break;
	}
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields are all it says */
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	default: /* REQUEST on an existing connection, INVALID, unknown ops */
		stat_add(&m->stats.bad_packets, 1);
		vsk_conn_reset(m, c);
		return;
	}
	if (vsk_conn_has_rx(c))
		vsk_rxq_add(m, c);
	vsk_conn_set_events(m, c);
}

/* ---- packets for the guest ---- */

bool vsock_mux_has_rx(const struct vsock_mux *m)
{
	return m->rst_count || m->rxq_head;
}

/* The next packet connection c owes the guest. 1 if *h was filled. */
static int conn_rx(struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h,
		   const struct iovec *payload, unsigned niov, size_t room)
{
	if (c->pending & P_RST) {
		vsk_conn_hdr(m, c, h, VSOCK_OP_RST, 0, 0);
		stat_add(&m->stats.resets_sent, 1);
		c->dead = true;
		return 1;
	}
	if (c->pending & P_REQUEST) {
		c->pending &= ~P_REQUEST;
		vsk_conn_hdr(m, c, h, VSOCK_OP_REQUEST, 0, 0);
		return 1;
	}
	if (c->pending & P_RESPONSE) {
		c->pending &= ~P_RESPONSE;
		vsk_conn_hdr(m, c, h, VSOCK_OP_RESPONSE, 0, 0);
		return 1;
	}
	if (c->readable && vsk_can_send_data(c)) {
		size_t max = room;
		if (max > vsk_peer_credit(c))
			max = vsk_peer_credit(c);
		if (max > VSOCK_MAX_PAYLOAD)
			max = VSOCK_MAX_PAYLOAD;
		if (max) {
			struct iovec iov[64];
			unsigned n = iov_sub_max(payload, niov, 0, max, iov, 64);
			ssize_t r = readv(c->fd, iov, (int)n);
			if (r > 0) {
				vsk_conn_hdr(m, c, h, VSOCK_OP_RW, 0, (uint32_t)r);
				c->rx_cnt += (uint32_t)r;
				stat_add(&m->stats.bytes_to_guest, (uint64_t)r);
				return 1;
			}
			if (r == 0) {
				/* The host side will send no more. */
				c->host_eof = true;
				c->readable = false;
				c->shutdown_flags = VSOCK_SHUTDOWN_SEND | (c->hup ? VSOCK_SHUTDOWN_RCV : 0);
				c->pending |= P_SHUTDOWN;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				c->readable = false;
				vsk_conn_set_events(m, c);
			} else {
				vsk_conn_reset(m, c);
				vsk_conn_hdr(m, c, h, VSOCK_OP_RST, 0, 0);
				stat_add(&m->stats.resets_sent, 1);
				c->dead = true;
				return 1;
			}
		}
	}
	if (c->pending & P_SHUTDOWN) {
		c->pending &= ~P_SHUTDOWN;
		vsk_conn_hdr(m, c, h, VSOCK_OP_SHUTDOWN, c->shutdown_flags, 0);
		return 1;
	}
	if (c->pending & P_CREDIT_UPDATE) {
		vsk_conn_hdr(m, c, h, VSOCK_OP_CREDIT_UPDATE, 0, 0);
		return 1;
	}
	return 0;
}

int vsock_mux_rx(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *payload, unsigned niov, size_t room)
{
	if (m->rst_count) {
		vsk_fill_hdr(m, h, m->rst[m->rst_head].local_port, m->rst[m->rst_head].peer_port, VSOCK_OP_RST, 0, 0);
		m->rst_head = (m->rst_head + 1) % VSOCK_RST_QUEUE;
		m->rst_count--;
		stat_add(&m->stats.resets_sent, 1);
		return 1;
	}
	struct vsock_conn *c;
	while ((c = m->rxq_head)) {
		if (conn_rx(m, c, h, payload, niov, room)) {
			if (c->dead)
				vsk_conn_free(m, c);
			else if (vsk_conn_has_rx(c)) {
				/* Round robin: others get a turn before this one's next packet. */
				vsk_rxq_remove(m, c);
				vsk_rxq_add(m, c);
			} else {
				vsk_rxq_remove(m, c);
			}
			return 1;
		}
		if (vsk_conn_has_rx(c))
			return 0; /* it has data but the buffer has no room for any: wait for a bigger one */
		vsk_rxq_remove(m, c);
	}
	return 0;
}
