/* The E1000's transmit ring: descriptors from TDH up to TDT, each 16 bytes at TDBA + 16 * i,
 * TDLEN / 16 of them. Three kinds (8254x SDM 3.3):
 * - legacy: a buffer, its length, CSO/CSS (insert a checksum from CSS at CSO when IC is set),
 *   the command (EOP, IFCS, IC, RS, VLE, IDE) and the VLAN tag;
 * - context (DEXT, type 0): where the IP and TCP/UDP checksums start, go and end, and for TCP
 *   segmentation the header length, MSS and payload length; it applies to the data after it;
 * - data (DEXT, type 1): a buffer, its length, the command (EOP, TSE, RS, VLE, IDE) and the
 *   options (IXSM: insert the IP checksum, TXSM: the TCP/UDP one).
 * A packet is the buffers of the descriptors up to one with EOP; it is gathered, finished
 * (e1000_offload.c) and written to the tap. TDH moves past a packet only when its EOP
 * descriptor is there: a packet the driver has not finished waits in the ring, never
 * half-sent, so the card holds no packet of its own between two doorbells (nor in a snapshot).
 * A descriptor with RS gets DD in its status when done; TXDW follows (delayed with IDE), TXQE
 * when the ring is empty.
 */
#include "devices/e1000/e1000_int.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"

#include <errno.h>

struct txd {
	uint64_t addr;
	uint32_t lower, upper;
	uint8_t raw[E1000_DESC_SIZE];
};

static uint32_t ring_size(const struct e1000 *e)
{
	return e->st.tdlen / E1000_DESC_SIZE;
}

static uint64_t desc_addr(const struct e1000 *e, uint32_t i)
{
	return ((uint64_t)e->st.tdbah << 32 | e->st.tdbal) + (uint64_t)i * E1000_DESC_SIZE;
}

static bool read_desc(struct e1000 *e, uint32_t i, struct txd *d)
{
	if (!e1000_dma_read(e, desc_addr(e, i), d->raw, E1000_DESC_SIZE))
		return false;
	d->addr = get64(d->raw);
	d->lower = get32(d->raw + 8);
	d->upper = get32(d->raw + 12);
	return true;
}

static bool is_ext(const struct txd *d) { return d->lower & (uint32_t)E1000_TXD_CMD_DEXT << 24; }
static bool is_context(const struct txd *d) { return is_ext(d) && !((d->lower >> 20) & E1000_TXD_DTYP_D); }
static uint8_t cmd_of(const struct txd *d) { return (uint8_t)(d->lower >> 24); }
static uint32_t len_of(const struct txd *d) { return is_ext(d) ? d->lower & 0xfffff : d->lower & 0xffff; }

/* *end: the descriptor after the one that ends the next unit of work (a context descriptor,
 * or the packet whose EOP is before TDT); false when the packet is not complete yet. */
static bool unit_end(struct e1000 *e, uint32_t n, uint32_t *end)
{
	uint32_t i = e->st.tdh;
	for (uint32_t k = 0; k < n && i != e->st.tdt; k++) {
		struct txd d;
		if (!read_desc(e, i, &d)) {
			*end = (i + 1) % n;   /* a descriptor outside RAM ends its packet, dropped */
			return true;
		}
		i = (i + 1) % n;
		if (is_context(&d) || (cmd_of(&d) & E1000_TXD_CMD_EOP)) {
			*end = i;
			return true;
		}
	}
	return false;
}

static void load_context(struct e1000 *e, const struct txd *d)
{
	struct e1000_tx_ctx *c = &e->st.tx_ctx;
	c->ipcss = d->raw[0];
	c->ipcso = d->raw[1];
	c->ipcse = get16(d->raw + 2);
	c->tucss = d->raw[4];
	c->tucso = d->raw[5];
	c->tucse = get16(d->raw + 6);
	c->paylen = d->lower & 0xfffff;
	c->tucmd = cmd_of(d);
	c->hdr_len = d->raw[13];
	c->mss = get16(d->raw + 14);
}

static void write_back(struct e1000 *e, uint32_t i, const struct txd *d)
{
	uint8_t st = (uint8_t)(d->raw[12] | E1000_TXD_STAT_DD);
	e1000_dma_write(e, desc_addr(e, i) + 12, &st, 1);
}

/* Gather and send the packet in descriptors [tdh, end). 0, or -EAGAIN (the tap or the rate
 * limiter said wait: nothing was consumed). */
static int send_unit(struct e1000 *e, uint32_t n, uint32_t end, bool *rs_done, bool *ide)
{
	uint32_t len = 0;
	bool bad = false, tse = false, vle = false, legacy = false;
	uint8_t popts = 0;
	uint16_t vlan = 0;
	int cso = -1, css = 0;
	uint32_t i = e->st.tdh;
	struct txd d;
	memset(&d, 0, sizeof(d));
	bool ctx_only = false, first = true;
	do {
		if (!read_desc(e, i, &d)) {
			bad = true;
			break;
		}
		if (is_context(&d)) {
			load_context(e, &d);
			ctx_only = i == e->st.tdh;
		} else {
			ctx_only = false;
			uint32_t l = len_of(&d);
			uint8_t cmd = cmd_of(&d);
			if (first && is_ext(&d)) {
				/* the first data descriptor's options and TSE apply to the packet */
				tse = cmd & E1000_TXD_CMD_TSE;
				popts = d.raw[13];
			}
			first = false;
			if (len + l > E1000_TX_MAX) {
				bad = true;   /* longer than any packet the card sends */
			} else if (l && !bad) {
				if (!e1000_dma_read(e, d.addr, e->tx_buf + TAP_VNET_HDR_LEN + len, l))
					bad = true;
				len += l;
			}
			if (cmd & E1000_TXD_CMD_EOP) {
				/* the VLAN tag and a legacy checksum come from the last descriptor */
				legacy = !is_ext(&d);
				vle = cmd & E1000_TXD_CMD_VLE;
				vlan = get16(d.raw + 14);
				if (legacy && (cmd & E1000_TXD_CMD_IC)) {
					cso = d.raw[10];
					css = d.raw[13];
				}
				if (legacy)
					tse = false;
			}
		}
		i = (i + 1) % n;
	} while (i != end);
	if (!ctx_only) {
		if (bad || !len) {
			stat_add(&e->stats.tx_malformed, 1);
		} else {
			if (rate_limiter_active(&e->tx_rl) && !rate_limiter_admit(&e->tx_rl, len, now_ns()))
				return -EAGAIN;   /* tx_rate_limiter: again when its timer fires */
			if (e1000_tx_packet(e, len, tse, popts, vle, vlan, cso, css) == -EAGAIN) {
				e->tx_waiting = true;   /* the tap is full: again when it is writable */
				stat_add(&e->stats.tx_blocked, 1);
				return -EAGAIN;
			}
		}
	}
	/* Done: status write-back for the descriptors that asked for it. */
	for (uint32_t j = e->st.tdh; j != end; j = (j + 1) % n) {
		if (!read_desc(e, j, &d))
			continue;
		uint8_t cmd = cmd_of(&d);
		if (cmd & (E1000_TXD_CMD_RS | (legacy ? E1000_TXD_CMD_RPS : 0))) {
			write_back(e, j, &d);
			*rs_done = true;
			*ide = (cmd & E1000_TXD_CMD_IDE) != 0;
		}
	}
	e->st.tdh = end;
	return 0;
}

void e1000_tx(struct e1000 *e)
{
	uint32_t n = ring_size(e);
	if (!(e->st.tctl & E1000_TCTL_EN) || e->tx_waiting || e->paused || !n)
		return;
	if (e->st.tdh >= n || e->st.tdt >= n)
		return;   /* a head or tail past the ring: the card stalls until the driver fixes it */
	bool rs_done = false, ide = false, sent = false;
	/* At most a ring's worth of units per doorbell: each moves TDH at least one step. */
	for (uint32_t k = 0; k < n && e->st.tdh != e->st.tdt; k++) {
		uint32_t end;
		if (!unit_end(e, n, &end))
			break;   /* the driver has not written the packet's EOP yet */
		if (send_unit(e, n, end, &rs_done, &ide) < 0)
			break;
		sent = true;
	}
	if (e->tx_waiting)
		e1000_set_interest(e);
	if (rs_done)
		e1000_tx_done(e, ide);
	if (sent && e->st.tdh == e->st.tdt)
		e1000_raise(e, E1000_ICR_TXQE);
}
