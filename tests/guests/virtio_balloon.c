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
 *
 * hint=1 instead runs free page hinting (stats off): prints "hint: ready", waits for the host
 * to open a run (PATCH /balloon/hinting/start: free_page_hint_cmd_id >= 2), sends the run's id,
 * 32 patterned pages in chains of 4, checks they read as zero, sends STOP, waits for DONE
 * (acknowledge_on_stop), then writes 32 other pages and hints them with the old id after DONE:
 * they must keep what was written. Prints "virtio-balloon hinted=32".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_balloon");

#define VIRTIO_ID_BALLOON 5
#define F_STATS_VQ (1ull << 1)
#define F_FREE_PAGE_HINT (1ull << 3)
#define NPAGES 64
#define NHINT 32

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

static void hint_send(const struct vbuf *b, unsigned n, const char *what)
{
	vq_add(&stats_q, b, n);   /* stats_q is the hinting queue (index 2) in this mode */
	vq_kick(&stats_q);
	uint32_t id, len;
	check(vq_wait(&stats_q, &id, &len, 10), "%s: no completion", what);
	check(!(vdev_status(&dev) & VS_NEEDS_RESET), "%s: the device broke (NEEDS_RESET)", what);
}

/* Wait (at most `seconds`) for free_page_hint_cmd_id to satisfy want(); its value. */
static uint32_t wait_cmd(bool (*want)(uint32_t), int seconds)
{
	struct deadline d;
	deadline_start(&d, seconds);
	uint32_t v = vdev_cfg_read(&dev, 8, 4);
	while (!want(v) && !deadline_expired(&d))
		v = vdev_cfg_read(&dev, 8, 4);
	return v;
}
static bool is_run(uint32_t v) { return v >= 2; }
static bool is_done(uint32_t v) { return v == 1; }

static uint32_t cmd_buf, stop_buf;

static long hint_body(long unused)
{
	(void)unused;
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1 | F_FREE_PAGE_HINT, &feats), "device refused FEATURES_OK");
	check(feats & F_FREE_PAGE_HINT, "free page hinting not offered");
	check(vq_setup(&dev, &inflate_q, 0, &ring_i, 16, 0xffff), "inflate queue setup failed");
	check(vq_setup(&dev, &deflate_q, 1, &ring_d, 16, 0xffff), "deflate queue setup failed");
	check(vq_setup(&dev, &stats_q, 2, &ring_s, 16, 0xffff), "hinting queue setup failed");
	vdev_driver_ok(&dev);
	check(vdev_cfg_read(&dev, 8, 4) == 0, "free_page_hint_cmd_id is not STOP at the start");
	for (int i = 0; i < NPAGES; i++)
		memset(pool[i], 0x5a, 4096);
	printf("hint: ready\n");
	cmd_buf = wait_cmd(is_run, 30);
	check(is_run(cmd_buf), "no hinting run started (cmd id %u)", cmd_buf);
	struct vbuf id = { &cmd_buf, 4, false };
	hint_send(&id, 1, "the run's id");
	for (int i = 0; i < NHINT; i += 4) {
		struct vbuf b[4];
		for (int k = 0; k < 4; k++)
			b[k] = (struct vbuf){ pool[i + k], 4096, true };
		hint_send(b, 4, "hinted pages");
	}
	for (int i = 0; i < NHINT; i++)
		check(pool[i][0] == 0 && pool[i][4095] == 0, "hinted page %d still holds its data", i);
	stop_buf = 0;
	struct vbuf stop = { &stop_buf, 4, false };
	hint_send(&stop, 1, "STOP");
	uint32_t v = wait_cmd(is_done, 10);
	check(is_done(v), "STOP was not answered with DONE (cmd id %u)", v);
	/* DONE: the pages are the guest's again; a late hint must not drop what it writes */
	for (int i = NHINT; i < NPAGES; i++)
		memset(pool[i], 0x77, 4096);
	hint_send(&id, 1, "a stale id");
	for (int i = NHINT; i < NPAGES; i += 4) {
		struct vbuf b[4];
		for (int k = 0; k < 4; k++)
			b[k] = (struct vbuf){ pool[i + k], 4096, true };
		hint_send(b, 4, "late hinted pages");
	}
	for (int i = NHINT; i < NPAGES; i++)
		check(pool[i][0] == 0x77 && pool[i][4095] == 0x77, "page %d hinted after DONE lost its data", i);
	return 0;
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
	bool found = vdev_find(VIRTIO_ID_BALLOON, mmio, &dev);
	check(found, "no virtio-balloon device on %s", mmio ? "virtio-mmio" : "PCI");
	if (cmdline_int("hint", 0)) {
		user_call(hint_body, 0, USER_IF);
		printf("virtio-balloon hinted=%d\n", NHINT);
		pass();
	}
	user_call(body, cmdline_int("target", 0), USER_IF);
	printf("virtio-balloon released=%d\n", NPAGES);
	pass();
}
