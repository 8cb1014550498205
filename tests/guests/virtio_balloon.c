/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_balloon: a ring-3 driver for petrel's virtio-balloon (docs/balloon.md). Checks the
 * target in the configuration space, inflates 64 pages filled with a pattern plus hostile page
 * numbers (outside RAM: the request must complete and the device keep working), checks the
 * inflated pages read as zero (the host dropped them), writes `actual`, gets the statistics
 * buffer handed back by the polling tick, deflates and uses the pages again.
 * Command line: transport=pci|mmio target=MIB stats=1 hold=SECONDS (after the inflate, print
 * "balloon inflated" and wait that long so the host can measure its RSS).
 * Prints "virtio-balloon released=64".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_balloon");

#define VIRTIO_ID_BALLOON 5
#define F_STATS_VQ (1ull << 1)
#define NPAGES 64

static struct vdev dev;
static struct vq inflate_q, deflate_q, stats_q;
static struct vq_mem ring_i, ring_d, ring_s;
static uint8_t pool[NPAGES][4096] __attribute__((aligned(4096)));
static uint32_t pfns[NPAGES + 3];
static uint8_t stats_buf[20];
static bool stats;

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &v, 8);
}

static void cfg_write32(unsigned off, uint32_t v)
{
	uintptr_t a = dev.mmio ? dev.base + 0x100 + off : dev.devcfg + off;
	*(volatile uint32_t *)a = v;
}

static void request(struct vq *q, unsigned n, const char *what)
{
	struct vbuf b = { pfns, 4 * n, false };
	vq_add(q, &b, 1);
	vq_kick(q);
	uint32_t id, len;
	check(vq_wait(q, &id, &len, 10), "%s: no completion", what);
	check(!(vdev_status(&dev) & VS_NEEDS_RESET), "%s: the device broke (NEEDS_RESET)", what);
}

static long body(long target_mib)
{
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1 | (stats ? F_STATS_VQ : 0), &feats), "device refused FEATURES_OK");
	check(!stats || (feats & F_STATS_VQ), "no statistics queue offered");
	check(vq_setup(&dev, &inflate_q, 0, &ring_i, 16, 0xffff), "inflate queue setup failed");
	check(vq_setup(&dev, &deflate_q, 1, &ring_d, 16, 0xffff), "deflate queue setup failed");
	if (stats)
		check(vq_setup(&dev, &stats_q, 2, &ring_s, 16, 0xffff), "statistics queue setup failed");
	vdev_driver_ok(&dev);
	uint32_t num_pages = vdev_cfg_read(&dev, 0, 4);
	check(num_pages == (uint32_t)target_mib * 256, "num_pages %u, expected %u", num_pages,
	      (uint32_t)target_mib * 256);

	if (stats) { /* the driver's first buffer: held by the device until the polling tick */
		put_stat(stats_buf, 4, 12345);
		put_stat(stats_buf + 10, 5, 67890);
		struct vbuf b = { stats_buf, sizeof(stats_buf), false };
		vq_add(&stats_q, &b, 1);
		vq_kick(&stats_q);
	}

	for (int i = 0; i < NPAGES; i++) {
		memset(pool[i], 0x5a, 4096);
		pfns[i] = (uint32_t)((uintptr_t)pool[i] >> 12);
	}
	pfns[NPAGES] = 0xffffffffu;             /* hostile: far outside RAM */
	pfns[NPAGES + 1] = 0xfffff;             /* the page below 4 GiB: MMIO, not RAM */
	pfns[NPAGES + 2] = pfns[0];             /* twice */
	request(&inflate_q, NPAGES + 3, "inflate");
	for (int i = 0; i < NPAGES; i++)
		check(pool[i][0] == 0 && pool[i][2048] == 0 && pool[i][4095] == 0,
		      "page %d still holds its data after the inflate", i);
	cfg_write32(4, NPAGES);
	check(vdev_cfg_read(&dev, 4, 4) == NPAGES, "actual did not stick");

	if (stats) {
		uint32_t id, len;
		check(vq_wait(&stats_q, &id, &len, 5), "the statistics buffer did not come back");
	}
	long hold = cmdline_int("hold", 0);
	if (hold) {
		printf("balloon inflated\n");
		struct deadline d;
		deadline_start(&d, (int)hold);
		while (!deadline_expired(&d))
			;
	}

	request(&deflate_q, NPAGES, "deflate");
	for (int i = 0; i < NPAGES; i++) {
		pool[i][100] = (uint8_t)i;
		check(pool[i][100] == (uint8_t)i, "page %d unusable after the deflate", i);
	}
	cfg_write32(4, 0);
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio");
	stats = cmdline_int("stats", 0) != 0;
	bool found = mmio ? vmmio_find(VIRTIO_ID_BALLOON, 0, &dev) : vpci_find(VIRTIO_ID_BALLOON, 0, &dev);
	check(found, "no virtio-balloon device on %s", mmio ? "virtio-mmio" : "PCI");
	user_call(body, cmdline_int("target", 0), USER_IF);
	printf("virtio-balloon released=%d\n", NPAGES);
	pass();
}
