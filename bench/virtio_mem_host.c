/* virtio-mem, VMM side (issue 14's "plug/unplug of one 128 MiB range", goal <= 1 ms), without
 * KVM: the real device over a fake ring. RAM (rings, requests) is 1 MiB; the device's region
 * is REGION MiB of anonymous MAP_NORESERVE memory registered as guest memory's hot-pluggable
 * region, 2 MiB blocks. Each round the "driver" plugs one 128 MiB range (64 blocks) in one
 * PLUG request, touches every page of it as a guest would (not timed), then unplugs it in one
 * UNPLUG request. Timed: notify -> used element, for the PLUG and for the UNPLUG (which gives
 * the 128 MiB back to the host with one madvise); printed: median and worst of ROUNDS rounds,
 * and the process RSS with the range touched and after the unplug; with the region on 4 KiB
 * pages (MADV_NOHUGEPAGE) and on transparent huge pages (MADV_HUGEPAGE, what petrel asks for:
 * blocks are 2 MiB-aligned multiples of 2 MiB, so each is whole huge pages).
 * Usage: virtio_mem_host [ROUNDS [REGION]]   (default 20 1024) */
#include "bench_util.h"
#include "../tests/fake_driver.h"
#include "devices/virtio/virtio_mem.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define RAM_SIZE (1u << 20)
#define QS 16
#define GPA (4ull << 30)
#define BLOCK (2ull << 20)
#define RANGE (128ull << 20)
#define REQ 0x10000

static uint8_t *ram;
static struct guest_mem mem;
static unsigned sent;

static void start(struct virtio_dev *d)
{
	uint64_t feat = d->host_features;
	fake_driver_start(d, feat, 1, 0x1000, QS);
}

/* One request; returns the device's time in microseconds (the response must be ACK). */
static double request(struct virtio_mem *m, uint16_t type, uint64_t addr, uint16_t nb)
{
	uint8_t req[VIRTIO_MEM_REQ_LEN] = { 0 };
	uint16_t t = htole16(type), n = htole16(nb);
	uint64_t a = htole64(addr);
	memcpy(req, &t, 2);
	memcpy(req + 8, &a, 8);
	memcpy(req + 16, &n, 2);
	memcpy(ram + REQ, req, sizeof(req));
	struct virtq_desc d0 = { REQ, VIRTIO_MEM_REQ_LEN, VIRTQ_DESC_F_NEXT, 1 };
	struct virtq_desc d1 = { REQ + 0x100, VIRTIO_MEM_RESP_LEN, VIRTQ_DESC_F_WRITE, 0 };
	memcpy(ram + 0x1000, &d0, 16);
	memcpy(ram + 0x1010, &d1, 16);
	uint16_t *avail = (uint16_t *)(ram + 0x2000);
	avail[2 + avail[1] % QS] = 0;
	avail[1]++;
	double t0 = now_us();
	pthread_mutex_lock(&m->vdev.lock);
	m->vdev.ops->queue_notify(&m->vdev, 0);
	pthread_mutex_unlock(&m->vdev.lock);
	double t1 = now_us();
	uint16_t used, resp;
	memcpy(&used, ram + 0x3002, 2);
	memcpy(&resp, ram + REQ + 0x100, 2);
	if (used != (uint16_t)++sent || le16toh(resp) != VIRTIO_MEM_RESP_ACK) {
		fprintf(stderr, "virtio_mem_host: request %u type %u answered %u\n", sent, type, le16toh(resp));
		exit(1);
	}
	return t1 - t0;
}

static void run(unsigned rounds, uint64_t size, bool thp);

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
	uint64_t region_mib = argc > 2 ? strtoull(argv[2], NULL, 0) : 1024;
	if (!rounds || rounds > 10000 || region_mib < 128 || region_mib % 128) {
		fprintf(stderr, "usage: virtio_mem_host [ROUNDS 1..10000 [REGION MiB, a multiple of 128]]\n");
		return 2;
	}
	log_set_level(LOG_OFF);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	run(rounds, region_mib << 20, false);
	run(rounds, region_mib << 20, true);
	return 0;
}

static void run(unsigned rounds, uint64_t size, bool thp)
{
	/* 2 MiB-aligned, as guest_mem_backing_map makes it for THP */
	uint8_t *raw = mmap(NULL, size + BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		exit(1);
	uint8_t *region = (uint8_t *)(((uintptr_t)raw + BLOCK - 1) & ~(uintptr_t)(BLOCK - 1));
	madvise(region, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(ram, 0, RAM_SIZE);
	sent = 0;
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
	mem.regions[1] = (struct guest_region){ .gpa = GPA, .size = size, .hva = region, .hotplug = true };
	mem.nregions = 2;
	mem.total = RAM_SIZE + size;
	static struct virtio_mem m;
	struct virtio_mem_params p = { GPA, size, BLOCK, 128ull << 20 };
	if (virtio_mem_create(&m, &p, &mem, NULL) < 0)
		exit(1);
	start(&m.vdev);
	virtio_mem_set_requested(&m, RANGE);
	double *plug = calloc(rounds, sizeof(double)), *unplug = calloc(rounds, sizeof(double));
	long rss_touched = 0, rss_after = 0;
	for (unsigned r = 0; r < rounds; r++) {
		plug[r] = request(&m, VIRTIO_MEM_REQ_PLUG, GPA, RANGE / BLOCK);
		for (uint64_t off = 0; off < RANGE; off += 4096)
			region[off] = 1;
		rss_touched = rss_kib();
		unplug[r] = request(&m, VIRTIO_MEM_REQ_UNPLUG, GPA, RANGE / BLOCK);
		rss_after = rss_kib();
	}
	qsort(plug, rounds, sizeof(double), cmp);
	qsort(unplug, rounds, sizeof(double), cmp);
	printf("virtio-mem, 128 MiB range (64 blocks of 2 MiB), %s, %u rounds: PLUG median %.1f us worst %.1f us; "
	       "UNPLUG median %.1f us worst %.1f us; RSS touched %ld MiB, after unplug %ld MiB\n",
	       thp ? "THP" : "4 KiB pages", rounds, plug[rounds / 2], plug[rounds - 1], unplug[rounds / 2],
	       unplug[rounds - 1], rss_touched / 1024, rss_after / 1024);
	free(plug);
	free(unplug);
	virtio_dev_destroy(&m.vdev);
	munmap(raw, size + BLOCK);
}
