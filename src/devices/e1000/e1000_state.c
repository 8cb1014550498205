/* The E1000's saved state: every field of struct e1000_state, little-endian, fixed widths, in
 * the order below, after a 4-byte length (the version travels with the section). Snapshots,
 * live migration and replication carry these bytes; the PCI configuration space travels
 * beside them. Host-side state (the tap, timers, a frame in rx_buf) is not guest-visible:
 * e1000_quiesce turned delayed interrupt causes into pending ones before a save. */
#include "devices/e1000/e1000_int.h"

#include <errno.h>
#include <stdio.h>

/* The 32-bit registers, in their saved order. */
#define E1000_SAVED_REGS(X) \
	X(ctrl) X(status) X(ctrl_ext) X(eerd) X(mdic) X(fcal) X(fcah) X(fct) X(vet) X(fcttv) X(txcw) \
	X(rxcw) X(icr) X(ims) X(itr) X(rctl) X(rdbal) X(rdbah) X(rdlen) X(rdh) X(rdt) X(rdtr) X(rxdctl) \
	X(radv) X(rsrpd) X(rxcsum) X(fcrtl) X(fcrth) X(pba) X(ledctl) X(tctl) X(tipg) X(tdbal) X(tdbah) \
	X(tdlen) X(tdh) X(tdt) X(tidv) X(txdctl) X(tadv) X(tspmt) X(wuc) X(wufc) X(wus) X(manc) X(ioaddr)

struct cursor {
	uint8_t *w;          /* writing (NULL: counting) */
	const uint8_t *r;    /* reading */
	size_t off, len;
	bool short_read;
};

static void f8(struct cursor *c, uint8_t *v)
{
	if (c->r) {
		if (c->off + 1 > c->len) {
			c->short_read = true;
			return;
		}
		*v = c->r[c->off];
	} else if (c->w) {
		c->w[c->off] = *v;
	}
	c->off += 1;
}

static void f16(struct cursor *c, uint16_t *v)
{
	uint8_t b[2] = { (uint8_t)*v, (uint8_t)(*v >> 8) };
	f8(c, &b[0]);
	f8(c, &b[1]);
	*v = (uint16_t)(b[0] | b[1] << 8);
}

static void f32(struct cursor *c, uint32_t *v)
{
	uint16_t lo = (uint16_t)*v, hi = (uint16_t)(*v >> 16);
	f16(c, &lo);
	f16(c, &hi);
	*v = (uint32_t)lo | (uint32_t)hi << 16;
}

/* One walk over the fields serves saving, counting and restoring. */
static void walk(struct cursor *c, struct e1000_state *s)
{
#define SAVE_REG(name) f32(c, &s->name);
	E1000_SAVED_REGS(SAVE_REG)
#undef SAVE_REG
	for (unsigned i = 0; i < E1000_MTA_WORDS; i++)
		f32(c, &s->mta[i]);
	for (unsigned i = 0; i < E1000_RA_WORDS; i++)
		f32(c, &s->ra[i]);
	for (unsigned i = 0; i < E1000_VFTA_WORDS; i++)
		f32(c, &s->vfta[i]);
	for (unsigned i = 0; i < E1000_NSTATS; i++)
		f32(c, &s->stats[i]);
	for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++)
		f16(c, &s->eeprom[i]);
	for (unsigned i = 0; i < E1000_PHY_REGS; i++)
		f16(c, &s->phy[i]);
	f32(c, &s->eecd.latch);
	f16(c, &s->eecd.in);
	f8(c, &s->eecd.nin);
	f8(c, &s->eecd.reading);
	f16(c, &s->eecd.addr);
	f8(c, &s->eecd.nout);
	struct e1000_tx_ctx *t = &s->tx_ctx;
	f8(c, &t->ipcss);
	f8(c, &t->ipcso);
	f16(c, &t->ipcse);
	f8(c, &t->tucss);
	f8(c, &t->tucso);
	f16(c, &t->tucse);
	f8(c, &t->tucmd);
	f8(c, &t->hdr_len);
	f16(c, &t->mss);
	f32(c, &t->paylen);
}

size_t e1000_save_size(void)
{
	struct e1000_state s = { 0 };
	struct cursor c = { 0 };
	walk(&c, &s);
	return 4 + c.off;
}

void e1000_save(const struct e1000 *e, uint8_t *buf)
{
	struct e1000_state s = e->st;
	uint32_t body = (uint32_t)(e1000_save_size() - 4);
	put32(buf, body);
	struct cursor c = { .w = buf + 4 };
	walk(&c, &s);
}

int e1000_restore(struct e1000 *e, const uint8_t *buf, size_t len, uint32_t version, char *err, size_t errlen)
{
	size_t want = e1000_save_size();
	if (version != E1000_STATE_VERSION) {
		snprintf(err, errlen, "%s: saved state version %u, this petrel reads %u", e->name, version,
			 E1000_STATE_VERSION);
		return -EINVAL;
	}
	if (len != want || get32(buf) != want - 4) {
		snprintf(err, errlen, "%s: saved state is %zu bytes, expected %zu", e->name, len, want);
		return -EINVAL;
	}
	struct e1000_state s;
	memset(&s, 0, sizeof(s));
	struct cursor c = { .r = buf + 4, .len = len - 4 };
	walk(&c, &s);
	if (c.short_read)
		return -EINVAL;
	/* The EEPROM must be this card's: the configured MAC address (one petrel chose itself,
	 * because none was configured, is taken from the snapshot). */
	uint8_t mac[6];
	for (unsigned i = 0; i < 3; i++) {
		mac[2 * i] = (uint8_t)s.eeprom[i];
		mac[2 * i + 1] = (uint8_t)(s.eeprom[i] >> 8);
	}
	if (e->mac_fixed && memcmp(mac, e->mac, 6) != 0) {
		snprintf(err, errlen, "%s: the snapshot's MAC address %02x:%02x:%02x:%02x:%02x:%02x is not the "
			 "configured one", e->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		return -EINVAL;
	}
	/* Values the registers could not hold are cut to what a write would leave. */
	s.rdlen &= 0xfff80;
	s.tdlen &= 0xfff80;
	s.rdh &= 0xffff;
	s.rdt &= 0xffff;
	s.tdh &= 0xffff;
	s.tdt &= 0xffff;
	s.itr &= 0xffff;
	s.rdtr &= 0xffff;
	s.radv &= 0xffff;
	s.tidv &= 0xffff;
	s.tadv &= 0xffff;
	s.icr &= E1000_ICR_VALID;
	s.ims &= E1000_ICR_VALID;
	s.ioaddr &= E1000_BAR0_SIZE - 4;
	s.eecd.addr %= E1000_EEPROM_WORDS;
	if (s.eecd.nout > 16)
		s.eecd.nout = 16;
	pthread_mutex_lock(&e->lock);
	memcpy(e->mac, mac, 6);
	e->st = s;
	e1000_timers_cancel(e);
	e->rx_waiting = false;
	e->rx_len = 0;
	e1000_update_irq(e);
	pthread_mutex_unlock(&e->lock);
	return 0;
}
