/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_pmem: drives a virtio-pmem device (docs/pmem.md) without Linux. Reads start and size
 * from the configuration space, maps the range (it lies above 4 GiB: one more page directory
 * of 2 MiB pages), reads the host's pattern through it, and from ring 3 sends flushes and bad
 * requests on the queue. Read-write: the guest's store at offset 4096 must reach the file (the
 * host test reads it back). Read-only: a store is dropped (or, where KVM has no read-only
 * slots, kept in a private copy of the page); the host test checks the file is unchanged.
 * Command line: transport=pci|mmio, size=BYTES (the file's), ro=1.
 * Prints "virtio-pmem start=0x... size=... flush=0 bad=1 nostatus=0 ro-store=-|dropped|private".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_pmem");

#define VIRTIO_ID_PMEM 27
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4
#define PTE_PS 0x80

extern uint64_t pml4[];
static uint64_t pd_high[512] __attribute__((aligned(4096)));

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint32_t req[4], status[4];
static uint32_t got_flush, got_bad, got_nostatus_len;

/* One request: type, then a status buffer (writable unless ro_status); returns the used length. */
static uint32_t request(uint32_t type, bool ro_status, uint32_t *st)
{
	req[0] = type;
	*st = 0xeeeeeeee;
	struct vbuf b[2] = { { req, 4, false }, { st, 4, !ro_status } };
	vq_add(&vq, b, 2);
	vq_kick(&vq);
	uint32_t id, len;
	check(vq_wait(&vq, &id, &len, 10), "request type %u: no completion", type);
	return len;
}

static long body(long arg)
{
	(void)arg;
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1, &feats), "device refused FEATURES_OK");
	check(vq_setup(&dev, &vq, 0, &ring, 16, 0xffff), "queue setup failed");
	vdev_driver_ok(&dev);
	check(request(0, false, &status[0]) == 4, "flush: used length is not 4");
	got_flush = status[0];
	check(request(5, false, &status[1]) == 4, "unknown type: used length is not 4");
	got_bad = status[1];
	got_nostatus_len = request(0, true, &status[2]);
	check(status[2] == 0xeeeeeeee, "the device wrote into a read-only status buffer");
	check(request(0, false, &status[3]) == 4 && status[3] == 0, "no flush after the bad requests");
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio"), ro = cmdline_int("ro", 0) != 0;
	uint64_t file = (uint64_t)cmdline_int("size", 0);
	bool found = vdev_find(VIRTIO_ID_PMEM, mmio, &dev);
	check(found, "no virtio-pmem device on %s", mmio ? "virtio-mmio" : "PCI");
	uint64_t start = vdev_cfg_read(&dev, 0, 4) | (uint64_t)vdev_cfg_read(&dev, 4, 4) << 32;
	uint64_t size = vdev_cfg_read(&dev, 8, 4) | (uint64_t)vdev_cfg_read(&dev, 12, 4) << 32;
	check(start >= (4ull << 30) && start % (128ull << 20) == 0, "start 0x%llx: not above 4 GiB on a 128 MiB boundary",
	      (unsigned long long)start);
	check(size % (2u << 20) == 0 && size >= file && size - file < (2u << 20), "size %llu for a file of %llu bytes",
	      (unsigned long long)size, (unsigned long long)file);
	check(size <= (1ull << 30) && (start >> 30) == ((start + size - 1) >> 30), "range crosses a GiB");
	/* map the GiB holding the range with 2 MiB pages, as the identity map does below 4 GiB */
	uint64_t *pdpt = pml4 + 512;
	uint64_t gib = start & ~((1ull << 30) - 1);
	for (unsigned i = 0; i < 512; i++)
		pd_high[i] = (gib + ((uint64_t)i << 21)) | PTE_P | PTE_W | PTE_U | PTE_PS;
	pdpt[start >> 30] = (uint64_t)(uintptr_t)pd_high | PTE_P | PTE_W | PTE_U;
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)start;
	/* the host wrote "petrel-pmem" at 0 and byte i*7 elsewhere */
	check(p[0] == 'p' && p[6] == '-' && p[10] == 'm', "the file's first bytes are not there");
	check(p[file - 1] == (uint8_t)((file - 1) * 7), "the file's last byte is %u", p[file - 1]);
	check(p[file] == 0 && p[size - 1] == 0, "the padding after the file is not zero");
	p[4096] = 'G';
	p[4097] = 'W';
	const char *ro_store = "-";
	if (ro) {
		/* dropped (a read-only KVM slot) or kept in a private copy (KVM without them) */
		check(p[4096] == (uint8_t)(4096 * 7) || p[4096] == 'G', "a store left %u behind", p[4096]);
		ro_store = p[4096] == 'G' ? "private" : "dropped";
	} else
		check(p[4096] == 'G' && p[4097] == 'W', "a store did not stick");
	user_call(body, 0, USER_IF);
	printf("virtio-pmem start=0x%llx size=%llu flush=%u bad=%u nostatus=%u ro-store=%s\n",
	       (unsigned long long)start, (unsigned long long)size, got_flush, got_bad, got_nostatus_len, ro_store);
	pass();
}
