/* The E1000's saved state (section E1K, docs/snapshots.md): the PCI configuration space, then
 * every field of struct e1000_state, through util/codec.h in the order below. Snapshots, live
 * migration and replication carry these bytes. Host-side state (the tap, timers, a frame in
 * rx_buf) is not guest-visible: e1000_quiesce turned delayed interrupt causes into pending ones
 * before a save. */
#include "devices/e1000/e1000_int.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>

/* The 32-bit registers, in their saved order. */
#define E1000_SAVED_REGS(X) \
	X(ctrl) X(status) X(ctrl_ext) X(eerd) X(mdic) X(fcal) X(fcah) X(fct) X(vet) X(fcttv) X(txcw) \
	X(rxcw) X(icr) X(ims) X(itr) X(rctl) X(rdbal) X(rdbah) X(rdlen) X(rdh) X(rdt) X(rdtr) X(rxdctl) \
	X(radv) X(rsrpd) X(rxcsum) X(fcrtl) X(fcrth) X(pba) X(ledctl) X(tctl) X(tipg) X(tdbal) X(tdbah) \
	X(tdlen) X(tdh) X(tdt) X(tidv) X(txdctl) X(tadv) X(tspmt) X(wuc) X(wufc) X(wus) X(manc) X(ioaddr)

/* The fields after the registers: (width, field), in their saved order. */
#define E1000_SAVED_TAIL(X) \
	X(32, eecd.latch) X(16, eecd.in) X(8, eecd.nin) X(8, eecd.reading) X(16, eecd.addr) X(8, eecd.nout) \
	X(8, tx_ctx.ipcss) X(8, tx_ctx.ipcso) X(16, tx_ctx.ipcse) X(8, tx_ctx.tucss) X(8, tx_ctx.tucso) \
	X(16, tx_ctx.tucse) X(8, tx_ctx.tucmd) X(8, tx_ctx.hdr_len) X(16, tx_ctx.mss) X(32, tx_ctx.paylen)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void e1000_save_state(void *dev, struct enc *e)
{
	struct e1000 *c = dev;
	pthread_mutex_lock(&c->lock);
	const struct e1000_state *s = &c->st;
	put_bytes(e, c->pci.st.cfg, sizeof(c->pci.st.cfg));
#define PUT_REG(name) put_u32(e, s->name);
	E1000_SAVED_REGS(PUT_REG)
#undef PUT_REG
	for (unsigned i = 0; i < ARRAY_LEN(s->mta); i++)
		put_u32(e, s->mta[i]);
	for (unsigned i = 0; i < ARRAY_LEN(s->ra); i++)
		put_u32(e, s->ra[i]);
	for (unsigned i = 0; i < ARRAY_LEN(s->vfta); i++)
		put_u32(e, s->vfta[i]);
	for (unsigned i = 0; i < ARRAY_LEN(s->stats); i++)
		put_u32(e, s->stats[i]);
	for (unsigned i = 0; i < ARRAY_LEN(s->eeprom); i++)
		put_u16(e, s->eeprom[i]);
	for (unsigned i = 0; i < ARRAY_LEN(s->phy); i++)
		put_u16(e, s->phy[i]);
#define PUT_TAIL(w, f) put_u##w(e, s->f);
	E1000_SAVED_TAIL(PUT_TAIL)
#undef PUT_TAIL
	pthread_mutex_unlock(&c->lock);
}

static void get_state(struct dec *d, struct e1000_state *s)
{
#define GET_REG(name) s->name = get_u32(d);
	E1000_SAVED_REGS(GET_REG)
#undef GET_REG
	for (unsigned i = 0; i < ARRAY_LEN(s->mta); i++)
		s->mta[i] = get_u32(d);
	for (unsigned i = 0; i < ARRAY_LEN(s->ra); i++)
		s->ra[i] = get_u32(d);
	for (unsigned i = 0; i < ARRAY_LEN(s->vfta); i++)
		s->vfta[i] = get_u32(d);
	for (unsigned i = 0; i < ARRAY_LEN(s->stats); i++)
		s->stats[i] = get_u32(d);
	for (unsigned i = 0; i < ARRAY_LEN(s->eeprom); i++)
		s->eeprom[i] = get_u16(d);
	for (unsigned i = 0; i < ARRAY_LEN(s->phy); i++)
		s->phy[i] = get_u16(d);
#define GET_TAIL(w, f) s->f = get_u##w(d);
	E1000_SAVED_TAIL(GET_TAIL)
#undef GET_TAIL
}

static int e1000_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct e1000 *c = dev;
	struct pci_config_state cfg;
	struct e1000_state s;
	memset(&s, 0, sizeof(s));
	get_bytes(d, cfg.cfg, sizeof(cfg.cfg));
	get_state(d, &s);
	int e = dec_end(d, c->name, err, errlen);
	if (e < 0)
		return e;
	/* The EEPROM must be this card's: the configured MAC address (one petrel chose itself,
	 * because none was configured, is taken from the snapshot). */
	uint8_t mac[6];
	for (unsigned i = 0; i < 3; i++) {
		mac[2 * i] = (uint8_t)s.eeprom[i];
		mac[2 * i + 1] = (uint8_t)(s.eeprom[i] >> 8);
	}
	if (c->mac_fixed && memcmp(mac, c->mac, 6) != 0)
		return error_set(err, errlen, -EINVAL, "%s: the snapshot's MAC address %02x:%02x:%02x:%02x:%02x:%02x is not the "
			 "configured one", c->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
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
	/* the configuration space last among the checks: it applies itself once it passed */
	if ((e = pci_device_restore(&c->pci, &cfg, err, errlen)) < 0)
		return e;
	pthread_mutex_lock(&c->lock);
	memcpy(c->mac, mac, 6);
	c->st = s;
	e1000_timers_cancel(c);
	c->rx_waiting = false;
	c->rx_len = 0;
	e1000_update_irq(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

const struct dev_state_ops e1000_state_ops = {
	.id = STATE_ID('E', '1', 'K', ' '), .version = 1,
	.save = e1000_save_state, .load = e1000_load_state,
};
