/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_netbench: benchmark driver for virtio-net, run from ring 3 with polling (no
 * interrupts) and EVENT_IDX (notifications only when the device asks for them).
 * Command line:
 *   mode=tx|rx     tx: send `frames` frames of `size` bytes as fast as the device takes them;
 *                  rx: set up the queue, print "netbench: ready", wait for a byte on the
 *                  serial console (the host fills the tap meanwhile), then post the buffers
 *                  and receive until `frames` arrived or nothing came for 2 s
 *   frames=N       (default 200000)
 *   size=BYTES     tx frame size, 60..65535 (default 1514)
 *   bufsize=BYTES  rx: mergeable receive buffer size (default 4096)
 *   transport=pci|mmio
 *   sync=0|1       1: tx also prints "netbench: ready" and waits for a byte before it starts,
 *                  and both modes print "netbench: done" and wait for a byte after the last
 *                  frame (bench/e1000.py reads the VM's exit counters in between)
 * Prints "netbench mode=M frames=N bytes=B tsc=CYCLES tsc_hz=HZ notifies=K" (bytes: Ethernet
 * frames without the vnet header; tsc: first to last frame) and "ok virtio_netbench".
 */
#include "virtio_net_common.h"

DEFINE_GUEST("virtio_netbench");

#define QSIZE 256
#define MAXFRAME 65535

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t txbuf[QSIZE][NET_HDR_LEN + MAXFRAME] __attribute__((aligned(4096)));
static uint8_t rxbuf[QSIZE][16384] __attribute__((aligned(4096)));
static long mode, nframes, size, bufsize, sync;
static uint64_t tsc_hz, tsc_cycles, notifies, frames_done, bytes_done;

static void calibrate(void)
{
	tsc_hz = tsc_hz_from_rtc();
	deadline_tsc_hz(tsc_hz);
}

static void run_tx(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, src[6] = { 2, 0, 0, 0, 0, 1 };
	check(vq_setup(&dev, &vq, NET_TXQ, &ring, QSIZE, 0xffff), "tx queue setup failed");
	vq.avail[0] = 1;               /* VRING_AVAIL_F_NO_INTERRUPT: we poll */
	vq.avail[2 + QSIZE] = 0xffff;  /* used_event */
	vdev_driver_ok(&dev);
	for (unsigned i = 0; i < QSIZE; i++) {
		memset(txbuf[i], 0, NET_HDR_LEN);
		net_build_frame(txbuf[i] + NET_HDR_LEN, bcast, src, 'D', i, (uint16_t)size);
		vq.desc[i] = (struct vring_desc){ (uintptr_t)txbuf[i], (uint32_t)(NET_HDR_LEN + size), 0, 0 };
	}
	long submitted = 0;
	if (sync)
		bench_sync("netbench", "ready", tsc_hz);
	uint64_t start = rdtsc();
	struct deadline dl;
	deadline_start(&dl, 600);
	unsigned spins = 0;
	while ((long)frames_done < nframes) {
		uint16_t old = vq.avail_idx;
		while (submitted - (long)frames_done < QSIZE && submitted < nframes) {
			vq.avail[2 + (vq.avail_idx & (QSIZE - 1))] = (uint16_t)(vq.avail_idx & (QSIZE - 1));
			vq.avail_idx++;
			submitted++;
		}
		if (vq.avail_idx != old)
			notifies += vq_publish_since(&vq, old);
		uint32_t id;
		bool any = false;
		while (vq_poll(&vq, &id, NULL)) {
			frames_done++;
			any = true;
		}
		if (!any && ++spins > 1000000) {
			spins = 0;
			check(!deadline_expired(&dl), "timed out after %lu of %ld frames", (unsigned long)frames_done, nframes);
		}
	}
	tsc_cycles = rdtsc() - start;
	bytes_done = frames_done * (uint64_t)size;
}

static void run_rx(void)
{
	check(vq_setup(&dev, &vq, NET_RXQ, &ring, QSIZE, 0xffff), "rx queue setup failed");
	vq.avail[0] = 1;
	vq.avail[2 + QSIZE] = 0xffff;
	vdev_driver_ok(&dev);
	for (unsigned i = 0; i < QSIZE; i++) {
		vq.desc[i] = (struct vring_desc){ (uintptr_t)rxbuf[i], (uint32_t)bufsize, VD_WRITE, 0 };
		vq.avail[2 + i] = (uint16_t)i;
	}
	bench_sync("netbench", "ready", tsc_hz);
	vq.avail_idx = QSIZE;
	notifies += vq_publish_since(&vq, 0);
	vq_kick(&vq);
	uint64_t first = 0, last = 0;
	unsigned remaining = 0;
	uint64_t idle_limit = 2 * tsc_hz, wait_start = rdtsc();
	while ((long)frames_done < nframes) {
		uint16_t old = vq.avail_idx;
		uint32_t id, len;
		bool any = false;
		while (vq_poll(&vq, &id, &len)) {
			check(id < QSIZE && len <= (uint32_t)bufsize, "used id %u len %u", id, len);
			if (!remaining) {
				struct net_hdr h;
				memcpy(&h, rxbuf[id], sizeof(h));
				check(h.num_buffers >= 1 && len >= NET_HDR_LEN, "frame start: num_buffers %u len %u",
				      h.num_buffers, len);
				remaining = h.num_buffers;
				bytes_done += len - NET_HDR_LEN;
			} else {
				bytes_done += len;
			}
			if (!--remaining) {
				frames_done++;
				last = rdtsc();
				if (!first)
					first = last;
			}
			vq.avail[2 + (vq.avail_idx & (QSIZE - 1))] = (uint16_t)id;
			vq.avail_idx++;
			any = true;
		}
		if (any) {
			notifies += vq_publish_since(&vq, old);
		} else if (first ? rdtsc() - last > idle_limit : rdtsc() - wait_start > 120 * tsc_hz) {
			break;
		}
	}
	tsc_cycles = last - first;
}

static long body(long arg)
{
	(void)arg;
	calibrate();
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1 | VF_EVENT_IDX | NET_F_MRG_RXBUF, &f), "FEATURES_OK refused");
	check(f & VF_EVENT_IDX, "no EVENT_IDX");
	if (mode)
		run_rx();
	else
		run_tx();
	if (sync)
		bench_sync("netbench", "done", tsc_hz);
	return 0;
}

void test_main(void)
{
	mode = cmdline_is("mode", "rx");
	nframes = cmdline_int("frames", 200000);
	size = cmdline_int("size", 1514);
	bufsize = cmdline_int("bufsize", 4096);
	sync = cmdline_int("sync", 0);
	check(size >= 60 && size <= MAXFRAME, "bad size=%ld", size);
	check(bufsize >= 64 && bufsize <= 16384, "bad bufsize=%ld", bufsize);
	bool mmio = cmdline_is("transport", "mmio");
	bool found = vdev_find(VIRTIO_ID_NET, mmio, &dev);
	check(found, "no virtio-net device");
	/* The 8259 remapped and masked: under QEMU's pc machine SeaBIOS leaves the PIT ticking
	 * on IRQ 0 at vector 8, which ring 3's open interrupts would take as a #DF. */
	pic_init();
	user_call(body, 0, USER_IF);
	printf("netbench mode=%s frames=%lu bytes=%lu tsc=%lu tsc_hz=%lu notifies=%lu\n", mode ? "rx" : "tx",
	       (unsigned long)frames_done, (unsigned long)bytes_done, (unsigned long)tsc_cycles,
	       (unsigned long)tsc_hz, (unsigned long)notifies);
	pass();
}
