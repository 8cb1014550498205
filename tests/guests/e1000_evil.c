/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e1000_evil: a hostile driver for petrel's E1000, from ring 3. It gives the card transmit and
 * receive rings outside RAM and of the largest length, heads and tails past the ring,
 * descriptors whose buffers lie outside RAM or are longer than any packet, a chain that
 * never ends (no EOP in the whole ring), a ring whose buffers are the ring itself, and
 * register writes and reads at every offset of BAR 0 with widths 1, 2, 4 and 8 (and the I/O
 * window's ports). Then it resets the card, drives it properly and sends one test frame ('E',
 * seq 7): tests/virtio/test_e1000.py checks it arrives, and that petrel and the serial console
 * kept working. Prints "ok e1000_evil".
 */
#include "e1000_common.h"

DEFINE_GUEST("e1000_evil");

#define IRQ_VECTOR 0x44
#define N 64

static struct e1000_card card;
static struct e1000_desc ring[N] __attribute__((aligned(4096)));
static uint8_t buf[4096] __attribute__((aligned(4096)));
static volatile uint32_t irqs;

static void on_irq(struct irq_frame *f)
{
	(void)f;
	irqs++;
	(void)er32(&card, 0xc0);
}

static uint32_t rnd_state = 0x2545f491;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void rings_outside_ram(void)
{
	ew32(&card, E_TCTL, E_TCTL_EN);
	ew32(&card, E_RCTL, E_RCTL_EN | E_RCTL_BAM | 0x18);   /* promiscuous too */
	ew32(&card, E_TDBAL, 0xfffff000u);
	ew32(&card, E_TDBAH, 0xffffffffu);
	ew32(&card, E_TDLEN, 0xffffffffu);
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0xffff);
	ew32(&card, E_RDBAL, 0xfee00000u);   /* the LAPIC */
	ew32(&card, E_RDBAH, 0);
	ew32(&card, E_RDLEN, 0xfff80);
	ew32(&card, E_RDT, 0x1234);
	ew32(&card, E_TDH, 0x9999);           /* past any ring */
	ew32(&card, E_TDT, 3);
	ew32(&card, E_TDLEN, 0);
	ew32(&card, E_TDT, 5);
}

static void wild_descriptors(void)
{
	e1000_reset(&card);
	ew32(&card, E_TDBAL, (uint32_t)(uintptr_t)ring);
	ew32(&card, E_TDBAH, 0);
	ew32(&card, E_TDLEN, sizeof(ring));
	ew32(&card, E_TCTL, E_TCTL_EN);
	/* buffers outside RAM, lengths past any packet */
	for (unsigned i = 0; i < N; i++) {
		ring[i].addr = 0xffffffff00000000ull + i * 0x100000ull;
		ring[i].length = 0xffff;
		ring[i].cmd_or_csum_hi = (uint8_t)(E_TXD_RS | ((i % 3 == 2) ? E_TXD_EOP : 0));
		ring[i].status = 0;
	}
	ew32(&card, E_TDT, N - 1);
	/* a chain that never ends: no EOP anywhere, the tail one behind the head */
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0);
	for (unsigned i = 0; i < N; i++) {
		ring[i].addr = (uintptr_t)buf;
		ring[i].length = 1000;
		ring[i].cmd_or_csum_hi = 0;
	}
	ew32(&card, E_TDT, N - 1);
	check(er32(&card, E_TDH) == 0, "a packet without an end moved TDH to %u", er32(&card, E_TDH));
	/* extended descriptors with TSO contexts that do not fit, buffers that are the ring */
	for (unsigned i = 0; i < N; i++) {
		ring[i].addr = (uintptr_t)ring;
		ring[i].length = (uint16_t)rnd();
		ring[i].cso_or_csum_lo = (uint8_t)rnd();
		ring[i].cmd_or_csum_hi = (uint8_t)(rnd() | 0x20);
		ring[i].status = (uint8_t)rnd();
		ring[i].css_or_errors = (uint8_t)rnd();
		ring[i].special = (uint16_t)rnd();
	}
	ring[N - 2].cmd_or_csum_hi |= E_TXD_EOP;
	ew32(&card, E_TDT, N - 1);
	/* receive into a ring whose buffers are the ring itself */
	for (unsigned i = 0; i < N; i++) {
		ring[i].addr = (uintptr_t)ring;
		ring[i].status = 0;
	}
	ew32(&card, E_RDBAL, (uint32_t)(uintptr_t)ring);
	ew32(&card, E_RDLEN, sizeof(ring));
	ew32(&card, E_RDT, N - 1);
	ew32(&card, E_RCTL, E_RCTL_EN | 0x18);
}

static void every_register(void)
{
	for (uint32_t off = 0; off < 0x20000; off += 4) {
		uint32_t v = rnd();
		if (off == 0)
			v &= ~E_CTRL_RST;
		volatile uint8_t *p = (volatile uint8_t *)(card.bar0 + off);
		switch ((off >> 2) & 3) {
		case 0: *(volatile uint32_t *)p = v; (void)*(volatile uint32_t *)p; break;
		case 1: *(volatile uint16_t *)(p + 2) = (uint16_t)v; (void)*(volatile uint16_t *)(p + 1); break;
		case 2: p[3] = (uint8_t)v; (void)p[1]; break;
		default:
			if (!(off & 7)) {
				*(volatile uint64_t *)p = (uint64_t)v << 32 | rnd();
				(void)*(volatile uint64_t *)p;
			} else {
				*(volatile uint32_t *)p = v;
			}
			break;
		}
	}
	uint32_t io = pci_cfg_read32(card.slot, 0x14);
	if (io & 1) {
		uint16_t port = (uint16_t)(io & ~3u);
		for (uint16_t o = 0; o < 0x40; o++) {
			outb((uint16_t)(port + o), (uint8_t)rnd());
			(void)inb((uint16_t)(port + o));
		}
		outl(port, 0x0008);
		(void)inl((uint16_t)(port + 4));
		outl(port, 0xfffffff0u);
		outl((uint16_t)(port + 4), rnd());
	}
}

static long body(long arg)
{
	(void)arg;
	e1000_reset(&card);
	rings_outside_ram();
	wild_descriptors();
	every_register();
	/* a card again: reset, one frame out */
	e1000_reset(&card);
	uint8_t mac[6];
	for (unsigned w = 0; w < 3; w++) {
		uint16_t v = e1000_eeprom(&card, w);
		mac[2 * w] = (uint8_t)v;
		mac[2 * w + 1] = (uint8_t)(v >> 8);
	}
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	memset(ring, 0, sizeof(ring));
	net_build_frame(buf, bcast, mac, 'E', 7, 100);
	ring[0].addr = (uintptr_t)buf;
	ring[0].length = 100;
	ring[0].cmd_or_csum_hi = E_TXD_EOP | E_TXD_IFCS | E_TXD_RS;
	ew32(&card, E_TDBAL, (uint32_t)(uintptr_t)ring);
	ew32(&card, E_TDBAH, 0);
	ew32(&card, E_TDLEN, sizeof(ring));
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0);
	ew32(&card, E_TCTL, E_TCTL_EN);
	ew32(&card, E_TDT, 1);
	struct deadline d;
	deadline_start(&d, 10);
	while (!(ring[0].status & E_DD) && !deadline_expired(&d))
		pause();
	check(ring[0].status & E_DD, "the reset card did not send");
	return 0;
}

void test_main(void)
{
	check(e1000_find(&card), "no E1000 (8086:100e) on PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	ioapic_route(card.gsi, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	printf("e1000-evil irqs=%u\n", irqs);
	pass();
}
