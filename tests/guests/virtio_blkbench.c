/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_blkbench: benchmark driver for virtio-blk, run from ring 3 with polling (no
 * interrupts) and EVENT_IDX (a notification only when the device asks for one).
 * Command line:
 *   mode=randread|seqread|seqwrite|randwrite   (default randread)
 *   bs=BYTES    request size, a multiple of 512 up to 1 MiB (default 4096)
 *   qd=N        requests in flight, 1-32 (default 32)
 *   ops=N       requests to complete (default 20000)
 *   transport=pci|mmio
 * Prints "blkbench mode=M bs=B qd=Q ops=N tsc=CYCLES tsc_hz=HZ notifies=K", then where the
 * guest's time went: "blkbench-guest refill=CYCLES stalls=N stall=CYCLES" (refill: reading
 * completions and queueing new requests; a stall: a gap of over 10 us between two looks at the
 * used ring, the vCPU kept from running), and "ok virtio_blkbench".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_blkbench");

#define MAXQD 32
#define MAXBS (1u << 20)
#define QSIZE 128

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t bufs[MAXQD][MAXBS] __attribute__((aligned(4096)));
static struct blk_hdr hdrs[MAXQD];
static uint8_t status[MAXQD];
static uint64_t cap, tsc_cycles, tsc_hz, notifies, refill_cycles, stalls, stall_cycles;
static long mode, bs, qd, ops; /* mode: 0 randread, 1 seqread, 2 seqwrite, 3 randwrite */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull, seq_next;

static uint64_t xorshift(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t next_sector(void)
{
	uint64_t per = (uint64_t)bs / 512, slots = cap / per;
	if (mode == 0 || mode == 3)
		return (xorshift() % slots) * per;
	uint64_t s = seq_next;
	seq_next = (seq_next + per) % (slots * per);
	return s;
}

static void fill_slot(unsigned i)
{
	bool wr = mode >= 2;
	hdrs[i] = (struct blk_hdr){ wr ? BLK_T_OUT : BLK_T_IN, 0, next_sector() };
	status[i] = 0xff;
	uint16_t d = (uint16_t)(3 * i);
	vq.desc[d] = (struct vring_desc){ (uintptr_t)&hdrs[i], 16, VD_NEXT, (uint16_t)(d + 1) };
	vq.desc[d + 1] = (struct vring_desc){ (uintptr_t)bufs[i], (uint32_t)bs,
					      (uint16_t)(VD_NEXT | (wr ? 0 : VD_WRITE)), (uint16_t)(d + 2) };
	vq.desc[d + 2] = (struct vring_desc){ (uintptr_t)&status[i], 1, VD_WRITE, 0 };
	vq.avail[2 + (vq.avail_idx & (QSIZE - 1))] = d;
	vq.avail_idx++;
}

static long run(long arg)
{
	(void)arg;
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1 | VF_EVENT_IDX, &f), "FEATURES_OK refused");
	check(f & VF_EVENT_IDX, "no EVENT_IDX");
	cap = vdev_cfg_read(&dev, 0, 4) | (uint64_t)vdev_cfg_read(&dev, 4, 4) << 32;
	check(cap >= (uint64_t)bs / 512, "disk too small");
	check(vq_setup(&dev, &vq, 0, &ring, QSIZE, 0xffff), "queue setup failed");
	vq.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: we poll */
	vq.avail[2 + QSIZE] = 0xffff; /* used_event: never interrupt */
	vdev_driver_ok(&dev);

	/* Touch the buffers (writes must not come from never-written zero pages). */
	for (long i = 0; i < qd; i++)
		memset(bufs[i], (int)(0x5a + i), (size_t)bs);

	/* TSC frequency over one RTC second; the TSC is the deadline's clock too */
	tsc_hz = tsc_hz_from_rtc();
	deadline_tsc_hz(tsc_hz);

	long submitted = 0, done = 0;
	uint64_t start = rdtsc();
	uint16_t old = vq.avail_idx;
	for (long i = 0; i < qd && submitted < ops; i++, submitted++)
		fill_slot((unsigned)i);
	notifies += vq_publish_since(&vq, old);
	struct deadline dl;
	deadline_start(&dl, 600);
	unsigned spins = 0;
	uint64_t stall_min = tsc_hz / 100000, last = rdtsc(); /* 10 us */
	while (done < ops) {
		uint32_t id;
		old = vq.avail_idx;
		bool any = false;
		uint64_t t = rdtsc();
		if (t - last > stall_min) {
			stalls++;
			stall_cycles += t - last;
		}
		last = t;
		while (vq_poll(&vq, &id, NULL)) {
			unsigned slot = id / 3;
			check(status[slot] == BLK_S_OK, "request failed: status %u", status[slot]);
			done++;
			any = true;
			if (submitted < ops) {
				fill_slot(slot);
				submitted++;
			}
		}
		if (any) {
			notifies += vq_publish_since(&vq, old);
			last = rdtsc();
			refill_cycles += last - t;
		} else {
			pause(); /* as Linux's polling (cpu_relax): the device's thread gets the line */
			if (++spins > 100000) {
				spins = 0;
				check(!deadline_expired(&dl), "timed out after %ld of %ld requests", done, ops);
			}
		}
	}
	tsc_cycles = rdtsc() - start;
	return 0;
}

void test_main(void)
{
	mode = cmdline_is("mode", "seqread") ? 1 : cmdline_is("mode", "seqwrite") ? 2 : cmdline_is("mode", "randwrite") ? 3 : 0;
	bs = cmdline_int("bs", 4096);
	qd = cmdline_int("qd", 32);
	ops = cmdline_int("ops", 20000);
	check(bs >= 512 && bs % 512 == 0 && bs <= (long)MAXBS, "bad bs=%ld", bs);
	check(qd >= 1 && qd <= MAXQD, "bad qd=%ld", qd);
	bool mmio = cmdline_is("transport", "mmio");
	bool found = vdev_find(VIRTIO_ID_BLOCK, mmio, &dev);
	check(found, "no virtio-blk device");
	/* The 8259 remapped and masked: under QEMU's pc machine SeaBIOS leaves the PIT ticking
	 * on IRQ 0 at vector 8, which ring 3's open interrupts would take as a #DF. */
	pic_init();
	user_call(run, 0, USER_IF);
	static const char *const names[] = { "randread", "seqread", "seqwrite", "randwrite" };
	printf("blkbench mode=%s bs=%ld qd=%ld ops=%ld tsc=%lu tsc_hz=%lu notifies=%lu\n", names[mode], bs, qd,
	       ops, (unsigned long)tsc_cycles, (unsigned long)tsc_hz, (unsigned long)notifies);
	printf("blkbench-guest refill=%lu stalls=%lu stall=%lu\n", (unsigned long)refill_cycles,
	       (unsigned long)stalls, (unsigned long)stall_cycles);
	pass();
}
