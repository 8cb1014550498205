/* See tcp.h. Sequence numbers compare modulo 2^32 (seq_lt). */
#include "mmds/tcp.h"

#include <stdlib.h>
#include <string.h>

enum conn_state { SYN_RCVD, ESTABLISHED };

struct mmds_conn {
	uint32_t ip;
	uint16_t port;
	enum conn_state state;
	uint32_t iss, snd_una, snd_nxt, snd_max, rcv_nxt;
	uint32_t snd_wnd;           /* the guest's window */
	uint16_t mss;
	bool synack_due, ack_due;
	bool fin_rcvd, fin_wanted, fin_sent, fin_acked;
	bool close_after;           /* the request said Connection: close */
	uint32_t fin_seq;
	uint64_t last_rx, rto_at;   /* rto_at 0: no timer */
	unsigned retries;
	uint8_t rbuf[MMDS_TCP_RCV_BUF];
	size_t rlen;
	struct mmds_buf resp;       /* the response being sent; resp_seq is its first byte's seq */
	uint32_t resp_seq;
};

static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

void mmds_tcp_init(struct mmds_tcp *t, struct mmds *svc, uint16_t port, uint32_t isn_seed)
{
	memset(t, 0, sizeof(*t));
	t->svc = svc;
	t->port = port;
	t->isn = isn_seed;
}

static void conn_free(struct mmds_conn *c)
{
	mmds_buf_free(&c->resp);
	free(c);
}

static void drop_conn(struct mmds_tcp *t, unsigned i)
{
	conn_free(t->conn[i]);
	t->conn[i] = NULL;
	mmds_count(t->svc, connections_destroyed, 1);
}

void mmds_tcp_free(struct mmds_tcp *t)
{
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++)
		if (t->conn[i])
			drop_conn(t, i);
	t->nrst = 0;
}

unsigned mmds_tcp_connections(const struct mmds_tcp *t)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++)
		n += t->conn[i] != NULL;
	return n;
}

static void queue_rst(struct mmds_tcp *t, uint32_t ip, uint16_t port, uint32_t seq, uint32_t ack,
		      uint8_t flags)
{
	if (t->nrst == MMDS_TCP_MAX_RST)
		return;   /* the guest retries and gets one later */
	t->rst[t->nrst++] = (struct mmds_tcp_rst){ ip, port, seq, ack, flags };
}

/* RFC 793's reset for a segment that belongs to no connection. */
static void rst_for(struct mmds_tcp *t, const struct mmds_tcp_seg *s)
{
	if (s->flags & TCP_ACK)
		queue_rst(t, s->remote_ip, s->remote_port, s->ack, 0, TCP_RST);
	else
		queue_rst(t, s->remote_ip, s->remote_port, 0,
			  s->seq + (uint32_t)s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN),
			  TCP_RST | TCP_ACK);
}

/* Reset a connection of ours (oversized request, too many retransmissions, eviction). */
static void reset_conn(struct mmds_tcp *t, unsigned i)
{
	struct mmds_conn *c = t->conn[i];
	queue_rst(t, c->ip, c->port, c->snd_nxt, c->rcv_nxt, TCP_RST | TCP_ACK);
	drop_conn(t, i);
}

static int find(const struct mmds_tcp *t, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++)
		if (t->conn[i] && t->conn[i]->ip == ip && t->conn[i]->port == port)
			return (int)i;
	return -1;
}

static void accept_syn(struct mmds_tcp *t, const struct mmds_tcp_seg *s, uint64_t now)
{
	int slot = -1;
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN && slot < 0; i++)
		if (!t->conn[i])
			slot = (int)i;
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN && slot < 0; i++) {
		if (now - t->conn[i]->last_rx > MMDS_TCP_EVICT_MS) {
			reset_conn(t, i);
			slot = (int)i;
		}
	}
	struct mmds_conn *c = slot < 0 ? NULL : calloc(1, sizeof(*c));
	if (!c) {
		rst_for(t, s);
		return;
	}
	c->ip = s->remote_ip;
	c->port = s->remote_port;
	c->state = SYN_RCVD;
	c->iss = t->isn;
	t->isn += 64000;
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->rcv_nxt = s->seq + 1;
	c->resp_seq = c->iss + 1;
	c->snd_wnd = s->window;
	c->mss = s->mss ? s->mss : 536;
	if (c->mss > MMDS_TCP_MSS)
		c->mss = MMDS_TCP_MSS;
	if (c->mss < 64)
		c->mss = 64;
	c->synack_due = true;
	c->last_rx = now;
	t->conn[slot] = c;
	mmds_count(t->svc, connections_created, 1);
}

static uint32_t resp_end(const struct mmds_conn *c)
{
	return c->resp_seq + (uint32_t)c->resp.len;
}

/* Answer the next request in the receive buffer once the previous response is acknowledged.
 * Returns false if the connection must be reset (a request larger than the buffer). */
static bool serve(struct mmds_tcp *t, struct mmds_conn *c, uint64_t now)
{
	if (c->state != ESTABLISHED || c->fin_wanted)
		return true;
	if (c->resp.len && seq_lt(c->snd_una, resp_end(c)))
		return true;   /* one response at a time */
	c->resp_seq = resp_end(c);
	mmds_buf_reset(&c->resp);
	struct mmds_http_req req;
	struct mmds_http_error err;
	size_t used = mmds_http_parse((const char *)c->rbuf, c->rlen, &req, &err);
	if (!used) {
		if (c->rlen == sizeof(c->rbuf))
			return false;
		if (c->fin_rcvd)
			c->fin_wanted = true;   /* nothing more will come: close our side */
		return true;
	}
	if (err.status) {
		mmds_respond_error(&err, &c->resp);
	} else {
		mmds_respond(t->svc, &req, now, &c->resp);
		c->close_after = req.close;
	}
	if (c->resp.oom) {
		mmds_count(t->svc, tx_errors, 1);
		return false;
	}
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
	if (c->close_after)
		c->fin_wanted = true;
	return true;
}

/* Data and FIN of an in-window segment; sets ack_due. */
static void take_data(struct mmds_conn *c, const struct mmds_tcp_seg *s)
{
	const uint8_t *d = s->data;
	size_t len = s->len;
	uint32_t seq = s->seq;
	if (len || (s->flags & TCP_FIN))
		c->ack_due = true;
	if (seq_lt(seq, c->rcv_nxt)) {   /* partly seen already */
		uint32_t skip = c->rcv_nxt - seq;
		if (skip > len)
			return;   /* a duplicate: the ACK we owe says where we are */
		d += skip;
		len -= skip;
		seq += skip;
	}
	if (seq != c->rcv_nxt || c->fin_rcvd)
		return;   /* out of order (we keep none) or after the FIN */
	size_t room = sizeof(c->rbuf) - c->rlen;
	size_t n = len < room ? len : room;
	if (c->fin_wanted)
		n = len;   /* closing: acknowledge and discard */
	else
		memcpy(c->rbuf + c->rlen, d, n), c->rlen += n;
	c->rcv_nxt += (uint32_t)n;
	if ((s->flags & TCP_FIN) && n == len) {
		c->rcv_nxt++;
		c->fin_rcvd = true;
	}
}

void mmds_tcp_rx(struct mmds_tcp *t, const struct mmds_tcp_seg *s, uint64_t now)
{
	if (s->local_port != t->port) {
		if (!(s->flags & TCP_RST))
			rst_for(t, s);
		return;
	}
	int i = find(t, s->remote_ip, s->remote_port);
	if (i < 0) {
		if (s->flags & TCP_RST)
			return;
		if ((s->flags & (TCP_SYN | TCP_ACK | TCP_FIN)) == TCP_SYN)
			accept_syn(t, s, now);
		else
			rst_for(t, s);
		return;
	}
	struct mmds_conn *c = t->conn[i];
	c->last_rx = now;
	if (s->flags & TCP_RST) {
		/* Only one inside the window counts (RFC 5961's blind-reset check, loosely). */
		if (seq_le(c->rcv_nxt, s->seq) && seq_lt(s->seq, c->rcv_nxt + MMDS_TCP_RCV_BUF + 1))
			drop_conn(t, (unsigned)i);
		return;
	}
	if (s->flags & TCP_SYN) {
		if (c->state == SYN_RCVD && s->seq + 1 == c->rcv_nxt)
			c->synack_due = true;   /* our SYN-ACK was lost */
		else
			c->ack_due = true;      /* challenge ACK */
		return;
	}
	if (!(s->flags & TCP_ACK))
		return;
	if (seq_lt(c->snd_max, s->ack)) {
		c->ack_due = true;              /* acknowledges what we never sent */
		return;
	}
	if (seq_lt(c->snd_una, s->ack)) {
		c->snd_una = s->ack;
		c->retries = 0;
		c->rto_at = c->snd_una == c->snd_max ? 0 : now + MMDS_TCP_RTO_MS;
		if (seq_lt(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
	}
	if (c->state == SYN_RCVD) {
		if (!seq_lt(c->iss, c->snd_una))
			return;                 /* our SYN is not acknowledged yet */
		c->state = ESTABLISHED;
	}
	c->snd_wnd = s->window;
	if (c->fin_sent && seq_lt(c->fin_seq, c->snd_una))
		c->fin_acked = true;
	take_data(c, s);
	if (!serve(t, c, now)) {
		reset_conn(t, (unsigned)i);
		return;
	}
	if (c->fin_rcvd && c->fin_acked && !c->ack_due)
		drop_conn(t, (unsigned)i);
}

/* What conn i sends next, if anything. */
static bool conn_tx(struct mmds_tcp *t, unsigned i, struct mmds_tcp_seg *o, uint64_t now)
{
	struct mmds_conn *c = t->conn[i];
	if (c->rto_at && now >= c->rto_at) {
		if (++c->retries > MMDS_TCP_RTO_MAX) {
			reset_conn(t, i);
			return false;
		}
		c->snd_nxt = c->snd_una;        /* go back: send everything unacknowledged again */
		if (c->fin_sent && !c->fin_acked && seq_le(c->snd_nxt, c->fin_seq))
			c->fin_sent = false;
		if (c->state == SYN_RCVD)
			c->synack_due = true;
		c->rto_at = now + (MMDS_TCP_RTO_MS << (c->retries < 5 ? c->retries : 5));
	}
	memset(o, 0, sizeof(*o));
	o->remote_ip = c->ip;
	o->remote_port = c->port;
	o->local_port = t->port;
	o->ack = c->rcv_nxt;
	uint32_t room = sizeof(c->rbuf) - c->rlen;
	o->window = (uint16_t)room;
	if (c->state == SYN_RCVD) {
		if (!c->synack_due)
			return false;
		o->seq = c->iss;
		o->flags = TCP_SYN | TCP_ACK;
		o->mss = MMDS_TCP_MSS;
		c->snd_nxt = c->iss + 1;
		if (seq_lt(c->snd_max, c->snd_nxt))
			c->snd_max = c->snd_nxt;
		c->synack_due = false;
		if (!c->rto_at)
			c->rto_at = now + MMDS_TCP_RTO_MS;
		return true;
	}
	o->seq = c->snd_nxt;
	o->flags = TCP_ACK;
	uint32_t end = resp_end(c);
	if (c->resp.len && seq_lt(c->snd_nxt, end)) {
		uint32_t in_flight = c->snd_nxt - c->snd_una;
		uint32_t wnd = c->snd_wnd > in_flight ? c->snd_wnd - in_flight : 0;
		if (!wnd && !in_flight && c->retries)
			wnd = 1;   /* a zero window probe */
		uint32_t n = end - c->snd_nxt;
		if (n > wnd)
			n = wnd;
		if (n > c->mss)
			n = c->mss;
		if (n) {
			o->data = (const uint8_t *)c->resp.data + (c->snd_nxt - c->resp_seq);
			o->len = n;
			c->snd_nxt += n;
			if (c->snd_nxt == end)
				o->flags |= TCP_PSH;
		} else if (!in_flight && !c->rto_at) {
			c->rto_at = now + MMDS_TCP_RTO_MS;   /* a zero window: probe it then */
		}
	}
	if (c->fin_wanted && !c->fin_sent && c->snd_nxt == end) {
		o->flags |= TCP_FIN;
		c->fin_seq = c->snd_nxt;
		c->snd_nxt++;
		c->fin_sent = true;
	}
	if (seq_lt(c->snd_max, c->snd_nxt))
		c->snd_max = c->snd_nxt;
	if (!o->len && !(o->flags & TCP_FIN) && !c->ack_due)
		return false;
	if ((o->len || (o->flags & TCP_FIN)) && !c->rto_at)
		c->rto_at = now + MMDS_TCP_RTO_MS;
	c->ack_due = false;
	return true;
}

bool mmds_tcp_tx(struct mmds_tcp *t, struct mmds_tcp_seg *o, uint64_t now)
{
	if (t->nrst) {
		struct mmds_tcp_rst *r = &t->rst[--t->nrst];
		memset(o, 0, sizeof(*o));
		o->remote_ip = r->ip;
		o->remote_port = r->port;
		o->local_port = t->port;
		o->seq = r->seq;
		o->ack = r->ack;
		o->flags = r->flags;
		return true;
	}
	for (unsigned k = 0; k < MMDS_TCP_MAX_CONN; k++) {
		unsigned i = (t->next + k) % MMDS_TCP_MAX_CONN;
		if (!t->conn[i])
			continue;
		bool got = conn_tx(t, i, o, now);
		if (!got && t->nrst)    /* it reset itself: send that */
			return mmds_tcp_tx(t, o, now);
		if (!got)
			continue;
		struct mmds_conn *c = t->conn[i];
		if (c->fin_rcvd && c->fin_acked && !c->ack_due) {
			/* The last ACK of the close: the data o points to is the connection's. None. */
			drop_conn(t, i);
		}
		t->next = (i + 1) % MMDS_TCP_MAX_CONN;
		return true;
	}
	return false;
}

int64_t mmds_tcp_next_timer(const struct mmds_tcp *t, uint64_t now)
{
	int64_t best = -1;
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++) {
		const struct mmds_conn *c = t->conn[i];
		if (!c || !c->rto_at)
			continue;
		int64_t d = c->rto_at > now ? (int64_t)(c->rto_at - now) : 0;
		if (best < 0 || d < best)
			best = d;
	}
	return best;
}
