/* libFuzzer target: virtio-pmem's request queue (src/devices/virtio/pmem.c) driven by a hostile
 * driver, without KVM, and its request parser (virtio_pmem_parse) on the chains that reach it.
 * The backing file is a memfd (a regular file, so fdatasync is cheap); guest RAM is an anonymous
 * mapping with the ring at a fixed place. The input is a script, one byte per action (low 3
 * bits the action, the rest an argument) plus arguments:
 *   0 write up to 64 input bytes into RAM at a 16-byte-aligned offset (requests, statuses)
 *   1 descriptor: index, 4-byte address, 2-byte length, flags, next
 *   2 publish a head and notify
 *   3 a flush request (type from the input, status descriptor writable or not, split or not)
 *   4 configuration space access (offset, length, write or read)
 *   5 pause (quiesce) or a driver reset and set-up again
 *   6 new rate limiter buckets (PATCH /pmem), small ones
 *   7 the rate limiter's timer fires
 * Nothing may crash, hang or touch memory outside RAM; a flush (fdatasync of a memfd) never
 * fails, and the file's bytes and the mapping stay as they were. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm/device_params.h"
#include "devices/virtio/pmem.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM_SIZE (1u << 20)
#define QS 16
#define REQ_BUF 0x8000

static struct guest_mem mem;
static uint8_t *ram;
static char path[64];

static uint64_t qdesc(void) { return 0x1000; }

static void notify(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		d->ops->queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

static void publish(struct virtio_dev *d, uint16_t head)
{
	uint16_t *a = (uint16_t *)(ram + qdesc() + 0x1000);
	a[2 + a[1] % QS] = head;
	a[1]++;
	notify(d);
}

static void driver_setup(struct virtio_dev *v)
{
	uint64_t feat = v->host_features;
	pthread_mutex_lock(&v->lock);
	virtio_set_status(v, 0);
	memset(ram + qdesc(), 0, 0x3000);
	fake_driver_start(v, feat, 1, qdesc(), QS);
	pthread_mutex_unlock(&v->lock);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = { addr, len, flags, next };
	memcpy(ram + qdesc() + 16 * (i % QS), &desc, 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd = memfd_create("fuzz-pmem", MFD_CLOEXEC);
		if (ram == MAP_FAILED || fd < 0 || ftruncate(fd, 12345) < 0 || pwrite(fd, "petrel", 6, 0) != 6)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd); /* kept open for the process */
		mem.regions[0] = (struct guest_region){ 0, RAM_SIZE, ram };
		mem.nregions = 1;
		mem.total = RAM_SIZE;
	}
	memset(ram, 0, 0x10000);
	struct fuzz_input in = { data, size };
	uint8_t opt = fuzz_byte(&in);
	struct pmem_config c = { .id = "fz", .path_on_host = path, .read_only = opt & 1 };
	static struct virtio_pmem p;
	char err[256];
	if (virtio_pmem_create(&p, vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), 0, &mem, NULL, err, sizeof(err)) < 0)
		abort();
	p.st.start = 1ull << 32;
	struct virtio_dev *d = &p.vdev;
	driver_setup(d);

	for (int steps = 0; in.left && steps < 300; steps++) {
		uint8_t a = fuzz_byte(&in);
		switch (a & 7) {
		case 0: {
			uint16_t off = 0;
			uint8_t n = fuzz_byte(&in) % 65;
			fuzz_take(&in, &off, 2);
			uint64_t at = REQ_BUF + (uint64_t)(off % 0x800) * 16;
			fuzz_take(&in, ram + at, n > in.left ? in.left : n);
			break;
		}
		case 1: {
			unsigned i = fuzz_byte(&in);
			uint32_t addr = 0;
			uint16_t len = 0;
			fuzz_take(&in, &addr, 4);
			fuzz_take(&in, &len, 2);
			uint8_t flags = fuzz_byte(&in) & 7;
			set_desc(i, addr % (RAM_SIZE + 0x10000), len, flags, fuzz_byte(&in));
			break;
		}
		case 2:
			publish(d, fuzz_byte(&in) % QS);
			break;
		case 3: {
			unsigned i = fuzz_byte(&in) % (QS - 2);
			uint32_t type = (a >> 3) & 1 ? fuzz_byte(&in) : VIRTIO_PMEM_REQ_TYPE_FLUSH;
			uint64_t req = REQ_BUF + 64ull * i, st = req + 32;
			memcpy(ram + req, &type, 4);
			uint16_t wr = (a >> 4) & 1 ? 0 : VIRTQ_DESC_F_WRITE;
			set_desc(i, req, 4, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
			if ((a >> 5) & 1) { /* status in two pieces */
				set_desc(i + 1, st, 2, wr | VIRTQ_DESC_F_NEXT, (uint16_t)(i + 2));
				set_desc(i + 2, st + 8, 2, wr, 0);
			} else {
				set_desc(i + 1, st, 4, wr, 0);
			}
			publish(d, (uint16_t)i);
			break;
		}
		case 4: {
			uint8_t off = fuzz_byte(&in) % PMEM_CONFIG_LEN, len = 1u << (fuzz_byte(&in) % 4);
			uint8_t buf[8] = { 0 };
			fuzz_take(&in, buf, 8);
			if (off + len <= PMEM_CONFIG_LEN) {
				pthread_mutex_lock(&d->lock);
				virtio_config_access(d, off, buf, len, (a >> 3) & 1);
				pthread_mutex_unlock(&d->lock);
			}
			break;
		}
		case 5:
			if ((a >> 3) & 1)
				virtio_quiesce(d);
			else
				driver_setup(d);
			break;
		case 6: {
			struct rate_limiter_config rl = { .present = true };
			uint8_t v = fuzz_byte(&in);
			rl.ops = (struct token_bucket_config){ .present = v & 1, .size = v >> 4, .refill_time = 1 + (v & 6) };
			rl.bandwidth = (struct token_bucket_config){ .present = v & 8, .size = 1ull << (v >> 3), .refill_time = 5 };
			virtio_pmem_update_limiter(&p, &rl);
			break;
		}
		case 7:
			pthread_mutex_lock(&d->lock);
			rate_limiter_timer_event(&p.rl);
			pthread_mutex_unlock(&d->lock);
			notify(d);
			break;
		}
	}
	/* The device never writes the file (only the guest does, through KVM), the mapping stays
	 * as it was made, and a read-only device never syncs. */
	if (memcmp(p.map, "petrel", 6) != 0 || p.st.file_size != 12345 || p.st.size != PMEM_SIZE_ALIGN ||
	    p.ctr.flush_fails)
		abort();
	virtio_dev_destroy(d);
	return 0;
}
