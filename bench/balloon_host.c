/* virtio-balloon, VMM side (issue 14's balloon benchmarks), without KVM: the real device over
 * fake rings, guest memory an anonymous mapping of MIB MiB that is fully touched first. The
 * "driver" inflates INFLATE MiB in requests of 256 page numbers (what Linux's virtio_balloon
 * sends per descriptor): contiguous pages in ascending or descending order, or the same pages
 * shuffled (Linux's balloon pages come one at a time from the page allocator: no order to
 * count on; the device sorts each request and drops runs of neighbours with one madvise). Prints the median
 * and worst time per descriptor (notify -> used), the whole inflate, and the process RSS
 * before and after (the drop is what the host got back), with guest memory on 4 KiB pages
 * (MADV_NOHUGEPAGE) and on transparent huge pages (MADV_HUGEPAGE: dropping 4 KiB of a huge
 * page splits it, which the host kernel pays for).
 * Usage: balloon_host [MIB [INFLATE]]   (default 192 128) */
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
#define PER_REQ 256

static uint8_t *ram;
static struct guest_mem mem;

static uint64_t qdesc(unsigned q) { return 0x1000 + 0x3000ull * q; }

static void setup(struct virtio_balloon *b)
{
	struct balloon_params p = { .amount_mib = 128 };
	if (virtio_balloon_create(b, &p, &mem, NULL) < 0)
		exit(1);
	struct virtio_dev *v = &b->vdev;
	uint64_t feat = v->host_features;
	fake_driver_start(v, feat, 2, 0x1000, QS);
}

static void run(uint64_t mib, uint64_t inflate_mib, int order, bool thp)
{
	uint64_t size = mib << 20, npages = inflate_mib << 8, first = (16u << 20) >> 12;
	madvise(ram, size, MADV_DONTNEED);
	madvise(ram, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(ram, 0x11, size); /* every page resident */
	memset(ram, 0, 1u << 20); /* rings and request buffers start clean */
	struct virtio_balloon b;
	setup(&b);
	if (!virtio_is_running(&b.vdev))
		exit(1);
	uint32_t *pfns = malloc(npages * 4);
	double *t = malloc((npages / PER_REQ + 1) * sizeof(double));
	for (uint64_t i = 0; i < npages; i++)
		pfns[i] = (uint32_t)(order == 1 ? first + npages - 1 - i : first + i);
	srand(42);
	for (uint64_t i = npages - 1; order == 2 && i > 0; i--) {
		uint64_t j = (uint64_t)rand() % (i + 1);
		uint32_t x = pfns[i];
		pfns[i] = pfns[j];
		pfns[j] = x;
	}
	long rss0 = rss_kib();
	uint64_t list = 0x10000; /* request buffers: 1 KiB each, reused round-robin */
	uint16_t *avail = (uint16_t *)(ram + qdesc(0) + 0x1000);
	double t0 = now_us();
	unsigned nreq = 0;
	for (uint64_t done = 0; done < npages; done += PER_REQ, nreq++) {
		unsigned slot = nreq % QS;
		uint64_t at = list + 1024ull * slot;
		memcpy(ram + at, pfns + done, PER_REQ * 4);
		struct virtq_desc d = { at, PER_REQ * 4, 0, 0 };
		memcpy(ram + qdesc(0) + 16 * slot, &d, 16);
		avail[2 + avail[1] % QS] = (uint16_t)slot;
		avail[1]++;
		double s = now_us();
		pthread_mutex_lock(&b.vdev.lock);
		b.vdev.ops->queue_notify(&b.vdev, 0);
		pthread_mutex_unlock(&b.vdev.lock);
		t[nreq] = now_us() - s;
	}
	double total = now_us() - t0;
	long rss1 = rss_kib();
	qsort(t, nreq, sizeof(double), cmp);
	printf("balloon inflate %s, THP %s: %llu MiB in %u descriptors of %d PFNs: per descriptor median %.1f us, "
	       "max %.1f us; whole inflate %.2f ms; RSS %ld -> %ld MiB (dropped %ld MiB); released %llu pages, "
	       "madvise failures %llu\n",
	       order == 2 ? "shuffled" : order == 1 ? "descending" : "ascending", thp ? "on" : "off", (unsigned long long)inflate_mib, nreq, PER_REQ,
	       t[nreq / 2], t[nreq - 1], total / 1e3, rss0 >> 10, rss1 >> 10, (rss0 - rss1) >> 10,
	       (unsigned long long)b.ctr.pages_released, (unsigned long long)b.ctr.madvise_failures);
	virtio_dev_destroy(&b.vdev);
	free(pfns);
	free(t);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 192;
	uint64_t inflate = argc > 2 ? strtoull(argv[2], NULL, 0) : 128;
	if (mib < 32 || inflate + 16 > mib) {
		fprintf(stderr, "usage: balloon_host [MIB >= 32 [INFLATE <= MIB - 16]]\n");
		return 2;
	}
	log_set_level(LOG_OFF);
	ram = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	mem.regions[0] = (struct guest_region){ 0, mib << 20, ram };
	mem.nregions = 1;
	mem.total = mib << 20;
	for (int thp = 0; thp < 2; thp++) {
		for (int order = 0; order < 3; order++)
			run(mib, inflate, order, thp);
	}
	return 0;
}
