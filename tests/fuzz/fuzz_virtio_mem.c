/* libFuzzer target: virtio-mem (src/devices/virtio/virtio_mem.c) driven through its queue by a
 * hostile driver, without KVM, and its snapshot state loader fed mutated blobs. RAM (rings,
 * requests) is 1 MiB at 0; the device's region is 128 MiB of MAP_NORESERVE memory at 4 GiB
 * (2 MiB blocks, 64 MiB slots). The input is a script:
 *   byte 0: block size shift (2 MiB << (b & 3)); then actions, one byte (low 3 bits = action):
 *   0 write up to 64 input bytes into RAM at a 16-byte-aligned offset
 *   1 descriptor: index, 4-byte address, 2-byte length, flags, next
 *   2 publish a head and notify
 *   3 a well-formed request chain: type, address (near the region or anywhere), nb_blocks
 *   4 new requested size (PATCH /hotplug/memory)
 *   5 configuration space read (offset, length)
 *   6 driver reset and set up again
 *   7 save the state, flip input-chosen bytes, load it back
 * Nothing may crash or touch memory outside RAM and the region; plugged_size must always be
 * the plugged blocks' size and lie in the usable region, which lies in the region. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/virtio_mem.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM_SIZE (1u << 20)
#define REGION_GPA (4ull << 30)
#define REGION_SIZE (128ull << 20)
#define QS 16
#define REQ_BUF 0xc000

static struct guest_mem mem;
static uint8_t *ram, *region;

static void notify(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		d->ops->queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

static void publish(struct virtio_dev *d, uint16_t head)
{
	uint16_t *a = (uint16_t *)(ram + 0x1000 + 0x1000);
	a[2 + a[1] % QS] = head;
	a[1]++;
	notify(d);
}

static void driver_setup(struct virtio_dev *v)
{
	uint64_t feat = v->host_features;
	pthread_mutex_lock(&v->lock);
	virtio_set_status(v, 0);
	memset(ram + 0x1000, 0, 0x3000);
	fake_driver_start(v, feat, 1, 0x1000, QS);
	pthread_mutex_unlock(&v->lock);
}

static void check(const struct virtio_mem *m)
{
	const struct virtio_mem_state *st = &m->st;
	uint64_t n = 0, last = 0;
	for (uint32_t b = 0; b < st->nblocks; b++)
		if ((m->plugged[b / 64] >> (b % 64)) & 1) {
			n++;
			last = b + 1;
		}
	if (n * st->block_size != st->plugged_size || last * st->block_size > st->usable_region_size ||
	    st->usable_region_size > st->region_size || st->requested_size > st->region_size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ram == MAP_FAILED || region == MAP_FAILED)
			abort();
		mem.regions[0] = (struct guest_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
		mem.regions[1] = (struct guest_region){ .gpa = REGION_GPA, .size = REGION_SIZE, .hva = region,
							.hotplug = true };
		mem.nregions = 2;
		mem.total = RAM_SIZE + REGION_SIZE;
	}
	madvise(ram, RAM_SIZE, MADV_DONTNEED);
	struct fuzz_input in = { data, size };
	uint64_t block = (2ull << 20) << (fuzz_byte(&in) & 3);
	struct virtio_mem_params p = { REGION_GPA, REGION_SIZE, block, 64ull << 20 };
	static struct virtio_mem m;
	if (virtio_mem_create(&m, &p, &mem, NULL) < 0)
		abort();
	struct virtio_dev *d = &m.vdev;
	driver_setup(d);

	for (int steps = 0; in.left && steps < 300; steps++) {
		uint8_t a = fuzz_byte(&in);
		switch (a & 7) {
		case 0: {
			uint16_t off = 0;
			fuzz_take(&in, &off, 2);
			uint8_t n = fuzz_byte(&in) % 65;
			uint64_t at = (uint64_t)off * 16;
			if (at + n <= RAM_SIZE)
				fuzz_take(&in, ram + at, n > in.left ? in.left : n);
			break;
		}
		case 1: {
			unsigned i = fuzz_byte(&in) % QS;
			struct virtq_desc desc = { 0 };
			uint32_t addr = 0;
			uint16_t len = 0;
			fuzz_take(&in, &addr, 4);
			fuzz_take(&in, &len, 2);
			desc.addr = addr % (RAM_SIZE + 0x10000);
			desc.len = len;
			desc.flags = fuzz_byte(&in) & 7;
			desc.next = fuzz_byte(&in);
			memcpy(ram + 0x1000 + 16 * i, &desc, 16);
			break;
		}
		case 2:
			publish(d, fuzz_byte(&in) % QS);
			break;
		case 3: {
			uint8_t req[VIRTIO_MEM_REQ_LEN] = { 0 };
			uint16_t type = fuzz_byte(&in) % 5, nb = 0;
			uint32_t off = 0;
			fuzz_take(&in, &off, 4);
			fuzz_take(&in, &nb, 2);
			/* mostly block-aligned inside the region, sometimes anything */
			uint64_t addr = a & 0x80 ? (uint64_t)off << 20 | off : REGION_GPA + (uint64_t)(off % 256) * (2u << 20);
			memcpy(req, &type, 2);
			memcpy(req + 8, &addr, 8);
			memcpy(req + 16, &nb, 2);
			memcpy(ram + REQ_BUF, req, sizeof(req));
			unsigned i = (fuzz_byte(&in) % (QS / 2)) * 2;
			struct virtq_desc d0 = { REQ_BUF, VIRTIO_MEM_REQ_LEN, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1) };
			struct virtq_desc d1 = { REQ_BUF + 0x100, VIRTIO_MEM_RESP_LEN, VIRTQ_DESC_F_WRITE, 0 };
			memcpy(ram + 0x1000 + 16 * i, &d0, 16);
			memcpy(ram + 0x1000 + 16 * (i + 1), &d1, 16);
			publish(d, (uint16_t)i);
			break;
		}
		case 4: {
			uint16_t mib = 0;
			fuzz_take(&in, &mib, 2);
			virtio_mem_set_requested(&m, (uint64_t)(mib % 160) << 20);
			break;
		}
		case 5: {
			uint8_t off = fuzz_byte(&in) % 64, len = 1u << (fuzz_byte(&in) % 4), buf[8];
			pthread_mutex_lock(&d->lock);
			virtio_config_access(d, off, buf, len, false);
			pthread_mutex_unlock(&d->lock);
			break;
		}
		case 6:
			driver_setup(d);
			break;
		case 7: {
			size_t len = 0;
			pthread_mutex_lock(&d->lock);
			uint8_t *blob = virtio_mem_save_locked(&m, &len);
			pthread_mutex_unlock(&d->lock);
			if (!blob)
				abort();
			for (unsigned k = fuzz_byte(&in) % 4; k-- && len;) {
				uint16_t at = 0;
				fuzz_take(&in, &at, 2);
				blob[at % len] ^= fuzz_byte(&in);
			}
			char err[256];
			virtio_mem_load_state(&m, blob, len - (a >> 7), err, sizeof(err));
			free(blob);
			break;
		}
		}
		check(&m);
	}
	virtio_dev_destroy(d);
	return 0;
}
