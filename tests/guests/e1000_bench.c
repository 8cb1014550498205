/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e1000_bench: benchmark driver for petrel's E1000 from ring 3, written the way Linux's e1000
 * drives the card: one TDT write per frame sent, RDT written back every 16 buffers received,
 * and (irq=1) an interrupt handler that reads ICR, as e1000_intr does, with the card's
 * interrupt throttling (itr=N, in 256 ns units) deciding how often it runs. Before it waits for
 * the card it reads STATUS once if it wrote RDT or TDT since the last read (e1000_flush: register
 * writes are posted; a read pushes them through), as a driver that polls must.
 * Command line:
 *   mode=tx|rx     tx: send `frames` frames of `size` bytes as fast as the card takes them;
 *                  rx: set up the ring, print "e1000bench: ready", wait for a byte on the serial
 *                  console (the host fills the tap meanwhile), then hand the card its buffers
 *                  and receive until `frames` arrived or nothing came for 2 s
 *   frames=N (default 200000), size=BYTES (tx, 60..16128, default 1514), irq=0|1 (default 1),
 *   itr=N (default 0), sync=0|1 (default 0; 1: tx also prints "e1000bench: ready" and waits
 *   for a byte before it starts, and both modes print "e1000bench: done" and wait for a byte
 *   after the last frame, so the host can read the VM's exit counters around the measured part)
 * Prints "e1000bench mode=M frames=N bytes=B tsc=CYCLES tsc_hz=HZ irqs=K" and "ok e1000_bench".
 */
#include "e1000_common.h"

DEFINE_GUEST("e1000_bench");

#define IRQ_VECTOR 0x45
#define N 256
#define RXBUF 16384
#define TXMAX 16128

static struct e1000_card card;
static struct e1000_desc ring[N] __attribute__((aligned(4096)));
static uint8_t txbuf[4][TXMAX] __attribute__((aligned(4096)));
static uint8_t rxbuf[N][RXBUF] __attribute__((aligned(4096)));
static long mode, nframes, size, sync;
static uint64_t tsc_hz, tsc_cycles, frames_done, bytes_done;
static volatile uint64_t irqs;

static void on_irq(struct irq_frame *f)
{
	(void)f;
	irqs++;
	(void)er32(&card, E_ICR);
}

static void run_tx(void)
{
	static const uint8_t dst[6] = { 0x02, 0x62, 0x65, 0x6e, 0x63, 0x69 };
	for (unsigned b = 0; b < 4; b++) {
		memset(txbuf[b], 0x5a, (size_t)size);
		memcpy(txbuf[b], dst, 6);
		memcpy(txbuf[b] + 6, "\x02\x62\x65\x6e\x63\x68", 6);
		txbuf[b][12] = 0x88;
		txbuf[b][13] = 0xb5;
	}
	ew32(&card, E_TDBAL, (uint32_t)(uintptr_t)ring);
	ew32(&card, E_TDBAH, 0);
	ew32(&card, E_TDLEN, sizeof(ring));
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0);
	ew32(&card, E_TCTL, E_TCTL_EN | E_TCTL_PSP);
	if (sync)
		bench_sync("e1000bench", "ready", tsc_hz);
	uint64_t sent = 0, clean = 0, start = rdtsc();
	bool posted = false;   /* a TDT write the card may not have seen yet */
	while ((long)clean < nframes) {
		uint64_t progress = sent + clean;
		while ((long)sent < nframes && sent - clean < N - 1) {
			struct e1000_desc *t = &ring[sent % N];
			t->addr = (uintptr_t)txbuf[sent % 4];
			t->length = (uint16_t)size;
			t->status = 0;
			/* RS on every 32nd, as a driver that cleans in batches */
			t->cmd_or_csum_hi = E_TXD_EOP | E_TXD_IFCS | ((sent % 32 == 31 || (long)sent + 1 == nframes) ? E_TXD_RS : 0);
			sent++;
			ew32(&card, E_TDT, (uint32_t)(sent % N));
			posted = true;
		}
		while (clean < sent) {
			uint64_t last = clean | 31;
			if ((long)last + 1 > nframes)
				last = (uint64_t)nframes - 1;
			if (last >= sent || !(ring[last % N].status & E_DD))
				break;
			clean = last + 1;
		}
		if (sent + clean == progress && posted) {   /* waiting for the card */
			e1000_flush(&card);
			posted = false;
		}
		pause();
	}
	tsc_cycles = rdtsc() - start;
	frames_done = clean;
	bytes_done = clean * (uint64_t)size;
}

static void run_rx(void)
{
	for (unsigned i = 0; i < N; i++) {
		memset(&ring[i], 0, sizeof(ring[i]));
		ring[i].addr = (uintptr_t)rxbuf[i];
	}
	ew32(&card, E_RDBAL, (uint32_t)(uintptr_t)ring);
	ew32(&card, E_RDBAH, 0);
	ew32(&card, E_RDLEN, sizeof(ring));
	ew32(&card, E_RDH, 0);
	ew32(&card, E_RDT, 0);
	/* 16 KiB buffers (BSEX, BSIZE 01), long packets, CRC stripped, promiscuous */
	ew32(&card, E_RCTL, E_RCTL_EN | E_RCTL_BAM | 0x18 | 0x20 | (1u << 16) | (1u << 25) | (1u << 26));
	e1000_flush(&card);
	bench_sync("e1000bench", "ready", tsc_hz);
	ew32(&card, E_RDT, N - 1);   /* N - 1 buffers: RDT == RDH would mean none */
	bool posted = true;          /* an RDT write the card may not have seen yet */
	uint64_t first = 0, last = 0, next = 0, given = 0;
	uint64_t idle_limit = 2 * tsc_hz, wait_start = rdtsc();
	while ((long)frames_done < nframes) {
		struct e1000_desc *r = &ring[next % N];
		if (!(r->status & E_DD)) {
			if (posted) {   /* about to wait for the card: let it see the new tail first */
				e1000_flush(&card);
				posted = false;
				continue;
			}
			if (first ? rdtsc() - last > idle_limit : rdtsc() - wait_start > 120 * tsc_hz)
				break;
			pause();
			continue;
		}
		bytes_done += r->length;
		if (r->status & E_EOP) {
			frames_done++;
			last = rdtsc();
			if (!first)
				first = last;
		}
		r->status = 0;
		next++;
		if (next - given >= 16) {   /* E1000_RX_BUFFER_WRITE */
			given = next;
			ew32(&card, E_RDT, (uint32_t)((next + N - 1) % N));
			posted = true;
		}
	}
	tsc_cycles = last - first;
}

static long body(long arg)
{
	(void)arg;
	tsc_hz = e1000_tsc_hz();
	e1000_reset(&card);
	ew32(&card, E_CTRL, er32(&card, E_CTRL) | E_CTRL_SLU);
	ew32(&card, E_ITR, (uint32_t)cmdline_int("itr", 0));
	if (cmdline_int("irq", 1))
		ew32(&card, E_IMS, E_ICR_RXT0 | E_ICR_TXDW);
	if (mode)
		run_rx();
	else
		run_tx();
	if (sync)
		bench_sync("e1000bench", "done", tsc_hz);
	return 0;
}

void test_main(void)
{
	mode = cmdline_is("mode", "rx");
	nframes = cmdline_int("frames", 200000);
	size = cmdline_int("size", 1514);
	sync = cmdline_int("sync", 0);
	check(size >= 60 && size <= TXMAX, "bad size=%ld", size);
	check(e1000_find(&card), "no E1000 (8086:100e) on PCI");
	/* The 8259 remapped and masked (pic_init enables the LAPIC too): a firmware that ran
	 * before us (SeaBIOS under QEMU's pc machine) leaves the PIT ticking on IRQ 0 at the
	 * PIC's real-mode vector 8, which ring 3's open interrupts would take as a #DF. */
	pic_init();
	set_handler(IRQ_VECTOR, on_irq);
	ioapic_route(card.gsi, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	printf("e1000bench mode=%s frames=%lu bytes=%lu tsc=%lu tsc_hz=%lu irqs=%lu\n", mode ? "rx" : "tx",
	       (unsigned long)frames_done, (unsigned long)bytes_done, (unsigned long)tsc_cycles,
	       (unsigned long)tsc_hz, (unsigned long)irqs);
	pass();
}
