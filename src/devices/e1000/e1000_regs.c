/* The E1000's register file: what a read or write of each register of BAR 0 does (the I/O
 * window of BAR 1 reaches the same registers through IOADDR/IODATA: e1000.c). Registers the
 * model does not know read as zero and ignore writes; values are masked to the bits the
 * 82540EM implements, so a wild write cannot put the model in a state the card cannot be in. */
#include "devices/e1000/e1000_int.h"
#include "util/stat.h"

/* Sizes that span a register array: [base, base + 4 * n). */
static bool in_array(uint32_t off, uint32_t base, unsigned n, unsigned *i)
{
	if (off < base || off >= base + 4 * n)
		return false;
	*i = (off - base) / 4;
	return true;
}

void e1000_reset_regs(struct e1000 *e)
{
	struct e1000_state *s = &e->st;
	uint16_t eeprom[E1000_EEPROM_WORDS];
	memcpy(eeprom, s->eeprom, sizeof(eeprom));
	memset(s, 0, sizeof(*s));
	memcpy(s->eeprom, eeprom, sizeof(eeprom));
	s->ctrl = E1000_CTRL_FD | E1000_CTRL_SLU | 0x200;   /* 1000 Mb/s */
	s->status = E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000 |
		    E1000_STATUS_MTXCKOK;
	s->vet = 0x8100;
	s->ledctl = 0x07068302;
	s->pba = 0x00100030;       /* 48 KiB receive, 16 KiB transmit */
	s->rxcsum = E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL;
	s->tipg = 0x00602008;
	s->manc = 0;
	/* the EEPROM's MAC address loads into receive address 0 */
	s->ra[0] = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 | (uint32_t)e->mac[2] << 16 | (uint32_t)e->mac[3] << 24;
	s->ra[1] = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV;
	e1000_phy_reset(e);
	e1000_timers_cancel(e);
	e->rx_waiting = false;
	e1000_update_irq(e);
}

uint32_t e1000_reg_read(struct e1000 *e, uint32_t off)
{
	struct e1000_state *s = &e->st;
	unsigned i;
	stat_add(&e->stats.reg_reads, 1);
	if (in_array(off, E1000_STATS, E1000_NSTATS, &i)) {
		uint32_t v = s->stats[i];
		s->stats[i] = 0;   /* statistics clear when read */
		return v;
	}
	if (in_array(off, E1000_MTA, E1000_MTA_WORDS, &i))
		return s->mta[i];
	if (in_array(off, E1000_RA, E1000_RA_WORDS, &i))
		return s->ra[i];
	if (in_array(off, E1000_VFTA, E1000_VFTA_WORDS, &i))
		return s->vfta[i];
	switch (off) {
	case E1000_CTRL: return s->ctrl;
	case E1000_STATUS: return s->status;
	case E1000_EECD: return e1000_eecd_read(e);
	case E1000_EERD: return s->eerd;
	case E1000_CTRL_EXT: return s->ctrl_ext;
	case E1000_MDIC: return s->mdic;
	case E1000_FCAL: return s->fcal;
	case E1000_FCAH: return s->fcah;
	case E1000_FCT: return s->fct;
	case E1000_VET: return s->vet;
	case E1000_ICR: {
		uint32_t v = s->icr;
		s->icr = 0;   /* reading ICR acknowledges every cause */
		e1000_update_irq(e);
		return v;
	}
	case E1000_ITR: return s->itr;
	case E1000_IMS: return s->ims;
	case E1000_RCTL: return s->rctl;
	case E1000_FCTTV: return s->fcttv;
	case E1000_TXCW: return s->txcw;
	case E1000_RXCW: return s->rxcw;
	case E1000_TCTL: return s->tctl;
	case E1000_TIPG: return s->tipg;
	case E1000_LEDCTL: return s->ledctl;
	case E1000_PBA: return s->pba;
	case E1000_FCRTL: return s->fcrtl;
	case E1000_FCRTH: return s->fcrth;
	case E1000_RDBAL: return s->rdbal;
	case E1000_RDBAH: return s->rdbah;
	case E1000_RDLEN: return s->rdlen;
	case E1000_RDH: return s->rdh;
	case E1000_RDT: return s->rdt;
	case E1000_RDTR: return s->rdtr;
	case E1000_RXDCTL: return s->rxdctl;
	case E1000_RADV: return s->radv;
	case E1000_RSRPD: return s->rsrpd;
	case E1000_TDBAL: return s->tdbal;
	case E1000_TDBAH: return s->tdbah;
	case E1000_TDLEN: return s->tdlen;
	case E1000_TDH: return s->tdh;
	case E1000_TDT: return s->tdt;
	case E1000_TIDV: return s->tidv;
	case E1000_TXDCTL: return s->txdctl;
	case E1000_TADV: return s->tadv;
	case E1000_TSPMT: return s->tspmt;
	case E1000_RXCSUM: return s->rxcsum;
	case E1000_WUC: return s->wuc;
	case E1000_WUFC: return s->wufc;
	case E1000_WUS: return s->wus;
	case E1000_MANC: return s->manc;
	default: return 0;
	}
}

void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	struct e1000_state *s = &e->st;
	unsigned i;
	stat_add(&e->stats.reg_writes, 1);
	if (in_array(off, E1000_MTA, E1000_MTA_WORDS, &i)) {
		s->mta[i] = v;
		return;
	}
	if (in_array(off, E1000_RA, E1000_RA_WORDS, &i)) {
		s->ra[i] = (i & 1) ? (v & (E1000_RAH_AV | 0x0003ffff)) : v;   /* RAH: AV, ASEL, the address */
		return;
	}
	if (in_array(off, E1000_VFTA, E1000_VFTA_WORDS, &i)) {
		s->vfta[i] = v;
		return;
	}
	switch (off) {
	case E1000_CTRL:
		if (v & E1000_CTRL_RST) {
			e1000_reset_regs(e);   /* self-clearing: the card comes back as after power-on */
			return;
		}
		if (v & E1000_CTRL_PHY_RST)
			e1000_phy_reset(e);
		s->ctrl = v & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
		return;
	case E1000_EECD: e1000_eecd_write(e, v); return;
	case E1000_EERD: s->eerd = e1000_eerd_write(e, v); return;
	case E1000_CTRL_EXT: s->ctrl_ext = v & ~0x2000u; return;   /* EE_RST self-clears (the reload is instant) */
	case E1000_MDIC: e1000_mdic_write(e, v); return;
	case E1000_FCAL: s->fcal = v; return;
	case E1000_FCAH: s->fcah = v & 0xffff; return;
	case E1000_FCT: s->fct = v & 0xffff; return;
	case E1000_VET: s->vet = v & 0xffff; return;
	case E1000_ICR:
		s->icr &= ~v;   /* writing ones acknowledges those causes */
		e1000_update_irq(e);
		return;
	case E1000_ICS: e1000_raise(e, v & E1000_ICR_VALID); return;
	case E1000_IMS:
		s->ims |= v & E1000_ICR_VALID;
		e1000_update_irq(e);
		return;
	case E1000_IMC:
		s->ims &= ~v;
		e1000_update_irq(e);
		return;
	case E1000_ITR: s->itr = v & 0xffff; return;
	case E1000_RCTL:
		s->rctl = v & 0x07ffbffeu;
		e1000_rx_kick(e);
		return;
	case E1000_FCTTV: s->fcttv = v & 0xffff; return;
	case E1000_TXCW: s->txcw = v; return;
	case E1000_TCTL:
		s->tctl = v;
		e1000_tx(e);
		return;
	case E1000_TIPG: s->tipg = v; return;
	case E1000_LEDCTL: s->ledctl = v; return;
	case E1000_PBA: s->pba = v & 0x3f; return;
	case E1000_FCRTL: s->fcrtl = v & 0x8000fff8u; return;
	case E1000_FCRTH: s->fcrth = v & 0xfff8; return;
	case E1000_RDBAL: s->rdbal = v & ~0xfu; return;
	case E1000_RDBAH: s->rdbah = v; return;
	case E1000_RDLEN: s->rdlen = v & 0xfff80; return;
	case E1000_RDH: s->rdh = v & 0xffff; return;
	case E1000_RDT:
		s->rdt = v & 0xffff;
		e1000_rx_kick(e);
		return;
	case E1000_RDTR:
		s->rdtr = v & 0xffff;
		if (v & 0x80000000u) {   /* FPD: flush the pending receive delay now */
			e->rx_pkt_due = e->rx_abs_due = 0;
			if (e->delayed & E1000_ICR_RXT0) {
				e->delayed &= ~E1000_ICR_RXT0;
				e1000_raise(e, E1000_ICR_RXT0);
			}
		}
		return;
	case E1000_RXDCTL: s->rxdctl = v & 0x01ff3f3f; return;
	case E1000_RADV: s->radv = v & 0xffff; return;
	case E1000_RSRPD: s->rsrpd = v & 0xfff; return;
	case E1000_TDBAL: s->tdbal = v & ~0xfu; return;
	case E1000_TDBAH: s->tdbah = v; return;
	case E1000_TDLEN: s->tdlen = v & 0xfff80; return;
	case E1000_TDH: s->tdh = v & 0xffff; return;
	case E1000_TDT:
		s->tdt = v & 0xffff;
		e1000_tx(e);   /* the doorbell: transmit on this (the vCPU's) thread */
		return;
	case E1000_TIDV: s->tidv = v & 0xffff; return;
	case E1000_TXDCTL: s->txdctl = v & 0x01ff3f3f; return;
	case E1000_TADV: s->tadv = v & 0xffff; return;
	case E1000_TSPMT: s->tspmt = v; return;
	case E1000_RXCSUM: s->rxcsum = v & 0x3ff; return;
	case E1000_WUC: s->wuc = v & 0xf; return;
	case E1000_WUFC: s->wufc = v; return;
	case E1000_WUS: s->wus &= ~v; return;
	case E1000_MANC: s->manc = v; return;
	default: return;   /* STATUS, statistics and unknown registers: read-only or absent */
	}
}
