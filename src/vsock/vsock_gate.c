/* Output commit for virtio-vsock while the VM is replicated: see vsock_mux.h.
 *
 * Held data never leaves the connection's buffer: the tail of buf (gate_in - gate_out bytes)
 * is out of vsk_flush's reach. Each checkpoint marks how far each connection's held data
 * reached (marks[]); an acknowledged epoch moves gate_out up to its mark and flushes. A
 * connection that has more epochs in flight than VSOCK_GATE_MARKS merges the newest into the
 * last mark: that data waits for the later epoch, which is safe (never earlier). */
#include "vsock/vsock_mux.h"
#include "vsock/vsock_mux_int.h"

static void count_held(struct vsock_mux *m)
{
	uint64_t held = 0;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (m->slots[i])
			held += vsk_held(m->slots[i]);
	m->held_bytes = held;
}

/* Let what may go now go, and tell the guest about its new credit. */
static void release_to(struct vsock_mux *m, struct vsock_conn *c, uint64_t in)
{
	if (in <= c->gate_out)
		return;
	c->gate_out = in;
	vsk_flush(m, c); /* may reset c; never frees it */
	if (vsk_conn_has_rx(c))
		vsk_rxq_add(m, c);
}

void vsock_mux_gate(struct vsock_mux *m, bool up)
{
	if (up == m->gated)
		return;
	m->gated = up;
	if (up)
		return;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = m->slots[i];
		if (!c)
			continue;
		c->nmarks = 0;
		release_to(m, c, c->gate_in);
	}
	count_held(m);
}

void vsock_mux_close_epoch(struct vsock_mux *m, uint64_t n)
{
	if (!m->gated)
		return;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = m->slots[i];
		if (!c)
			continue;
		uint64_t marked = c->nmarks ? c->marks[c->nmarks - 1].in : c->gate_out;
		if (c->gate_in == marked)
			continue; /* nothing new this epoch */
		if (c->nmarks == VSOCK_GATE_MARKS)
			c->nmarks--; /* merge into the last mark: released with epoch n */
		c->marks[c->nmarks].epoch = n;
		c->marks[c->nmarks].in = c->gate_in;
		c->nmarks++;
	}
	count_held(m);
}

void vsock_mux_release(struct vsock_mux *m, uint64_t n)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = m->slots[i];
		if (!c || !c->nmarks || c->marks[0].epoch > n)
			continue;
		unsigned k = 0;
		while (k < c->nmarks && c->marks[k].epoch <= n)
			k++;
		uint64_t in = c->marks[k - 1].in;
		for (unsigned j = k; j < c->nmarks; j++)
			c->marks[j - k] = c->marks[j];
		c->nmarks -= k;
		release_to(m, c, in);
	}
	count_held(m);
}
