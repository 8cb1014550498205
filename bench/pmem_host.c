/* virtio-pmem, VMM side, without KVM: the real device over a fake ring, its file in DIR. The
 * "guest" dirties D MiB of the mapping (one byte per 4 KiB page, what a guest's stores do to the
 * file's page cache) and then sends one flush; the time from notify to the used element is
 * what the guest waits and what the I/O thread is busy for (the device answers after
 * fdatasync). D is 0, 1, 8 and 64; each is repeated N times. Prints the median and the worst.
 * Usage: pmem_host [DIR [N]]   (default /tmp 10) */
#include "bench_util.h"
#include "../tests/fake_driver.h"
#include "vm/device_params.h"
#include "devices/virtio/pmem.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define QS 16
#define FILE_MIB 64

static uint8_t *ram;
static struct guest_mem mem;

static void driver_setup(struct virtio_dev *d)
{
	uint64_t f = d->host_features;
	fake_driver_start(d, f, 1, 0x1000, QS);
}

/* One flush request (descriptors 0 and 1), published and notified; the time until it is used. */
static double flush(struct virtio_pmem *p)
{
	struct virtq_desc d[2] = { { 0x8000, 4, VIRTQ_DESC_F_NEXT, 1 }, { 0x9000, 4, VIRTQ_DESC_F_WRITE, 0 } };
	memset(ram + 0x8000, 0, 4);
	memcpy(ram + 0x1000, d, sizeof(d));
	uint16_t *avail = (uint16_t *)(ram + 0x2000);
	avail[2 + avail[1] % QS] = 0;
	avail[1]++;
	double t0 = now_us();
	pthread_mutex_lock(&p->vdev.lock);
	p->vdev.ops->queue_notify(&p->vdev, 0);
	pthread_mutex_unlock(&p->vdev.lock);
	return now_us() - t0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	int n = argc > 2 ? atoi(argv[2]) : 10;
	if (n < 1 || n > 1000)
		n = 10;
	log_set_level(LOG_OFF);
	char path[4096];
	snprintf(path, sizeof(path), "%s/petrel-pmem-bench-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)FILE_MIB << 20) < 0 || fsync(fd) < 0) {
		perror(path);
		return 1;
	}
	close(fd);
	ram = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	mem.regions[0] = (struct guest_region){ 0, 1 << 20, ram };
	mem.nregions = 1;
	mem.total = 1 << 20;
	static struct virtio_pmem p;
	struct pmem_config c = { .id = "bench", .path_on_host = path };
	char err[256];
	if (virtio_pmem_create(&p, vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), 0, &mem, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		unlink(path);
		return 1;
	}
	driver_setup(&p.vdev);
	printf("pmem flush, %d MiB file in %s, %d flushes each (notify -> used):\n", FILE_MIB, dir, n);
	static const int dirty[] = { 0, 1, 8, 64 };
	double *t = calloc((size_t)n, sizeof(*t));
	for (unsigned k = 0; t && k < sizeof(dirty) / sizeof(dirty[0]); k++) {
		for (int i = 0; i < n; i++) {
			for (uint64_t off = 0; off < (uint64_t)dirty[k] << 20; off += 4096)
				p.map[off] = (uint8_t)(i + k + 1);
			t[i] = flush(&p);
		}
		qsort(t, (size_t)n, sizeof(*t), cmp);
		printf("  %2d MiB dirty: median %9.0f us, worst %9.0f us\n", dirty[k], t[n / 2], t[n - 1]);
	}
	printf("  (%llu fdatasyncs, %llu failed)\n", (unsigned long long)p.ctr.flush_count,
	       (unsigned long long)p.ctr.flush_fails);
	free(t);
	virtio_dev_destroy(&p.vdev);
	unlink(path);
	return 0;
}
