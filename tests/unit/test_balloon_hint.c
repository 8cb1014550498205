/* virtio-balloon free page hinting without KVM (balloon_hint.c, docs/balloon.md): the run
 * protocol of the virtio spec's "Free Page Hinting" driven through fake rings (guest memory an
 * anonymous mapping, so dropped pages really read as zero), hostile hint buffers, the state
 * across a restore and the BALN section's versions, and /balloon/hinting/... on a controller
 * whose running VM is just the device. */
#include "unit.h"
#include "api_call.h"

#define MEM_SIZE (4u << 20)
#include "fake_ring.h"

#include "api/controller.h"
#include "api/router.h"
#include "devices/dev_state.h"
#include "devices/virtio/balloon.h"
#include "vm/vm_internal.h"

#include <errno.h>

#define BUF 0x20000        /* request buffers */
#define DATA 0x100000      /* pages the "guest" hints */

static int setup(struct virtio_balloon *b, const struct balloon_params *p)
{
	mem_setup();
	int err = virtio_balloon_create(b, p, &mem, NULL);
	if (err < 0)
		return err;
	start(&b->vdev, b->vdev.host_features, b->vdev.nqueues);
	return 0;
}

static uint32_t cfg32(struct virtio_balloon *b, uint32_t off)
{
	uint32_t v;
	pthread_mutex_lock(&b->vdev.lock);
	virtio_config_access(&b->vdev, off, (uint8_t *)&v, 4, false);
	pthread_mutex_unlock(&b->vdev.lock);
	return v;
}

#define HQ 2               /* the hinting queue without statistics */

/* One chain on the hinting queue: the driver's command id (a 4-byte readable buffer) when cmd
 * is not NULL, then a writable range [gpa, gpa+len) when len is not 0. */
static void send_hint(struct virtio_balloon *b, const uint32_t *cmd, uint64_t gpa, uint32_t len)
{
	unsigned d = 0;
	if (cmd) {
		memcpy(ram + BUF + 0x7000, cmd, 4);
		set_desc(HQ, 0, BUF + 0x7000, 4, len ? VIRTQ_DESC_F_NEXT : 0, 1);
		d = 1;
	}
	if (len)
		set_desc(HQ, d, gpa, len, VIRTQ_DESC_F_WRITE, 0);
	publish(HQ, 0);
	notify(&b->vdev, HQ);
}

static uint32_t id_(uint32_t v) { return v; }
#define CMD(v) (&(uint32_t){ id_(v) })

/* The protocol of the spec's "Free Page Hinting": ranges go back to the host only while the
 * host has a run open and the driver's last id is that run's; after DONE nothing is touched
 * (a page the guest uses again keeps what it writes). */
TEST(hinting_drops_only_ranges_of_the_open_run)
{
	struct virtio_balloon b;
	struct balloon_params p = { .free_page_hinting = true, .free_page_reporting = true };
	REQUIRE_EQ(setup(&b, &p), 0);
	CHECK(b.vdev.host_features & VIRTIO_BIT(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	CHECK_EQ(b.vdev.nqueues, 4);
	CHECK_EQ(virtio_balloon_queue_role(&b.vdev, 2), BALLOON_Q_HINTING);
	CHECK_EQ(virtio_balloon_queue_role(&b.vdev, 3), BALLOON_Q_REPORTING);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_STOP);
	memset(ram + DATA, 0xab, 8 * 4096);

	/* no run yet: a range (even after an id) is used but not dropped */
	send_hint(&b, CMD(2), DATA, 4096);
	CHECK_EQ(used_idx(HQ), 1);
	CHECK_EQ(ram[DATA], 0xab);
	CHECK_EQ(b.ctr.hint_ignored, 1);

	uint32_t gen = b.vdev.st.config_generation;
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	CHECK_EQ(cfg32(&b, 8), 2);
	CHECK(b.vdev.st.config_generation != gen);       /* the driver is told */
	send_hint(&b, NULL, DATA, 4096);                  /* the driver's id 2 came before the run: stale */
	CHECK_EQ(ram[DATA], 0xab);
	send_hint(&b, CMD(1234), DATA, 4096);             /* another id */
	CHECK_EQ(ram[DATA], 0xab);
	CHECK_EQ(b.ctr.hint_ignored, 3);

	/* the run's id, then ranges: whole pages inside them are dropped */
	send_hint(&b, CMD(2), DATA, 2 * 4096);
	CHECK_EQ(ram[DATA], 0);
	CHECK_EQ(ram[DATA + 8191], 0);
	send_hint(&b, NULL, DATA + 0x3000 + 100, 8192);   /* one whole page inside: 0x4000..0x5000 */
	CHECK_EQ(ram[DATA + 0x3000 + 100], 0xab);
	CHECK_EQ(ram[DATA + 0x4000], 0);
	CHECK_EQ(ram[DATA + 0x5000 + 99], 0xab);
	CHECK_EQ(b.ctr.hint_count, 2);
	CHECK_EQ(b.ctr.hint_bytes, 3 * 4096);
	uint32_t host, guest;
	bool has_guest;
	CHECK_EQ(virtio_balloon_hint_status(&b, &host, &has_guest, &guest), 0);
	CHECK_EQ(host, 2);
	CHECK(has_guest);
	CHECK_EQ(guest, 2);

	/* a readable buffer that is not 4 bytes is no command */
	set_desc(HQ, 0, BUF + 0x7000, 3, 0, 0);
	publish(HQ, 0);
	notify(&b.vdev, HQ);
	CHECK_EQ(b.ctr.hint_invalid, 1);

	/* the driver's STOP ends the run; acknowledge_on_stop answers DONE */
	gen = b.vdev.st.config_generation;
	send_hint(&b, CMD(BALLOON_HINT_CMD_STOP), 0, 0);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_DONE);
	CHECK(b.vdev.st.config_generation != gen);
	/* after DONE the guest owns its pages again: a late range is not dropped, its data stays */
	memset(ram + DATA, 0x5a, 4096);
	send_hint(&b, CMD(2), DATA, 4096);
	CHECK_EQ(ram[DATA], 0x5a);

	/* without acknowledge_on_stop the id stays until the host says DONE */
	REQUIRE_EQ(virtio_balloon_hint_start(&b, false), 0);
	CHECK_EQ(cfg32(&b, 8), 3);
	send_hint(&b, CMD(3), 0, 0);
	send_hint(&b, CMD(BALLOON_HINT_CMD_STOP), 0, 0);
	CHECK_EQ(cfg32(&b, 8), 3);
	REQUIRE_EQ(virtio_balloon_hint_stop(&b), 0);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_DONE);

	/* a new run while the driver is still in the old one: the old run's ranges and its STOP
	 * neither drop pages nor end the new run */
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	send_hint(&b, CMD(4), DATA + 0x6000, 4096);       /* run 4 */
	CHECK_EQ(ram[DATA + 0x6000], 0);
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	CHECK_EQ(cfg32(&b, 8), 5);
	send_hint(&b, NULL, DATA + 0x7000, 4096);          /* still run 4's */
	CHECK_EQ(ram[DATA + 0x7000], 0xab);
	send_hint(&b, CMD(BALLOON_HINT_CMD_STOP), 0, 0);   /* the end of run 4 */
	CHECK_EQ(cfg32(&b, 8), 5);
	send_hint(&b, CMD(5), DATA + 0x7000, 4096);
	CHECK_EQ(ram[DATA + 0x7000], 0);
	/* the host closes the run itself: later ranges are left alone */
	REQUIRE_EQ(virtio_balloon_hint_stop(&b), 0);
	memset(ram + DATA, 0x11, 4096);
	send_hint(&b, NULL, DATA, 4096);
	CHECK_EQ(ram[DATA], 0x11);
	CHECK(virtio_is_running(&b.vdev));

	/* free_page_hint_cmd_id is the device's: a driver write is ignored */
	uint32_t bogus = 77;
	pthread_mutex_lock(&b.vdev.lock);
	virtio_config_access(&b.vdev, 8, (uint8_t *)&bogus, 4, true);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_DONE);

	/* a reset forgets the run and the driver's id, not the last id issued */
	pthread_mutex_lock(&b.vdev.lock);
	virtio_reset(&b.vdev);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(b.st.hint_cmd_id, BALLOON_HINT_CMD_STOP);
	CHECK_EQ(b.st.hint_flags, 0);
	CHECK_EQ(b.st.hint_last_id, 5);
	virtio_dev_destroy(&b.vdev);
}

/* Hostile hint buffers: ranges outside RAM never reach the device (virtq_pop), ranges with no
 * whole page drop nothing, a chain of many ranges is fine. */
TEST(hinting_hostile_buffers)
{
	struct virtio_balloon b;
	struct balloon_params p = { .free_page_hinting = true };
	REQUIRE_EQ(setup(&b, &p), 0);
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	send_hint(&b, CMD(2), 0, 0);
	memset(ram + DATA, 0xcd, 4 * 4096);
	send_hint(&b, NULL, MEM_SIZE - 4096, 8192);        /* past the end of RAM */
	CHECK(!virtio_is_running(&b.vdev));                 /* the ring code refuses the chain */
	pthread_mutex_lock(&b.vdev.lock);
	virtio_reset(&b.vdev);
	pthread_mutex_unlock(&b.vdev.lock);
	memset(ram + qdesc(HQ), 0, 0x3000);                 /* a fresh ring, as a new driver has */
	start(&b.vdev, b.vdev.host_features, b.vdev.nqueues);
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	send_hint(&b, CMD(3), DATA + 1, 4094);             /* no whole page */
	CHECK_EQ(ram[DATA + 1], 0xcd);
	CHECK_EQ(b.ctr.hint_bytes, 0);
	/* many ranges in one chain */
	set_desc(HQ, 0, BUF + 0x7000, 4, VIRTQ_DESC_F_NEXT, 1);
	uint32_t three = 3;
	memcpy(ram + BUF + 0x7000, &three, 4);
	for (unsigned i = 1; i < QS; i++)
		set_desc(HQ, i, DATA + (i % 4) * 4096, 4096, VIRTQ_DESC_F_WRITE | (i + 1 < QS ? VIRTQ_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	publish(HQ, 0);
	notify(&b.vdev, HQ);
	CHECK(virtio_is_running(&b.vdev));
	CHECK_EQ(ram[DATA], 0);
	CHECK_EQ(ram[DATA + 3 * 4096], 0);
	CHECK_EQ(b.ctr.hint_count, QS);                     /* the range without a whole page, then 15 */
	virtio_dev_destroy(&b.vdev);
}

TEST(hinting_requests_refused_when_off_or_not_started)
{
	struct virtio_balloon b;
	struct balloon_params p = { 0 };
	REQUIRE_EQ(setup(&b, &p), 0);
	uint32_t host, guest;
	bool has_guest;
	CHECK_EQ(virtio_balloon_hint_start(&b, true), -EOPNOTSUPP);
	CHECK_EQ(virtio_balloon_hint_stop(&b), -EOPNOTSUPP);
	CHECK_EQ(virtio_balloon_hint_status(&b, &host, &has_guest, &guest), -EOPNOTSUPP);
	CHECK_EQ(cfg32(&b, 8), 0);
	virtio_dev_destroy(&b.vdev);

	p.free_page_hinting = true;
	mem_setup();
	REQUIRE_EQ(virtio_balloon_create(&b, &p, &mem, NULL), 0);   /* no driver yet */
	CHECK_EQ(virtio_balloon_hint_start(&b, true), -EAGAIN);
	CHECK_EQ(virtio_balloon_hint_stop(&b), -EAGAIN);
	CHECK_EQ(virtio_balloon_hint_status(&b, &host, &has_guest, &guest), 0);
	CHECK_EQ(host, BALLOON_HINT_CMD_STOP);
	CHECK(!has_guest);
	virtio_dev_destroy(&b.vdev);
}

/* A hinting device whose driver joined run 2, paused for a snapshot. */
static int paused_in_a_run(struct virtio_balloon *a, const struct balloon_params *p)
{
	int e = setup(a, p);
	if (e == 0 && (e = virtio_balloon_hint_start(a, false)) == 0) {
		send_hint(a, CMD(2), 0, 0);
		virtio_quiesce(&a->vdev);
	}
	return e;
}

/* A snapshot taken during a run: the restored device says DONE (the guest gets its hinted
 * pages back), through a configuration interrupt when the restored queues are kicked; ids go
 * on from the last one. */
TEST(hinting_state_survives_restore)
{
	struct virtio_balloon a, b;
	struct balloon_params p = { .free_page_hinting = true };
	REQUIRE_EQ(paused_in_a_run(&a, &p), 0);
	struct virtio_state vs = a.vdev.st;
	struct balloon_state bs = a.st;
	uint64_t features = a.vdev.host_features;
	virtio_dev_destroy(&a.vdev);
	CHECK_EQ(bs.hint_cmd_id, 2);

	REQUIRE_EQ(virtio_balloon_create(&b, &p, &mem, NULL), 0);
	virtio_balloon_load_state(&b, &bs);
	char err[256] = "";
	REQUIRE_EQ(virtio_restore(&b.vdev, &vs, features, err, sizeof(err)), 0);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_DONE);
	CHECK_EQ(b.st.hint_guest_cmd, 2);
	uint32_t gen = b.vdev.st.config_generation;
	notify(&b.vdev, 0);                                 /* the restore's kick, on the I/O thread */
	CHECK(b.vdev.st.config_generation != gen);
	gen = b.vdev.st.config_generation;
	notify(&b.vdev, 0);
	CHECK_EQ(b.vdev.st.config_generation, gen);         /* once */
	REQUIRE_EQ(virtio_balloon_hint_start(&b, true), 0);
	CHECK_EQ(cfg32(&b, 8), 3);
	virtio_dev_destroy(&b.vdev);
}

/* The BALN section through the balloon's own state verbs: every field back as it was, in the
 * documented widths (docs/snapshots.md), and a cut or an overlong section refused by name. */
TEST(balloon_section_encoding)
{
	struct virtio_balloon a, b;
	struct balloon_params p = { .free_page_hinting = true };
	REQUIRE_EQ(paused_in_a_run(&a, &p), 0);
	a.st.num_pages = 0x01020304;
	a.st.stats[BALLOON_S_NR - 1] = 0x1122334455667788ull;
	const struct dev_state_ops *ops = a.vdev.ops->state;
	REQUIRE(ops != NULL);
	CHECK_EQ(ops->id, STATE_ID('B', 'A', 'L', 'N'));
	struct enc e;
	enc_init(&e);
	ops->save(&a.vdev, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK_EQ(e.len, 4 * 4 + 1 + 8 * BALLOON_S_NR + 5 * 4);
	CHECK_EQ(e.buf[0], 0x04);                           /* num_pages, little-endian */
	CHECK_EQ(e.buf[3], 0x01);
	CHECK_EQ(e.buf[16], BALLOON_S_NR);

	REQUIRE_EQ(virtio_balloon_create(&b, &p, &mem, NULL), 0);
	char err[256] = "";
	struct dec d;
	dec_init(&d, e.buf, e.len - 1);
	CHECK_EQ(ops->load(&b.vdev, &d, ops->version, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "shorter");
	uint8_t *longer = calloc(1, e.len + 4);
	REQUIRE(longer);
	memcpy(longer, e.buf, e.len);
	dec_init(&d, longer, e.len + 4);
	CHECK_EQ(ops->load(&b.vdev, &d, ops->version, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "4 bytes more");
	free(longer);
	CHECK_EQ(b.st.num_pages, 0);                        /* a refused state changes nothing */
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(ops->load(&b.vdev, &d, ops->version, err, sizeof(err)), 0);
	CHECK_EQ(b.st.num_pages, 0x01020304u);
	CHECK_EQ(b.st.stats[BALLOON_S_NR - 1], 0x1122334455667788ull);
	CHECK_EQ(b.st.hint_guest_cmd, 2);
	enc_free(&e);
	virtio_dev_destroy(&a.vdev);
	virtio_dev_destroy(&b.vdev);
}

/* /balloon/hinting/... on a controller whose running VM is just the device: Firecracker's
 * answers and errors (its rpc_interface.rs and balloon/device.rs). */
TEST(hinting_api_on_a_running_device)
{
	struct virtio_balloon b;
	struct balloon_params p = { .amount_mib = 0, .free_page_hinting = true };
	REQUIRE_EQ(setup(&b, &p), 0);
	struct controller ctl;
	REQUIRE_EQ(ctl_init(&ctl, NULL), 0);
	ctl.dry_run = true;
	json_t *o = NULL;
	CHECK_EQ(api(&ctl, "PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false, "
		     "\"free_page_hinting\": true}", NULL), 204);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", NULL, &o), 400);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")),
		       "The requested operation is not supported before starting the microVM.");
	json_decref(o);
	struct vm *vm = calloc(1, sizeof(*vm));
	REQUIRE(vm != NULL);
	REQUIRE(vm_devices_put(vm, DEV_BALLOON, NULL, &b, &b.vdev) != NULL);
	ctl.vm = vm;
	ctl.state = INSTANCE_RUNNING;

	CHECK_EQ(api(&ctl, "GET", "/balloon/hinting/status", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(o, "host_cmd")), 0);
	CHECK(json_is_null(json_object_get(o, "guest_cmd")));
	json_decref(o);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", NULL, NULL), 204);   /* no body */
	CHECK_EQ(cfg32(&b, 8), 2);
	CHECK(b.st.hint_flags & BALLOON_HINT_ACK_ON_STOP);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", "{\"acknowledge_on_stop\": false}", NULL), 204);
	CHECK_EQ(cfg32(&b, 8), 3);
	CHECK(!(b.st.hint_flags & BALLOON_HINT_ACK_ON_STOP));
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", "{}", NULL), 204);
	CHECK(b.st.hint_flags & BALLOON_HINT_ACK_ON_STOP);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", "{\"acknowledge_on_stop\": 1}", &o), 400);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")), "acknowledge_on_stop");
	json_decref(o);
	send_hint(&b, CMD(4), 0, 0);
	CHECK_EQ(api(&ctl, "GET", "/balloon/hinting/status", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(o, "host_cmd")), 4);
	CHECK_EQ(json_integer_value(json_object_get(o, "guest_cmd")), 4);
	json_decref(o);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/stop", NULL, NULL), 204);
	CHECK_EQ(cfg32(&b, 8), BALLOON_HINT_CMD_DONE);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/stop", "{}", NULL), 204);
	pthread_mutex_lock(&ctl.lock);
	o = json_object();
	CHECK_EQ(ctl_balloon_metrics_locked(&ctl, o), 0);
	json_t *group = json_incref(json_object_get(o, "balloon"));
	json_decref(o);
	o = group;
	pthread_mutex_unlock(&ctl.lock);
	CHECK(json_object_get(o, "free_page_hint_count") != NULL);
	CHECK(json_object_get(o, "free_page_hint_freed") != NULL);
	CHECK(json_object_get(o, "free_page_hint_fails") != NULL);
	json_decref(o);

	/* the guest's driver not there yet */
	pthread_mutex_lock(&b.vdev.lock);
	virtio_reset(&b.vdev);
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/start", NULL, &o), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "fault_message")),
		     "Balloon update error: Balloon: Device not activated yet.");
	json_decref(o);
	/* a balloon without hinting */
	b.st.flags &= ~BALLOON_STATE_HINTING;
	CHECK_EQ(api(&ctl, "GET", "/balloon/hinting/status", NULL, &o), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "fault_message")),
		     "Balloon update error: Balloon: Attempting to use hinting when not enabled");
	json_decref(o);
	/* no balloon at all */
	vm->devs.ndev = 0;
	CHECK_EQ(api(&ctl, "PATCH", "/balloon/hinting/stop", NULL, &o), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "fault_message")),
		     "Balloon update error: Failed perform action on device: Device not found");
	json_decref(o);

	ctl.vm = NULL;
	ctl.state = INSTANCE_NOT_STARTED;
	free(vm);
	ctl_free(&ctl);
	virtio_dev_destroy(&b.vdev);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
