/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e1000_common.h - a tiny driver for petrel's Intel 82540EM (E1000), shared by the E1000 test
 * guests: finding the card on PCI, its registers in BAR 0, the EEPROM, the PHY, legacy
 * descriptor rings. Everything here may run in ring 3 (port I/O and MMIO are allowed there).
 */
#ifndef PETREL_GUEST_E1000_COMMON_H
#define PETREL_GUEST_E1000_COMMON_H

#include "virtio_net_common.h"

#define E_CTRL 0x0000
#define E_STATUS 0x0008
#define E_EECD 0x0010
#define E_EERD 0x0014
#define E_MDIC 0x0020
#define E_ICR 0x00c0
#define E_ITR 0x00c4
#define E_ICS 0x00c8
#define E_IMS 0x00d0
#define E_IMC 0x00d8
#define E_RCTL 0x0100
#define E_TCTL 0x0400
#define E_RDBAL 0x2800
#define E_RDBAH 0x2804
#define E_RDLEN 0x2808
#define E_RDH 0x2810
#define E_RDT 0x2818
#define E_RDTR 0x2820
#define E_TDBAL 0x3800
#define E_TDBAH 0x3804
#define E_TDLEN 0x3808
#define E_TDH 0x3810
#define E_TDT 0x3818
#define E_GPRC 0x4074
#define E_GPTC 0x4080
#define E_RA 0x5400

#define E_CTRL_RST (1u << 26)
#define E_CTRL_SLU (1u << 6)
#define E_STATUS_LU 0x2
#define E_RCTL_EN 0x2
#define E_RCTL_BAM 0x8000
#define E_RCTL_SECRC 0x04000000u
#define E_TCTL_EN 0x2
#define E_TCTL_PSP 0x8
#define E_ICR_TXDW 0x1
#define E_ICR_LSC 0x4
#define E_ICR_RXT0 0x80
#define E_TXD_EOP 0x01
#define E_TXD_IFCS 0x02
#define E_TXD_RS 0x08
#define E_DD 0x01
#define E_EOP 0x02

struct e1000_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso_or_csum_lo, cmd_or_csum_hi;
	uint8_t status, css_or_errors;
	uint16_t special;
};

struct e1000_card {
	unsigned slot;
	uintptr_t bar0;
	uint8_t gsi;
};

static inline uint32_t er32(struct e1000_card *c, unsigned reg) { return mmio_read32(c->bar0 + reg); }
static inline void ew32(struct e1000_card *c, unsigned reg, uint32_t v) { mmio_write32(c->bar0 + reg, v); }

/* The first 8086:100E on bus 0: memory decoding and bus mastering on. */
static inline bool e1000_find(struct e1000_card *c)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		if (pci_cfg_read32(slot, 0) != 0x100e8086u)
			continue;
		c->slot = slot;
		c->bar0 = pci_cfg_read32(slot, 0x10) & ~0xfu;
		c->gsi = pci_cfg_read8(slot, 0x3c);
		pci_cfg_write16(slot, 0x04, pci_cfg_read16(slot, 0x04) | 0x6);
		return true;
	}
	return false;
}

/* Push the register writes before it through to the card: a read of the card completes only
 * after every earlier write to it (PCI: memory writes are posted, a read is not), what Linux's
 * e1000 calls E1000_WRITE_FLUSH. A driver that waits for the card to act on a write (RDT, RCTL,
 * TDT) without any other access to it must do this first, or the write may sit in a buffer on
 * the way: under KVM, QEMU's e1000 leaves writes to most of its registers (RCTL and RDT among
 * them) in KVM's coalesced-MMIO ring until the vCPU next exits to QEMU, and a guest that only
 * polls memory never does (petrel serves every write at once; the read costs an exit there). */
static inline void e1000_flush(struct e1000_card *c)
{
	(void)er32(c, E_STATUS);
}

/* CTRL.RST; the card comes back with its EEPROM loaded. */
static inline void e1000_reset(struct e1000_card *c)
{
	ew32(c, E_IMC, 0xffffffffu);
	ew32(c, E_CTRL, er32(c, E_CTRL) | E_CTRL_RST);
	for (int i = 0; i < 100000 && (er32(c, E_CTRL) & E_CTRL_RST); i++)
		pause();
	ew32(c, E_IMC, 0xffffffffu);
	(void)er32(c, E_ICR);
}

static inline uint16_t e1000_eeprom(struct e1000_card *c, unsigned word)
{
	ew32(c, E_EERD, word << 8 | 1);
	uint32_t v;
	for (int i = 0; i < 100000 && !((v = er32(c, E_EERD)) & 0x10); i++)
		pause();
	return (uint16_t)(v >> 16);
}

/* PHY register through MDIC (PHY address 1); -1 on an MDIC error or timeout. */
static inline int e1000_phy_read(struct e1000_card *c, unsigned reg)
{
	ew32(c, E_MDIC, reg << 16 | 1u << 21 | 2u << 26);
	for (int i = 0; i < 100000; i++) {
		uint32_t v = er32(c, E_MDIC);
		if (v & (1u << 28))
			return (v & (1u << 30)) ? -1 : (int)(v & 0xffff);
		pause();
	}
	return -1;
}

/* TSC ticks in one RTC second. */
static inline uint64_t e1000_tsc_hz(void)
{
	return tsc_hz_from_rtc();
}

#endif
