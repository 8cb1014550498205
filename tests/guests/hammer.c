/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hammer: two vCPUs hitting one device at once, and a flood of legacy port I/O (issue 9).
 * The BSP drives a virtio-blk device (PCI) from ring 3: rounds of a 4 KiB write and its
 * read-back into one of 64 slots, every byte checked, and between rounds a burst of random
 * port I/O (reads all over the legacy port space, writes to the POST port, CMOS RAM and
 * unclaimed ports, string I/O). Meanwhile the AP (hammer_tramp.S, real mode) turns the same
 * device's memory decoding off and on and sizes its BAR, so the device vanishes from under the
 * BSP's notifications; a kick that lands then is lost, so the BSP kicks again when a request
 * takes long. Nothing may crash petrel, no completion may carry wrong data, and once the AP
 * stops the device works without a reset. Command line: secs=N (default 3).
 * Prints "hammer rounds=N ap_iters=M ports=K rekicks=R" and "hammer cases=N".
 */
#include "virtio_common.h"

DEFINE_GUEST("hammer");

#define HAMMER_TRAMP_ADDR 0x8000u
#define SLOTS 64
#define FIRST_SECTOR 2048

extern char hammer_tramp_start[], hammer_tramp_end[];
#define SHARED(type, off) (*(volatile type *)(uintptr_t)(HAMMER_TRAMP_ADDR + (off)))
#define H_COUNT SHARED(uint16_t, 0x100)
#define H_STOP SHARED(uint8_t, 0x104)
#define H_ITERS SHARED(uint32_t, 0x108)
#define H_CFG_CMD SHARED(uint32_t, 0x10c)
#define H_CFG_BAR SHARED(uint32_t, 0x110)
#define H_DONE SHARED(uint8_t, 0x114)

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static struct blk_hdr hdr;
static uint8_t status_b;
static uint8_t buf[4096] __attribute__((aligned(4096)));
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rounds, rekicks;
static uint64_t ports;
static uint32_t slot_round[SLOTS];

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static uint8_t pat(uint32_t round, unsigned slot, unsigned i) { return (uint8_t)(round * 29 + slot * 5 + i); }

/* Submit one request and wait for it, kicking again when it takes long: a kick that lands
 * while the AP has the device's BAR out of the MMIO window is lost. */
static void request(uint32_t type, uint64_t sector, bool write)
{
	hdr = (struct blk_hdr){ type, 0, sector };
	status_b = 0xff;
	struct vbuf b[] = { { &hdr, 16, false }, { buf, sizeof(buf), !write }, { &status_b, 1, true } };
	vq_add(&vq, b, 3);
	struct deadline dl;
	deadline_start(&dl, 20);
	uint32_t ap_before = H_ITERS;
	for (unsigned kicks = 1;; kicks++) {
		vq_kick(&vq);
		for (int i = 0; i < 20000; i++)
			if (vq_poll(&vq, NULL, NULL)) {
				check(status_b == BLK_S_OK, "round %u: %s of sector %llu: status %u", rounds,
				      write ? "write" : "read", (unsigned long long)sector, status_b);
				return;
			}
		rekicks++;
		check(!deadline_expired(&dl),
		      "round %u: a %s never completed in 20 s: %u kicks, used index %u, published %u, the AP's "
		      "iterations meanwhile %u",
		      rounds, write ? "write" : "read", kicks, vq_used_idx(&vq), vq.avail_idx, H_ITERS - ap_before);
	}
}

/* A burst of port I/O all over the legacy space. Writes go only where they cannot end the
 * test or raise an interrupt: the POST port, CMOS RAM (RTC registers 0x0e-0x7f) and ports no
 * device claims. The AP owns 0xcf8-0xcff; 0xf4 is the debug exit. */
static void port_flood(unsigned n)
{
	static const uint16_t unclaimed[] = { 0x100, 0x1f0, 0x2f8, 0x378, 0x400, 0x510, 0x7ff, 0x900, 0xa00, 0xcf0 };
	static uint8_t sbuf[4096];
	for (unsigned i = 0; i < n; i++) {
		uint32_t r = rnd();
		uint16_t port = (uint16_t)(r % 0x1000);
		if ((port >= 0xcf8 && port <= 0xcff) || port == 0xf4 || port == 0xf5)
			port = 0x80;
		switch ((r >> 12) % 8) {
		case 0: (void)inb(port); break;
		case 1: (void)inw(port); break;
		case 2: (void)inl(port); break;
		case 3: outb(0x80, (uint8_t)r); break;
		case 4: /* CMOS RAM through the index latch the AP races on */
			outb(0x70, (uint8_t)(0x0e + (r >> 16) % 0x72));
			outb(0x71, (uint8_t)(r >> 24));
			(void)inb(0x71);
			break;
		case 5: outl(unclaimed[(r >> 16) % 10], r); break;
		case 6: { /* string I/O: one exit, many elements */
			void *dst = sbuf;
			unsigned long cnt = 1 + (r >> 20) % sizeof(sbuf);
			__asm__ __volatile__("rep insb" : "+D"(dst), "+c"(cnt) : "d"(0x71) : "memory");
			break;
		}
		default: {
			unsigned long cnt = 1 + (r >> 20) % 1024;
			const uint8_t *src = sbuf;
			__asm__ __volatile__("rep outsb" : "+S"(src), "+c"(cnt) : "d"(unclaimed[(r >> 16) % 10]) : "memory");
			break;
		}
		}
		ports++;
	}
}

static long setup(long arg)
{
	(void)arg;
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1, &f), "FEATURES_OK refused");
	check(vq_setup(&dev, &vq, 0, &ring, 16, 0xffff), "queue setup failed");
	vdev_driver_ok(&dev);
	check(!vdev_broken(&dev), "device not running after init");
	return 0;
}

static long tsc_clock(long arg)
{
	(void)arg;
	return deadline_use_tsc() ? 0 : -1;
}

static void round_trip(uint32_t round, unsigned slot)
{
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = pat(round, slot, i);
	request(BLK_T_OUT, FIRST_SECTOR + slot * 8ull, true);
	memset(buf, 0, sizeof(buf));
	request(BLK_T_IN, FIRST_SECTOR + slot * 8ull, false);
	for (unsigned i = 0; i < sizeof(buf); i++)
		check(buf[i] == pat(round, slot, i), "round %u slot %u: byte %u is %#x, wrote %#x", round, slot, i, buf[i],
		      pat(round, slot, i));
	slot_round[slot] = round;
}

static long hammer(long secs)
{
	struct deadline dl;
	deadline_start(&dl, 20);
	while (H_COUNT < 1) {
		pause();
		check(!deadline_expired(&dl), "the AP did not start");
	}
	uint32_t ap_before = H_ITERS;
	deadline_start(&dl, (int)secs);
	while (!deadline_expired(&dl) || rounds < 10) {
		rounds++;
		round_trip(rounds, rounds % SLOTS);
		port_flood(64);
	}
	uint32_t ap_during = H_ITERS - ap_before;
	H_STOP = 1;
	deadline_start(&dl, 20);
	while (!H_DONE) {
		pause();
		check(!deadline_expired(&dl), "the AP did not stop");
	}
	printf("hammer rounds=%u ap_iters=%u ports=%llu rekicks=%u\n", rounds, ap_during, (unsigned long long)ports,
	       rekicks);
	check(ap_during > 0, "the AP made no progress while the BSP used the device");
	/* The AP is parked: the device must work as it is, and every slot hold its last round. */
	check(!vdev_broken(&dev), "the device needs a reset after the hammering (status 0x%x)", vdev_status(&dev));
	for (unsigned slot = 0; slot < SLOTS; slot++) {
		if (!slot_round[slot])
			continue;
		request(BLK_T_IN, FIRST_SECTOR + slot * 8ull, false);
		for (unsigned i = 0; i < sizeof(buf); i++)
			check(buf[i] == pat(slot_round[slot], slot, i), "slot %u: lost its last write", slot);
	}
	return 0;
}

/* CONFIG_ADDRESS of the BAR that holds the device's common configuration. */
static uint32_t common_bar_address(void)
{
	uint32_t best = 0, best_off = 0;
	for (unsigned b = 0; b < 6; b++) {
		uint32_t v = pci_cfg_read32(dev.slot, 0x10 + 4 * b);
		uint32_t base = v & ~0xfu;
		if (!(v & 1) && base && base <= (uint32_t)dev.common && base > best) {
			best = base;
			best_off = 0x10 + 4 * b;
		}
	}
	check(best_off, "no memory BAR below the common configuration at %#lx", (unsigned long)dev.common);
	return 0x80000000u | dev.slot << 11 | best_off;
}

void test_main(void)
{
	check(vpci_find(VIRTIO_ID_BLOCK, 0, &dev), "no virtio-blk device on PCI");
	user_call(setup, 0, 0);
	/* The AP writes the RTC's index latch, so RTC reads race from now on: the TSC is the clock. */
	check(user_call(tsc_clock, 0, 0) == 0, "the RTC does not tick");
	memcpy((void *)(uintptr_t)HAMMER_TRAMP_ADDR, hammer_tramp_start, (size_t)(hammer_tramp_end - hammer_tramp_start));
	H_CFG_CMD = 0x80000000u | dev.slot << 11 | 0x04;
	H_CFG_BAR = common_bar_address();
	lapic_start_aps(HAMMER_TRAMP_ADDR);
	user_call(hammer, cmdline_int("secs", 3), 0);
	printf("hammer cases=%u\n", rounds);
	pass();
}
