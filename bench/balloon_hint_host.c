/* virtio-balloon free page hinting, VMM side, without KVM: the real device over fake rings,
 * guest memory an anonymous mapping of MIB MiB that is fully touched first. One hinting run
 * as Linux's virtio_balloon makes it: the host's start (a new command id), the driver's id,
 * HINT MiB of free ranges in 4 MiB blocks (order 10, what Linux 6.1 on x86 hands over, one
 * writable buffer per chain), then its STOP, answered DONE (acknowledge_on_stop). Prints the
 * median and worst time per range (notify -> used), the whole run, and the process RSS before
 * and after, with guest memory on 4 KiB pages and on transparent huge pages.
 * Usage: balloon_hint_host [MIB [HINT]]   (default 192 128) */
#include "bench_util.h"
#include "../tests/fake_driver.h"
#include "devices/virtio/balloon.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define QS 256
#define BLOCK (4u << 20)
#define HQ 2                /* the hinting queue (no statistics) */
#define CMD_BUF 0x10000

static uint8_t *ram;
static struct guest_mem mem;

static uint64_t qdesc(unsigned q) { return 0x1000 + 0x3000ull * q; }

static void setup(struct virtio_balloon *b)
{
	struct balloon_params p = { .free_page_hinting = true };
	if (virtio_balloon_create(b, &p, &mem, NULL) < 0)
		exit(1);
	struct virtio_dev *v = &b->vdev;
	uint64_t feat = v->host_features;
	fake_driver_start(v, feat, v->nqueues, 0x1000, QS);
}

/* One chain on the hinting queue: a command id or a range; returns the notify time in us. */
static double send(struct virtio_balloon *b, unsigned slot, uint64_t addr, uint32_t len, bool writable)
{
	struct virtq_desc d = { addr, len, writable ? 2 : 0, 0 };
	uint16_t *avail = (uint16_t *)(ram + qdesc(HQ) + 0x1000);
	memcpy(ram + qdesc(HQ) + 16 * (slot % QS), &d, 16);
	avail[2 + avail[1] % QS] = (uint16_t)(slot % QS);
	avail[1]++;
	double s = now_us();
	pthread_mutex_lock(&b->vdev.lock);
	b->vdev.ops->queue_notify(&b->vdev, HQ);
	pthread_mutex_unlock(&b->vdev.lock);
	return now_us() - s;
}

static void run(uint64_t mib, uint64_t hint_mib, bool thp)
{
	uint64_t size = mib << 20, first = 16u << 20, nblocks = (hint_mib << 20) / BLOCK;
	madvise(ram, size, MADV_DONTNEED);
	madvise(ram, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(ram, 0x11, size); /* every page resident */
	memset(ram, 0, 1u << 20); /* rings and buffers start clean */
	struct virtio_balloon b;
	setup(&b);
	if (!virtio_is_running(&b.vdev) || virtio_balloon_hint_start(&b, true) < 0)
		exit(1);
	double *t = malloc((nblocks + 1) * sizeof(double));
	long rss0 = rss_kib();
	double t0 = now_us();
	unsigned slot = 0;
	uint32_t id = b.st.hint_cmd_id, stop = BALLOON_HINT_CMD_STOP;
	memcpy(ram + CMD_BUF, &id, 4);
	send(&b, slot++, CMD_BUF, 4, false);
	for (uint64_t i = 0; i < nblocks; i++)
		t[i] = send(&b, slot++, first + i * BLOCK, BLOCK, true);
	memcpy(ram + CMD_BUF + 4, &stop, 4);
	send(&b, slot++, CMD_BUF + 4, 4, false);
	double total = now_us() - t0;
	long rss1 = rss_kib();
	qsort(t, nblocks, sizeof(double), cmp);
	printf("balloon hinting, THP %s: %llu MiB in %llu ranges of 4 MiB: per range median %.1f us, max %.1f us; "
	       "whole run (id, ranges, STOP) %.2f ms; RSS %ld -> %ld MiB (dropped %ld MiB); freed %llu MiB, "
	       "fails %llu, command id now %u\n",
	       thp ? "on" : "off", (unsigned long long)hint_mib, (unsigned long long)nblocks, t[nblocks / 2],
	       t[nblocks - 1], total / 1e3, rss0 >> 10, rss1 >> 10, (rss0 - rss1) >> 10,
	       (unsigned long long)(b.ctr.hint_bytes >> 20), (unsigned long long)b.ctr.hint_fails,
	       b.st.hint_cmd_id);
	virtio_dev_destroy(&b.vdev);
	free(t);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 192;
	uint64_t hint = argc > 2 ? strtoull(argv[2], NULL, 0) : 128;
	if (mib < 32 || hint < 4 || hint + 16 > mib) {
		fprintf(stderr, "usage: balloon_hint_host [MIB >= 32 [4 <= HINT <= MIB - 16]]\n");
		return 2;
	}
	log_set_level(LOG_OFF);
	ram = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	mem.regions[0] = (struct guest_region){ 0, mib << 20, ram };
	mem.nregions = 1;
	mem.total = mib << 20;
	for (int thp = 0; thp < 2; thp++)
		run(mib, hint, thp);
	return 0;
}
