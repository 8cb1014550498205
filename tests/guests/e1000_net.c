/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e1000_net: drives petrel's E1000 with its own driver from ring 3; tests/virtio/test_e1000.py
 * sits on the host side of the tap with a packet socket (the frame format and protocol of
 * virtio_net_common.h and tests/virtio/nethelp.py's exchange()).
 * Command line:
 *   mac=aa:bb:cc:dd:ee:ff  the MAC petrel was given: the EEPROM must say it
 *   rxbufs=N             receive descriptors handed to the card (default 16, at most 63)
 *   out=N                data frames to send (default 32)
 *   in=N                 data frames to expect from the host (default 200)
 *   hold_ms=N            after the ring first fills, wait this long before giving buffers
 *                        back (default 200): the host's burst must wait in the tap, not be lost
 *   itr=N                interrupt throttling (ITR register, 256 ns units; default 0)
 *   wait_s=N             how long the host may be silent (default 20; a snapshot in between
 *                        needs more)
 * Checks the EEPROM (MAC, checksum 0xBABA), the PHY (Marvell ID, link) and STATUS.LU, then
 * sends 'H' and `out` frames of 60..1514 bytes in 1, 2 or 3 legacy descriptors, expects `in`
 * frames in order with intact payloads (each descriptor's length includes the 4-byte CRC),
 * sends 'E' with the count. Prints "e1000 rx=N tx=N irqs=N gprc=N gptc=N", "ok e1000_net".
 */
#include "e1000_common.h"

DEFINE_GUEST("e1000_net");

#define IRQ_VECTOR 0x43
#define RXN 64
#define TXN 64
#define BUFSZ 2048

static struct e1000_card card;
static struct e1000_desc rxr[RXN] __attribute__((aligned(4096)));
static struct e1000_desc txr[TXN] __attribute__((aligned(4096)));
static uint8_t rxbuf[RXN][BUFSZ] __attribute__((aligned(4096)));
static uint8_t txbuf[TXN][BUFSZ] __attribute__((aligned(4096)));
static uint8_t frame[8192];
static volatile uint32_t irqs, causes;
static long nbufs, nout, nin, hold_ms, wait_s;
static uint8_t mac[6], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint32_t received, sent, rx_next, tx_next, tx_clean;
static uint64_t tsc_hz;

static void on_irq(struct irq_frame *f)
{
	(void)f;
	irqs++;
	causes |= er32(&card, E_ICR);   /* acknowledges: the level-triggered line drops */
}

static void spin_ms(long ms)
{
	uint64_t end = rdtsc() + tsc_hz / 1000 * (uint64_t)ms;
	while (rdtsc() < end)
		pause();
}

/* Descriptors come back a frame at a time: the card sets DD only where RS asked for it (the
 * frame's last descriptor), as Linux's e1000 reclaims them. */
static void tx_reclaim(void)
{
	while (tx_clean != tx_next) {
		uint32_t j = tx_clean;
		while (j != tx_next && !(txr[j % TXN].cmd_or_csum_hi & E_TXD_RS))
			j++;
		if (j == tx_next || !(txr[j % TXN].status & E_DD))
			break;
		tx_clean = j + 1;
	}
}

/* One frame in `parts` legacy descriptors; RS on the last. */
static void tx_frame(char kind, uint32_t seq, uint16_t len, unsigned parts)
{
	struct deadline d;
	deadline_start(&d, 10);
	while (tx_next - tx_clean > TXN - 4) {
		tx_reclaim();
		check(!deadline_expired(&d), "transmit descriptors stopped coming back");
	}
	uint8_t *p = txbuf[tx_next % TXN];
	net_build_frame(p, bcast, mac, kind, seq, len);
	uint16_t cut[3] = { len, 0, 0 };
	if (parts == 2) {
		cut[0] = 14;
		cut[1] = (uint16_t)(len - 14);
	} else if (parts == 3) {
		cut[0] = 6;
		cut[1] = 20;
		cut[2] = (uint16_t)(len - 26);
	}
	uint32_t off = 0;
	for (unsigned i = 0; i < parts; i++) {
		struct e1000_desc *t = &txr[tx_next % TXN];
		memset(t, 0, sizeof(*t));
		t->addr = (uintptr_t)p + off;
		t->length = cut[i];
		t->cmd_or_csum_hi = E_TXD_IFCS | (i + 1 == parts ? E_TXD_EOP | E_TXD_RS : 0);
		off += cut[i];
		tx_next++;
	}
	sent++;
	ew32(&card, E_TDT, tx_next % TXN);
}

/* The next received frame into `frame` (without the CRC); -1 after `seconds` of nothing. */
static long rx_frame(int seconds)
{
	struct deadline d;
	deadline_start(&d, seconds);
	struct e1000_desc *r = &rxr[rx_next % RXN];
	while (!(r->status & E_DD)) {
		if (deadline_expired(&d))
			return -1;
		pause();
	}
	check(r->status & E_EOP, "a 2 KiB buffer holds every frame: EOP expected (status 0x%x)", r->status);
	check(r->length >= 64 && r->length <= 1518, "descriptor length %u", r->length);
	long len = r->length - 4;   /* the CRC */
	memcpy(frame, rxbuf[rx_next % RXN], (size_t)len);
	/* give the buffer back */
	r->status = 0;
	rx_next++;
	ew32(&card, E_RDT, (rx_next + (uint32_t)nbufs) % RXN);
	return len;
}

static long body(long arg)
{
	(void)arg;
	tsc_hz = e1000_tsc_hz();

	e1000_reset(&card);
	/* EEPROM: checksum and MAC (Linux's e1000_validate_eeprom_checksum, e1000_read_mac_addr) */
	uint16_t sum = 0;
	for (unsigned w = 0; w < 64; w++)
		sum = (uint16_t)(sum + e1000_eeprom(&card, w));
	check(sum == 0xbaba, "EEPROM checksum 0x%x", sum);
	for (unsigned w = 0; w < 3; w++) {
		uint16_t v = e1000_eeprom(&card, w);
		mac[2 * w] = (uint8_t)v;
		mac[2 * w + 1] = (uint8_t)(v >> 8);
	}
	size_t ml;
	const char *ms = cmdline_value("mac", &ml);
	if (ms) {
		uint8_t want[6];
		check(net_parse_mac(ms, ml, want), "bad mac= on the command line");
		check(!memcmp(mac, want, 6), "EEPROM MAC %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		      mac[3], mac[4], mac[5]);
	}
	check(e1000_phy_read(&card, 2) == 0x0141, "PHY ID1 0x%x", e1000_phy_read(&card, 2));
	check(e1000_phy_read(&card, 1) & 0x4, "PHY says the link is down");
	ew32(&card, E_CTRL, er32(&card, E_CTRL) | E_CTRL_SLU);
	check(er32(&card, E_STATUS) & E_STATUS_LU, "STATUS: link down");

	for (unsigned i = 0; i < RXN; i++) {
		memset(&rxr[i], 0, sizeof(rxr[i]));
		rxr[i].addr = (uintptr_t)rxbuf[i];
	}
	ew32(&card, E_RDBAL, (uint32_t)(uintptr_t)rxr);
	ew32(&card, E_RDBAH, 0);
	ew32(&card, E_RDLEN, sizeof(rxr));
	ew32(&card, E_RDH, 0);
	ew32(&card, E_RDT, (uint32_t)nbufs);
	ew32(&card, E_TDBAL, (uint32_t)(uintptr_t)txr);
	ew32(&card, E_TDBAH, 0);
	ew32(&card, E_TDLEN, sizeof(txr));
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0);
	ew32(&card, E_ITR, (uint32_t)cmdline_int("itr", 0));
	ew32(&card, E_IMS, E_ICR_RXT0 | E_ICR_TXDW | E_ICR_LSC);
	ew32(&card, E_TCTL, E_TCTL_EN | E_TCTL_PSP);
	ew32(&card, E_RCTL, E_RCTL_EN | E_RCTL_BAM);   /* 2 KiB buffers, CRC kept as Linux has it */

	/* guest -> host */
	tx_frame('H', 0, 60, 2);
	for (uint32_t s = 0; s < (uint32_t)nout; s++)
		tx_frame('D', s, (uint16_t)(60 + (s * 331) % 1455), 1 + s % 3);

	/* host -> guest */
	bool held = false;
	while (received < (uint32_t)nin) {
		if (!held && hold_ms && (rxr[(rx_next + (uint32_t)nbufs - 1) % RXN].status & E_DD)) {
			/* every buffer is full: the rest of the burst must wait in the tap */
			spin_ms(hold_ms);
			held = true;
		}
		long len = rx_frame((int)wait_s);
		check(len >= 0, "received %u of %ld frames, then nothing for %ld s", received, nin, wait_s);
		char kind;
		uint32_t seq;
		const char *why = net_check_frame(frame, (uint32_t)len, &kind, &seq);
		if (why && !strcmp(why, "not a test frame"))
			continue;
		check(!why, "frame %u (%ld bytes): %s", received, len, why);
		check(kind == 'D' && seq == received, "expected data frame %u, got '%c' %u", received, kind, seq);
		check(!memcmp(frame, mac, 6), "frame %u not addressed to us", seq);
		received++;
	}
	tx_frame('E', received, 60, 1);
	struct deadline d;
	deadline_start(&d, 10);
	while (tx_clean != tx_next && !deadline_expired(&d))
		tx_reclaim();
	check(tx_clean == tx_next, "the last frames were not sent");
	for (int i = 0; i < 2000000 && !irqs; i++)
		pause();
	return 0;
}

void test_main(void)
{
	nbufs = cmdline_int("rxbufs", 16);
	nout = cmdline_int("out", 32);
	nin = cmdline_int("in", 200);
	hold_ms = cmdline_int("hold_ms", 200);
	wait_s = cmdline_int("wait_s", 20);
	check(nbufs >= 1 && nbufs < RXN, "bad rxbufs=%ld", nbufs);
	check(e1000_find(&card), "no E1000 (8086:100e) on PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	ioapic_route(card.gsi, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	uint32_t gprc = er32(&card, E_GPRC), gptc = er32(&card, E_GPTC);
	printf("e1000 rx=%u tx=%u irqs=%u gprc=%u gptc=%u\n", received, sent, irqs, gprc, gptc);
	check(irqs > 0 && (causes & (E_ICR_RXT0 | E_ICR_TXDW)), "no interrupt arrived (causes 0x%x)", causes);
	pass();
}
