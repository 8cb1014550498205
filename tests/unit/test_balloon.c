/* virtio-balloon without KVM: guest memory an anonymous mapping, rings written by the test as
 * a driver would. Inflated pages read as zero afterwards (MADV_DONTNEED), page numbers outside
 * RAM are refused and counted, statistics are parsed and handed back on the polling tick,
 * the target and `actual` go through the configuration space, free page reports drop pages. */
#include "unit.h"
#include "api_call.h"

#define MEM_SIZE (4u << 20)
#include "fake_ring.h"
#include "sc_steps.h"

#include "api/controller.h"
#include "api/router.h"
#include "devices/virtio/balloon.h"
#include "vm/vm_internal.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <errno.h>
#include <sys/mman.h>

#define BUF 0x20000        /* request buffers */
#define DATA 0x100000      /* pages the "guest" gives away */

static int setup(struct virtio_balloon *b, const struct balloon_params *p)
{
	mem_setup();
	int err = virtio_balloon_create(b, p, &mem, NULL);
	if (err < 0)
		return err;
	start(&b->vdev, b->vdev.host_features, b->vdev.nqueues);
	return 0;
}

/* Queue one request of page frame numbers on queue q (descriptor i). */
static void send_pfns(struct virtio_balloon *b, unsigned q, unsigned i, const uint32_t *pfns, unsigned n)
{
	uint64_t a = BUF + 0x1000ull * q;
	memcpy(ram + a, pfns, 4 * n);
	set_desc(q, i, a, 4 * n, 0, 0);
	publish(q, (uint16_t)i);
	notify(&b->vdev, q);
}

static uint32_t cfg32(struct virtio_balloon *b, uint32_t off)
{
	uint32_t v;
	pthread_mutex_lock(&b->vdev.lock);
	virtio_config_access(&b->vdev, off, (uint8_t *)&v, 4, false);
	pthread_mutex_unlock(&b->vdev.lock);
	return v;
}

TEST(inflate_returns_pages_to_the_host)
{
	struct virtio_balloon b;
	struct balloon_params p = { .amount_mib = 1 };
	REQUIRE_EQ(setup(&b, &p), 0);
	CHECK_EQ(b.vdev.device_id, 5);
	CHECK_EQ(cfg32(&b, 0), 256);                 /* num_pages: 1 MiB */
	memset(ram + DATA, 0xab, 4 * 4096);
	uint32_t pfns[3] = { DATA >> 12, (DATA >> 12) + 1, (DATA >> 12) + 3 };
	send_pfns(&b, BALLOON_Q_INFLATE, 0, pfns, 3);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[DATA], 0);                      /* dropped: reads as zero */
	CHECK_EQ(ram[DATA + 4096 + 17], 0);
	CHECK_EQ(ram[DATA + 2 * 4096], 0xab);        /* not listed: kept */
	CHECK_EQ(ram[DATA + 3 * 4096 + 4095], 0);
	CHECK_EQ(b.ctr.pages_released, 3);
	CHECK_EQ(b.ctr.inflate_count, 1);
	/* the driver writes actual */
	uint32_t actual = 3;
	pthread_mutex_lock(&b.vdev.lock);
	virtio_config_access(&b.vdev, 4, (uint8_t *)&actual, 4, true);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(b.st.actual, 3);
	/* num_pages is the host's: a driver write is ignored */
	uint32_t bogus = 7;
	pthread_mutex_lock(&b.vdev.lock);
	virtio_config_access(&b.vdev, 0, (uint8_t *)&bogus, 4, true);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(cfg32(&b, 0), 256);
	/* deflate: nothing for the host, the request is used */
	send_pfns(&b, BALLOON_Q_DEFLATE, 0, pfns, 1);
	CHECK_EQ(used_idx(1), 1);
	CHECK_EQ(b.ctr.deflate_count, 1);
	virtio_dev_destroy(&b.vdev);
}

/* The page-number buffer grows with the requests: a larger one after a small one is read
 * whole (Linux's driver sends up to 256 numbers; nothing is made before the first request). */
TEST(larger_request_after_a_small_one_is_read_whole)
{
	struct virtio_balloon b;
	struct balloon_params p = { .amount_mib = 2 };
	REQUIRE_EQ(setup(&b, &p), 0);
	CHECK(b.pfns == NULL);
	uint32_t one = DATA >> 12;
	send_pfns(&b, BALLOON_Q_INFLATE, 0, &one, 1);
	CHECK_EQ(b.ctr.pages_released, 1);
	uint32_t many[256];
	for (unsigned i = 0; i < 256; i++)
		many[i] = (DATA >> 12) + 2 + 255 - i; /* distinct, in reverse order */
	memset(ram + DATA + 2 * 4096, 0xcd, 256 * 4096);
	send_pfns(&b, BALLOON_Q_INFLATE, 1, many, 256);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(b.ctr.pages_released, 257);
	CHECK_EQ(b.ctr.pfns_ignored, 0);
	CHECK_EQ(ram[DATA + 2 * 4096], 0);
	CHECK_EQ(ram[DATA + 257 * 4096 + 4095], 0);
	virtio_dev_destroy(&b.vdev);
	CHECK(b.pfns == NULL);
}

/* The balloon under the seccomp filters petrel installs (sc_steps.h): the API thread sets a
 * target and a statistics interval, the I/O thread serves inflate (madvise) and deflate, the
 * vCPU thread writes `actual`. A call missing from a list fails here. */
static struct virtio_balloon sc_b;

static void sc_target(void)
{
	virtio_balloon_set_target_mib(&sc_b, 1);
	if (virtio_balloon_set_stats_interval(&sc_b, 1) < 0)
		fail(70);
}

static void sc_inflate_deflate(void)
{
	uint32_t pfns[2] = { DATA >> 12, (DATA >> 12) + 1 };
	send_pfns(&sc_b, BALLOON_Q_INFLATE, 0, pfns, 2);
	send_pfns(&sc_b, BALLOON_Q_DEFLATE, 0, pfns, 1);
	if (used_idx(0) != 1 || used_idx(1) != 1 || sc_b.ctr.pages_released != 2 || ram[DATA] != 0)
		fail(71);
}

static void sc_actual(void)
{
	uint32_t actual = 2;
	pthread_mutex_lock(&sc_b.vdev.lock);
	virtio_config_access(&sc_b.vdev, 4, (uint8_t *)&actual, 4, true);
	pthread_mutex_unlock(&sc_b.vdev.lock);
}

TEST(balloon_under_the_filters)
{
	struct balloon_params p = { .amount_mib = 0, .deflate_on_oom = true, .stats_polling_interval_s = 5,
				    .free_page_reporting = true };
	REQUIRE_EQ(setup(&sc_b, &p), 0);
	memset(ram + DATA, 0xab, 2 * 4096);
	const struct step steps[] = {
		{ SC_API, "fc_api", sc_target },
		{ SC_IO, "fc_io", sc_inflate_deflate },
		{ SC_VCPU, "fc_vcpu 0", sc_actual },
	};
	CHECK_STEPS_CLEAN(steps);
	virtio_dev_destroy(&sc_b.vdev);
}

TEST(out_of_range_pfns_are_refused_and_counted)
{
	struct virtio_balloon b;
	struct balloon_params p = { 0 };
	REQUIRE_EQ(setup(&b, &p), 0);
	memset(ram + DATA, 0xcd, 4096);
	uint32_t pfns[4] = { MEM_SIZE >> 12, 0xffffffffu, (MEM_SIZE >> 12) - 1 + 1000, DATA >> 12 };
	send_pfns(&b, BALLOON_Q_INFLATE, 0, pfns, 4);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(b.ctr.pages_refused, 3);
	CHECK_EQ(b.ctr.pages_released, 1);
	CHECK(virtio_is_running(&b.vdev));          /* bad numbers do not break the device */
	/* a request that is not a whole number of PFNs: the tail is ignored */
	send_pfns(&b, BALLOON_Q_INFLATE, 1, pfns, 1);
	CHECK_EQ(used_idx(0), 2);
	virtio_dev_destroy(&b.vdev);
}

TEST(target_change_reaches_config_space)
{
	struct virtio_balloon b;
	struct balloon_params p = { .amount_mib = 0, .deflate_on_oom = true };
	REQUIRE_EQ(setup(&b, &p), 0);
	CHECK(b.vdev.host_features & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	CHECK(!(b.vdev.host_features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)));
	CHECK_EQ(b.vdev.nqueues, 2);
	uint32_t gen = b.vdev.st.config_generation;
	virtio_balloon_set_target_mib(&b, 3);
	CHECK_EQ(cfg32(&b, 0), 3 * 256);
	CHECK(b.vdev.st.config_generation != gen);
	CHECK_EQ(virtio_balloon_set_stats_interval(&b, 1), -EINVAL); /* statistics are off */
	virtio_dev_destroy(&b.vdev);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &v, 8);
}

TEST(statistics_parsed_and_handed_back_on_tick)
{
	struct virtio_balloon b;
	struct balloon_params p = { .stats_polling_interval_s = 5, .free_page_reporting = true };
	REQUIRE_EQ(setup(&b, &p), 0);
	CHECK_EQ(b.vdev.nqueues, 4);
	CHECK_EQ(virtio_balloon_queue_role(&b.vdev, 2), BALLOON_Q_STATS);
	CHECK_EQ(virtio_balloon_queue_role(&b.vdev, 3), BALLOON_Q_REPORTING);
	uint8_t *s = ram + BUF + 0x8000;
	put_stat(s, BALLOON_S_MEMFREE, 123456789);
	put_stat(s + 10, BALLOON_S_MEMTOT, 1ull << 30);
	put_stat(s + 20, 999, 1);                    /* unknown tag: ignored */
	put_stat(s + 30, BALLOON_S_DIRECT_RECLAIM, 42);
	set_desc(2, 0, BUF + 0x8000, 40, 0, 0);
	publish(2, 0);
	notify(&b.vdev, 2);
	CHECK_EQ(used_idx(2), 0);                    /* held until the polling tick */
	CHECK_EQ_HEX(b.st.stats[BALLOON_S_MEMFREE], 123456789);
	CHECK_EQ_HEX(b.st.stats[BALLOON_S_MEMTOT], 1ull << 30);
	CHECK_EQ(b.st.stats[BALLOON_S_DIRECT_RECLAIM], 42);
	CHECK_EQ(b.ctr.stats_invalid, 1);
	CHECK(b.st.stats_present & (1u << BALLOON_S_MEMFREE));
	CHECK(!(b.st.stats_present & (1u << BALLOON_S_SWAP_IN)));
	virtio_balloon_stats_tick(&b);
	CHECK_EQ(used_idx(2), 1);                    /* handed back for fresh values */
	virtio_balloon_stats_tick(&b);
	CHECK_EQ(used_idx(2), 1);                    /* nothing held: nothing to do */
	CHECK_EQ(virtio_balloon_set_stats_interval(&b, 0), -EINVAL);
	CHECK_EQ(virtio_balloon_set_stats_interval(&b, 2), 0);
	CHECK_EQ(b.st.stats_polling_interval_s, 2);

	/* a held buffer goes back into the ring when the VM pauses */
	set_desc(2, 1, BUF + 0x8000, 10, 0, 0);
	publish(2, 1);
	notify(&b.vdev, 2);
	CHECK(b.stats_held);
	virtio_quiesce(&b.vdev);
	CHECK(!b.stats_held);
	CHECK_EQ(b.vdev.st.queues[2].last_avail_idx, 1);

	/* free page reporting: a writable buffer over free RAM is dropped */
	memset(ram + DATA, 0xee, 8192);
	set_desc(3, 0, DATA, 8192, VIRTQ_DESC_F_WRITE, 0);
	publish(3, 0);
	notify(&b.vdev, 3);
	CHECK_EQ(used_idx(3), 1);
	CHECK_EQ(ram[DATA + 100], 0);
	CHECK_EQ(ram[DATA + 8191], 0);
	CHECK_EQ(b.ctr.reported_bytes, 8192);
	virtio_dev_destroy(&b.vdev);
}

TEST(short_stats_buffer_and_huge_request_are_bounded)
{
	struct virtio_balloon b;
	struct balloon_params p = { .stats_polling_interval_s = 1 };
	REQUIRE_EQ(setup(&b, &p), 0);
	set_desc(2, 0, BUF + 0x8000, 7, 0, 0);       /* less than one entry */
	publish(2, 0);
	notify(&b.vdev, 2);
	CHECK_EQ(b.ctr.stats_invalid, 1);
	CHECK_EQ(b.st.stats_present, 0);
	/* an inflate request of 512 KiB of zeros: PFN 0 (in RAM) many times, capped */
	set_desc(0, 0, 0x200000, 512 << 10, 0, 0);
	publish(0, 0);
	notify(&b.vdev, 0);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(b.ctr.pfns_ignored, (512u << 10) / 4 - BALLOON_MAX_PFNS_PER_REQ);
	virtio_dev_destroy(&b.vdev);
}

/* What a snapshot keeps (struct virtio_state + struct balloon_state, after the pause quiesced
 * the device) brings a new device back to the same place: target, actual, statistics, and the
 * statistics buffer popped again. load.c does these steps in this order. */
TEST(state_survives_save_and_restore)
{
	struct virtio_balloon a, b;
	struct balloon_params p = { .amount_mib = 2, .stats_polling_interval_s = 3 };
	REQUIRE_EQ(setup(&a, &p), 0);
	virtio_balloon_set_target_mib(&a, 3);
	a.st.actual = 100;
	put_stat(ram + BUF + 0x8000, BALLOON_S_MEMFREE, 777);
	set_desc(2, 0, BUF + 0x8000, 10, 0, 0);
	publish(2, 0);
	notify(&a.vdev, 2);
	REQUIRE(a.stats_held);
	virtio_quiesce(&a.vdev);                     /* vm_devices_pause */
	struct virtio_state vs = a.vdev.st;
	struct balloon_state bs = a.st;
	uint64_t features = a.vdev.host_features;
	virtio_dev_destroy(&a.vdev);

	REQUIRE_EQ(virtio_balloon_create(&b, &p, &mem, NULL), 0);
	virtio_balloon_load_state(&b, &bs);
	char err[256] = "";
	REQUIRE_EQ(virtio_restore(&b.vdev, &vs, features, err, sizeof(err)), 0);
	CHECK_EQ(cfg32(&b, 0), 3 * 256);
	CHECK_EQ(cfg32(&b, 4), 100);
	CHECK_EQ(b.st.stats[BALLOON_S_MEMFREE], 777);
	notify(&b.vdev, 2);                          /* the restore kicked every queue: the I/O thread */
	CHECK(b.stats_held);                         /* the buffer is popped again */
	virtio_balloon_stats_tick(&b);
	CHECK_EQ(used_idx(2), 1);
	virtio_dev_destroy(&b.vdev);
}

/* The runtime requests (PATCH /balloon, GET and PATCH /balloon/statistics) on a controller
 * whose "running VM" is just the device: what they do to it and what they answer. */
TEST(api_on_a_running_device)
{
	struct virtio_balloon b;
	struct balloon_params p = { .amount_mib = 4, .stats_polling_interval_s = 1 };
	REQUIRE_EQ(setup(&b, &p), 0);
	struct controller ctl;
	REQUIRE_EQ(ctl_init(&ctl, NULL), 0);
	ctl.dry_run = true;
	json_t *o = NULL;
	CHECK_EQ(api(&ctl, "PUT", "/balloon", "{\"amount_mib\": 4, \"deflate_on_oom\": false, "
		     "\"stats_polling_interval_s\": 1}", NULL), 204);
	struct vm *vm = calloc(1, sizeof(*vm));
	REQUIRE(vm != NULL);
	REQUIRE(vm_devices_put(vm, DEV_BALLOON, NULL, &b, &b.vdev) != NULL);
	ctl.vm = vm;
	ctl.state = INSTANCE_RUNNING;

	uint32_t gen = b.vdev.st.config_generation;
	CHECK_EQ(api(&ctl, "PATCH", "/balloon", "{\"amount_mib\": 2}", NULL), 204);
	CHECK_EQ(cfg32(&b, 0), 512);
	CHECK(b.vdev.st.config_generation != gen);
	CHECK_EQ(api(&ctl, "GET", "/balloon", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(o, "amount_mib")), 2);
	json_decref(o);
	/* A VM that came by migration or failover: the device's state (a later target) is the
	 * truth, not the definition sent when the move began. */
	virtio_balloon_set_target_mib(&b, 3);
	CHECK_EQ(api(&ctl, "GET", "/balloon", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(o, "amount_mib")), 3);
	json_decref(o);
	virtio_balloon_set_target_mib(&b, 2);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon", "{\"amount_mib\": 100000}", &o), 400);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")), "too large");
	json_decref(o);
	CHECK_EQ(api(&ctl, "PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true}", &o), 400);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")), "after starting");
	json_decref(o);

	/* the guest reports statistics and takes 100 pages */
	put_stat(ram + BUF + 0x8000, BALLOON_S_AVAIL, 5000);
	put_stat(ram + BUF + 0x800a, BALLOON_S_OOM_KILL, 2);
	set_desc(2, 0, BUF + 0x8000, 20, 0, 0);
	publish(2, 0);
	notify(&b.vdev, 2);
	uint32_t actual = 100;
	pthread_mutex_lock(&b.vdev.lock);
	virtio_config_access(&b.vdev, 4, (uint8_t *)&actual, 4, true);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(api(&ctl, "GET", "/balloon/statistics", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(o, "target_pages")), 512);
	CHECK_EQ(json_integer_value(json_object_get(o, "target_mib")), 2);
	CHECK_EQ(json_integer_value(json_object_get(o, "actual_pages")), 100);
	CHECK_EQ(json_integer_value(json_object_get(o, "actual_mib")), 0);
	CHECK_EQ(json_integer_value(json_object_get(o, "available_memory")), 5000);
	CHECK_EQ(json_integer_value(json_object_get(o, "oom_kill")), 2);
	CHECK(json_object_get(o, "swap_in") == NULL);      /* not reported: left out */
	json_decref(o);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 0}", &o), 400);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")), "Cannot enable or disable");
	json_decref(o);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 7}", NULL), 204);
	CHECK_EQ(b.st.stats_polling_interval_s, 7);
	pthread_mutex_lock(&ctl.lock);
	o = json_object();
	CHECK_EQ(ctl_balloon_metrics_locked(&ctl, o), 0);
	json_t *group = json_incref(json_object_get(o, "balloon"));
	json_decref(o);
	o = group;
	pthread_mutex_unlock(&ctl.lock);
	CHECK_EQ(json_integer_value(json_object_get(o, "stats_updates_count")), 1);
	json_decref(o);

	ctl.vm = NULL;
	ctl.state = INSTANCE_NOT_STARTED;
	free(vm);
	ctl_free(&ctl);
	virtio_dev_destroy(&b.vdev);
}

/* While a lazy restore fills RAM through a userfaultfd, inflated pages stay (the pager would
 * not know they went); after it ended they are dropped. */
TEST(no_release_during_lazy_restore)
{
	struct virtio_balloon b;
	struct balloon_params p = { 0 };
	REQUIRE_EQ(setup(&b, &p), 0);
	memset(ram + DATA, 0x77, 4096);
	uint32_t pfn = DATA >> 12;
	mem.regions[0].lazy = true;
	guest_mem_set_filling(&mem, true);           /* restore in progress */
	send_pfns(&b, BALLOON_Q_INFLATE, 0, &pfn, 1);
	CHECK_EQ(ram[DATA], 0x77);
	CHECK_EQ(b.ctr.madvise_failures, 1);
	CHECK_EQ(b.ctr.pages_released, 0);
	guest_mem_set_filling(&mem, false);          /* the pager's memory is complete */
	send_pfns(&b, BALLOON_Q_INFLATE, 1, &pfn, 1);
	CHECK_EQ(ram[DATA], 0);
	CHECK_EQ(b.ctr.pages_released, 1);
	mem.regions[0].lazy = false;
	virtio_dev_destroy(&b.vdev);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
