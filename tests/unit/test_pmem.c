/* virtio-pmem without KVM (docs/pmem.md): the backing file mapped and padded to 2 MiB, the
 * configuration space, flush requests answered after fdatasync (one per batch), hostile
 * requests (short, unknown type, no writable status, a read-only status) answered or returned
 * while the device keeps serving, the rate limiter, saved-state checks; and the Pmem JSON
 * object, the --pmem form, the "pmem" config section and the one-root-device rule. */
#include "unit.h"
#include "api_call.h"

#include "fake_ring.h"
#include "sc_steps.h"

#include "vm/device_params.h"
#include "api/controller.h"
#include "api/router.h"
#include "config/pmem_config.h"
#include "config/vm_config.h"
#include "devices/virtio/pmem.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQ 0x40000         /* request buffers in fake RAM */
#define STATUS 0x41000

static char file_path[64];

/* A backing file of `size` bytes (bytes i hold i * 7), named in file_path. */
static int make_file(uint64_t size)
{
	snprintf(file_path, sizeof(file_path), "/tmp/petrel-test-pmem-XXXXXX");
	int fd = mkstemp(file_path);
	if (fd < 0)
		return -1;
	uint8_t buf[4096];
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((off + i) * 7);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int setup(struct virtio_pmem *p, uint64_t size, bool ro, const struct rate_limiter_config *rl)
{
	mem_setup();
	if (make_file(size) < 0)
		return -EIO;
	struct pmem_config c = { .id = "pm0", .path_on_host = file_path, .read_only = ro };
	if (rl)
		c.rate_limiter = *rl;
	char err[256];
	int e = virtio_pmem_create(p, vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), 0, &mem, NULL, err, sizeof(err));
	if (e < 0) {
		printf("  %s\n", err);
		return e;
	}
	p->st.start = 0x100000000ull; /* what virtio_pmem_plug would pick */
	start(&p->vdev, p->vdev.host_features, 1);
	return 0;
}

static void teardown(struct virtio_pmem *p)
{
	virtio_dev_destroy(&p->vdev);
	unlink(file_path);
}

/* A request chain at descriptor i: `req_len` readable bytes holding `type`, then `status_len`
 * bytes for the status (writable unless ro_status). */
static void send_req(struct virtio_pmem *p, unsigned i, uint32_t type, uint32_t req_len, uint32_t status_len,
		 bool ro_status, bool kick)
{
	memcpy(ram + REQ + 64 * i, &type, 4);
	memset(ram + STATUS + 64 * i, 0xee, 8);
	if (status_len) {
		set_desc(0, i, REQ + 64 * i, req_len, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
		set_desc(0, i + 1, STATUS + 64 * i, status_len, ro_status ? 0 : VIRTQ_DESC_F_WRITE, 0);
	} else {
		set_desc(0, i, REQ + 64 * i, req_len, 0, 0);
	}
	publish(0, (uint16_t)i);
	if (kick)
		notify(&p->vdev, 0);
}

static uint32_t status_of(unsigned i)
{
	uint32_t v;
	memcpy(&v, ram + STATUS + 64 * i, 4);
	return v;
}

TEST(maps_the_file_padded_to_2mib)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, (3u << 20) + 5, false, NULL), 0);
	CHECK_EQ(p.vdev.device_id, 27);
	CHECK_EQ(p.vdev.config_len, 16);
	CHECK_EQ_HEX(p.st.file_size, (3u << 20) + 5);
	CHECK_EQ_HEX(p.st.size, 4u << 20);
	CHECK_EQ(p.map[12345], (uint8_t)(12345 * 7));
	CHECK_EQ(p.map[(3u << 20) + 4], (uint8_t)(((3u << 20) + 4) * 7));
	CHECK_EQ(p.map[(3u << 20) + 5], 0);          /* past the end: zero padding */
	CHECK_EQ(p.map[(4u << 20) - 1], 0);
	/* config space: start and size, little endian; the driver cannot write it */
	uint64_t cfg[2];
	pthread_mutex_lock(&p.vdev.lock);
	virtio_config_access(&p.vdev, 0, (uint8_t *)cfg, 8, false);
	virtio_config_access(&p.vdev, 8, (uint8_t *)&cfg[1], 8, false);
	uint64_t bogus = 0;
	virtio_config_access(&p.vdev, 0, (uint8_t *)&bogus, 8, true);
	pthread_mutex_unlock(&p.vdev.lock);
	CHECK_EQ_HEX(cfg[0], 0x100000000ull);
	CHECK_EQ_HEX(cfg[1], 4u << 20);
	CHECK_EQ_HEX(p.st.start, 0x100000000ull);
	CHECK_EQ(p.ctr.cfg_fails, 1);
	CHECK_EQ(p.ctr.activate_count, 1);
	teardown(&p);
}

TEST(flush_reaches_the_file_and_answers_ok)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 2u << 20, false, NULL), 0);
	memcpy(p.map + 4096, "written by the guest", 20); /* a store through the mapping */
	send_req(&p, 0, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(used_elem(0, 0).id, 0);
	CHECK_EQ(used_elem(0, 0).len, 4);
	CHECK_EQ(status_of(0), PMEM_STATUS_OK);
	CHECK_EQ(p.ctr.flush_count, 1);
	CHECK_EQ(p.ctr.queue_event_count, 1);
	/* MAP_SHARED: the file has the bytes */
	char back[21] = "";
	int fd = open(file_path, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, back, 20, 4096), 20);
	close(fd);
	CHECK_STR_EQ(back, "written by the guest");
	teardown(&p);
}

/* A flush (fdatasync) on the I/O thread under the seccomp filters petrel installs
 * (sc_steps.h): a call missing from the list fails here. */
static struct virtio_pmem sc_p;

static void sc_flush(void)
{
	memcpy(sc_p.map + 4096, "under the filter", 16);
	send_req(&sc_p, 0, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, false, true);
	for (int k = 0; k < 200 && used_idx(0) < 1; k++)
		usleep(1000);
	if (used_idx(0) != 1 || status_of(0) != PMEM_STATUS_OK)
		fail(80);
}

TEST(flush_under_the_filters)
{
	REQUIRE_EQ(setup(&sc_p, 2u << 20, false, NULL), 0);
	const struct step steps[] = { { SC_IO, "fc_io", sc_flush } };
	CHECK_STEPS_CLEAN(steps);
	teardown(&sc_p);
}

TEST(one_fdatasync_per_batch)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 4096, false, NULL), 0);
	send_req(&p, 0, 0, 4, 4, false, false);
	send_req(&p, 2, 0, 4, 4, false, false);
	send_req(&p, 4, 0, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 3);
	CHECK_EQ(p.ctr.flush_count, 1);
	CHECK_EQ(status_of(0), 0);
	CHECK_EQ(status_of(2), 0);
	CHECK_EQ(status_of(4), 0);
	teardown(&p);
}

TEST(bad_requests_are_answered_and_the_device_goes_on)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 4096, false, NULL), 0);
	/* an unknown request type: error status */
	send_req(&p, 0, 7, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(status_of(0), PMEM_STATUS_ERROR);
	CHECK_EQ(used_elem(0, 0).len, 4);
	/* a request shorter than its type: error status */
	send_req(&p, 2, 0, 2, 4, false, true);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(status_of(2), PMEM_STATUS_ERROR);
	/* no room for a status (the status descriptor is read-only, or there is none): returned
	 * with nothing written */
	send_req(&p, 4, 0, 4, 4, true, true);
	CHECK_EQ(used_idx(0), 3);
	CHECK_EQ(used_elem(0, 2).len, 0);
	CHECK_EQ(status_of(4), 0xeeeeeeeeu);
	send_req(&p, 6, 0, 4, 0, false, true);
	CHECK_EQ(used_idx(0), 4);
	CHECK_EQ(used_elem(0, 3).len, 0);
	/* a status too short */
	send_req(&p, 8, 0, 4, 2, false, true);
	CHECK_EQ(used_idx(0), 5);
	CHECK_EQ(used_elem(0, 4).len, 0);
	CHECK_EQ(p.ctr.bad_requests, 5);
	CHECK_EQ(p.ctr.flush_count, 0);             /* nothing to sync for bad requests */
	/* still serving: a good flush */
	CHECK(virtio_is_running(&p.vdev));
	send_req(&p, 10, 0, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 6);
	CHECK_EQ(status_of(10), PMEM_STATUS_OK);
	CHECK_EQ(p.ctr.flush_count, 1);
	teardown(&p);
}

TEST(status_split_over_descriptors_and_long_buffers)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 4096, false, NULL), 0);
	/* type in a 16-byte buffer (only the first 4 bytes count), status in 1 + 3 bytes */
	uint32_t type = 0;
	memcpy(ram + REQ, &type, 4);
	memset(ram + STATUS, 0xee, 16);
	set_desc(0, 0, REQ, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(0, 1, STATUS, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(0, 2, STATUS + 8, 3, VIRTQ_DESC_F_WRITE, 0);
	publish(0, 0);
	notify(&p.vdev, 0);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(used_elem(0, 0).len, 4);
	CHECK_EQ(ram[STATUS], 0);
	CHECK_EQ(ram[STATUS + 1], 0xee);
	CHECK_EQ(ram[STATUS + 8], 0);
	CHECK_EQ(ram[STATUS + 10], 0);
	CHECK_EQ(ram[STATUS + 11], 0xee);
	teardown(&p);
}

TEST(parser_classifies_chains)
{
	mem_setup();
	struct virtq_chain c = { 0 };
	struct pmem_req r;
	uint32_t zero = 0, seven = 7;
	uint8_t st[8];
	c.iov[0] = (struct iovec){ &zero, 4 };
	c.iov[1] = (struct iovec){ st, 4 };
	c.n_out = c.n_in = 1;
	c.out_len = c.in_len = 4;
	CHECK_EQ(virtio_pmem_parse(&c, &r), PMEM_REQ_FLUSH);
	CHECK_EQ(r.nstatus, 1);
	c.iov[0].iov_base = &seven;
	CHECK_EQ(virtio_pmem_parse(&c, &r), PMEM_REQ_BAD);
	c.n_out = 0;
	c.out_len = 0;
	c.iov[0] = c.iov[1];
	CHECK_EQ(virtio_pmem_parse(&c, &r), PMEM_REQ_BAD);
	c.n_in = 0;
	c.in_len = 0;
	CHECK_EQ(virtio_pmem_parse(&c, &r), PMEM_REQ_NO_STATUS);
	/* five 1-byte writable pieces with empty ones between: the first four bytes */
	c.n_in = 6;
	c.in_len = 5;
	for (int i = 0; i < 6; i++)
		c.iov[i] = (struct iovec){ st + i, i == 1 ? 0 : 1 };
	CHECK_EQ(virtio_pmem_parse(&c, &r), PMEM_REQ_BAD); /* no readable type */
	CHECK_EQ(r.nstatus, 4);
}

TEST(read_only_file_is_mapped_read_only)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 8192, true, NULL), 0);
	CHECK_EQ(p.st.read_only, 1);
	CHECK_EQ(p.map[100], (uint8_t)(100 * 7));
	send_req(&p, 0, 0, 4, 4, false, true);         /* a flush has nothing to do, and succeeds */
	CHECK_EQ(status_of(0), PMEM_STATUS_OK);
	teardown(&p);
	/* a read-only file cannot be mapped for writing */
	REQUIRE_EQ(make_file(4096), 0);
	chmod(file_path, 0444);
	struct pmem_config c = { .id = "ro", .path_on_host = file_path };
	char err[256] = "";
	uint64_t size;
	int fd = pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err));
	if (fd >= 0) /* root opens it anyway */
		close(fd);
	else
		CHECK_CONTAINS(err, "cannot be opened for writing");
	c.read_only = true;
	fd = pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK_EQ(size, 4096);
	if (fd >= 0)
		close(fd);
	unlink(file_path);
}

TEST(unusable_files_are_refused)
{
	char err[256];
	uint64_t size;
	struct pmem_config c = { .id = "x", .path_on_host = "/nonexistent/pmem.img" };
	CHECK(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "cannot be opened");
	REQUIRE_EQ(make_file(0), 0);
	c.path_on_host = file_path;
	CHECK_EQ(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "is empty");
	unlink(file_path);
	c.path_on_host = "/tmp";
	c.read_only = true;
	CHECK_EQ(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "directory");
	c.path_on_host = "/dev/null";
	CHECK_EQ(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "character device");
	/* a FIFO without a writer: refused at once, never waited on */
	char fifo[64];
	snprintf(fifo, sizeof(fifo), "/tmp/petrel-test-pmem-fifo-%d", (int)getpid());
	REQUIRE_EQ(mkfifo(fifo, 0600), 0);
	c.path_on_host = fifo;
	CHECK_EQ(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "FIFO");
	c.read_only = false;
	CHECK(pmem_open_file(vm_pmem_params(&c, &(struct virtio_pmem_params){ 0 }), &size, err, sizeof(err)) < 0);
	unlink(fifo);
}

TEST(rate_limiter_holds_flushes_back)
{
	struct virtio_pmem p;
	struct rate_limiter_config rl = { .present = true, .ops = { .present = true, .size = 1, .refill_time = 100000 } };
	REQUIRE_EQ(setup(&p, 4096, false, &rl), 0);
	send_req(&p, 0, 0, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 1);
	send_req(&p, 2, 0, 4, 4, false, true);          /* the bucket is empty: waits in the ring */
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(p.ctr.rate_limiter_throttled_events, 1);
	CHECK_EQ(p.ctr.flush_count, 1);
	/* PATCH /pmem turning the limit off (an ops bucket of size 0): the waiting request goes
	 * when the device looks again */
	struct rate_limiter_config none = { .present = true, .ops = { .present = true } };
	CHECK_EQ(virtio_pmem_update_limiter(&p, &none), 0);
	notify(&p.vdev, 0);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(status_of(2), PMEM_STATUS_OK);
	teardown(&p);
}

TEST(saved_state_must_match_the_file)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 3u << 20, false, NULL), 0);
	struct pmem_state st;
	char err[512] = "";
	virtio_pmem_stats(&p, &st, NULL);
	CHECK_EQ(virtio_pmem_check_state(&p, &st, err, sizeof(err)), 0);
	struct pmem_state other = st;
	other.file_size += 1;                         /* the file grew since the snapshot */
	CHECK_EQ(virtio_pmem_check_state(&p, &other, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "same file, unchanged in size");
	other = st;
	other.start += PMEM_GPA_ALIGN;
	CHECK_EQ(virtio_pmem_check_state(&p, &other, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "in the snapshot");
	teardown(&p);
}

static void check_fault(json_t *o, const char *word)
{
	CHECK_CONTAINS(json_string_value(json_object_get(o, "fault_message")), word);
	json_decref(o);
}

/* The requests on a controller whose "running VM" is just the device: PUT refused after the
 * start, PATCH changes the device's rate limiter, the metrics groups count what it did. */
TEST(api_on_a_running_device)
{
	struct virtio_pmem p;
	REQUIRE_EQ(setup(&p, 4096, false, NULL), 0);
	struct controller ctl;
	REQUIRE_EQ(ctl_init(&ctl, NULL), 0);
	json_t *o = NULL;
	/* before the start: the file is checked (a FIFO or a missing file is refused at once) */
	CHECK_EQ(api(&ctl, "PUT", "/pmem/pm0", "{\"id\": \"pm0\", \"path_on_host\": \"/nonexistent\"}", &o), 400);
	check_fault(o, "cannot be opened");
	char body[256];
	snprintf(body, sizeof(body), "{\"id\": \"pm0\", \"path_on_host\": \"%s\"}", file_path);
	CHECK_EQ(api(&ctl, "PUT", "/pmem/pm0", body, NULL), 204);
	CHECK_EQ(api(&ctl, "PATCH", "/pmem/pm0", "{\"id\": \"pm0\"}", &o), 400);
	check_fault(o, "not supported before starting the microVM");
	struct vm *vm = calloc(1, sizeof(*vm));
	REQUIRE(vm != NULL);
	REQUIRE(vm_devices_put(vm, DEV_PMEM, "pm0", &p, &p.vdev) != NULL);
	ctl.vm = vm;
	ctl.state = INSTANCE_RUNNING;

	CHECK_EQ(api(&ctl, "PUT", "/pmem/pm0", body, &o), 400);
	check_fault(o, "after starting the microVM");
	CHECK_EQ(api(&ctl, "PUT", "/pmem/pm0", "{\"id\": \"pm0\", \"path_on_host\": \"/nonexistent\"}", &o), 400);
	check_fault(o, "after starting the microVM");  /* the state is answered before the file */
	CHECK_EQ(api(&ctl, "PATCH", "/pmem/pm0", "{\"id\": \"pm0\", \"rate_limiter\": {\"ops\": {\"size\": 1, "
		     "\"refill_time\": 100000}}}", NULL), 204);
	CHECK(rate_limiter_active(&p.rl));
	CHECK_EQ(api(&ctl, "PATCH", "/pmem/nope", "{\"id\": \"nope\"}", &o), 400);
	check_fault(o, "No pmem device");
	CHECK_EQ(api(&ctl, "GET", "/vm/config", NULL, &o), 200);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(json_object_get(json_array_get(
		 json_object_get(o, "pmem"), 0), "rate_limiter"), "ops"), "size")), 1);
	json_decref(o);
	/* two flushes: the second waits for the ops bucket */
	send_req(&p, 0, 0, 4, 4, false, true);
	send_req(&p, 2, 0, 4, 4, false, true);
	CHECK_EQ(used_idx(0), 1);
	o = json_object();
	pthread_mutex_lock(&ctl.lock);
	CHECK_EQ(ctl_pmem_metrics_locked(&ctl, o), 0);
	pthread_mutex_unlock(&ctl.lock);
	json_t *g = json_object_get(o, "pmem_pm0");
	CHECK_EQ(json_integer_value(json_object_get(g, "flush_count")), 1);
	CHECK_EQ(json_integer_value(json_object_get(g, "rate_limiter_throttled_events")), 1);
	CHECK_EQ(json_integer_value(json_object_get(g, "activate_count")), 1);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(o, "pmem"), "queue_event_count")), 2);
	json_decref(o);

	ctl.vm = NULL;
	ctl.state = INSTANCE_NOT_STARTED;
	free(vm);
	ctl_free(&ctl);
	teardown(&p);
}

/* ---- configuration ---- */

static int parse(const char *text, struct pmem_config *c, char *err, size_t len)
{
	json_t *o = json_loads(text, 0, NULL);
	int r = pmem_config_from_json(o, NULL, c, err, len);
	json_decref(o);
	return r;
}

TEST(pmem_object_is_parsed_strictly)
{
	struct pmem_config c;
	char err[256] = "";
	REQUIRE_EQ(parse("{\"id\": \"p0\", \"path_on_host\": \"/x.img\", \"root_device\": true, \"read_only\": null, "
			 "\"rate_limiter\": {\"ops\": {\"size\": 5, \"refill_time\": 100}}}", &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.id, "p0");
	CHECK_STR_EQ(c.path_on_host, "/x.img");
	CHECK(c.root_device);
	CHECK(!c.read_only);
	CHECK(c.rate_limiter.present && c.rate_limiter.ops.size == 5);
	json_t *o = pmem_config_to_json(&c);
	char *text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	/* Firecracker's shape: both buckets, one_time_burst, null when absent */
	CHECK_STR_EQ(text, "{\"id\":\"p0\",\"path_on_host\":\"/x.img\",\"rate_limiter\":{\"bandwidth\":null,"
		     "\"ops\":{\"one_time_burst\":null,\"refill_time\":100,\"size\":5}},\"read_only\":false,"
		     "\"root_device\":true}");
	free(text);
	json_decref(o);
	pmem_config_free(&c);
	/* nulls mean "not given" */
	REQUIRE_EQ(parse("{\"id\": \"p0\", \"path_on_host\": \"/x\", \"root_device\": null, \"rate_limiter\": null}",
			 &c, err, sizeof(err)), 0);
	CHECK(!c.root_device && !c.rate_limiter.present);
	o = pmem_config_to_json(&c);
	CHECK(json_is_null(json_object_get(o, "rate_limiter")));
	json_decref(o);
	pmem_config_free(&c);
	CHECK(parse("{\"path_on_host\": \"/x\"}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "id: missing required field");
	CHECK(parse("{\"id\": \"p0\", \"path_on_host\": null}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "path_on_host: missing required field");
	CHECK(parse("{\"id\": \"p 0\", \"path_on_host\": \"/x\"}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "id:");
	CHECK(parse("{\"id\": \"p0\", \"path_on_host\": \"/x\", \"size\": 1}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "size: unknown field");
	CHECK(parse("{\"id\": \"p0\", \"path_on_host\": \"/x\", \"read_only\": \"yes\"}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "read_only: expected a boolean");
	CHECK(parse("[]", &c, err, sizeof(err)) < 0);
}

TEST(cli_form)
{
	struct pmem_config c;
	char err[256] = "";
	REQUIRE_EQ(pmem_config_from_cli("/img/root.ext4,ro,root,transport=mmio", 2, &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.id, "pmem2");
	CHECK_STR_EQ(c.path_on_host, "/img/root.ext4");
	CHECK(c.read_only && c.root_device);
	CHECK_EQ(c.transport, VIRTIO_TRANSPORT_MMIO);
	pmem_config_free(&c);
	REQUIRE_EQ(pmem_config_from_cli("/x,id=data", 0, &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.id, "data");
	pmem_config_free(&c);
	CHECK(pmem_config_from_cli("/x,ro=1", 0, &c, err, sizeof(err)) < 0);
	CHECK(pmem_config_from_cli("/x,bogus", 0, &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "unknown item 'bogus'");
	CHECK(pmem_config_from_cli("id=x", 0, &c, err, sizeof(err)) < 0);
	CHECK(pmem_config_from_cli("", 0, &c, err, sizeof(err)) < 0);
}

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"

TEST(config_section_and_one_root_device)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{" BOOT ", \"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\"}, "
					"{\"id\": \"b\", \"path_on_host\": \"/b\", \"root_device\": true, \"read_only\": true}]}",
					&c, err, sizeof(err)), 0);
	CHECK_EQ(c.npmem, 2);
	CHECK_EQ(pmem_root_index(&c), 1);
	char cmd[64];
	pmem_root_cmdline(&c, cmd, sizeof(cmd));
	CHECK_STR_EQ(cmd, " root=/dev/pmem1 ro");
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	/* GET /vm/config writes it back; it loads again */
	json_t *o = vm_config_to_json(&c);
	char *text = json_dumps(o, 0);
	struct vm_config back;
	vm_config_init(&back);
	CHECK_EQ(vm_config_parse_json(text, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.npmem, 2);
	CHECK_STR_EQ(back.pmem[1].path_on_host, "/b");
	CHECK(back.pmem[1].read_only);
	vm_config_free(&back);
	free(text);
	json_decref(o);
	/* a root drive next to a root pmem device: refused both ways */
	struct drive_config d = { .drive_id = strdup("rootfs"), .path_on_host = strdup("/r"), .is_root_device = true };
	CHECK_EQ(vm_config_add_drive(&c, &d, err, sizeof(err)), -EEXIST);
	CHECK_CONTAINS(err, "pmem device 'b' is already the root device");
	drive_config_free(&d);
	vm_config_free(&c);
	vm_config_init(&c);
	CHECK(vm_config_parse_json("{" BOOT ", \"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"/r\", "
				   "\"is_root_device\": true}], \"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\", "
				   "\"root_device\": true}]}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "drive 'r' is already the root device");
	CHECK(vm_config_parse_json("{" BOOT ", \"pmem\": [{\"id\": \"a\", \"path_on_host\": \"/a\"}, "
				   "{\"id\": \"a\", \"path_on_host\": \"/b\"}]}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "defined twice");
	CHECK(vm_config_parse_json("{" BOOT ", \"pmem\": {}}", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "pmem: expected an array");
	CHECK_EQ(c.npmem, 0);
	/* null and [] are "none" */
	CHECK_EQ(vm_config_parse_json("{" BOOT ", \"pmem\": null}", &c, err, sizeof(err)), 0);
	CHECK_EQ(vm_config_parse_json("{" BOOT ", \"pmem\": []}", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.npmem, 0);
	pmem_root_cmdline(&c, cmd, sizeof(cmd));
	CHECK_STR_EQ(cmd, "");
	vm_config_free(&c);
}

/* petrel's extensions (what a snapshot records beside Firecracker's document) carry each pmem
 * device's transport, so a restored VM puts it on the same one; an older snapshot without them
 * loads with the default. */
TEST(transport_in_the_extensions)
{
	struct vm_config c;
	char err[256] = "";
	vm_config_init(&c);
	struct pmem_config p;
	REQUIRE_EQ(pmem_config_from_cli("/a,transport=mmio", 0, &p, err, sizeof(err)), 0);
	REQUIRE_EQ(vm_config_add_pmem(&c, &p, err, sizeof(err)), 0);
	json_t *ext = vm_config_extensions_to_json(&c);
	REQUIRE(ext != NULL);
	c.pmem[0].transport = VIRTIO_TRANSPORT_DEFAULT;
	CHECK_EQ(vm_config_extensions_from_json(ext, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.pmem[0].transport, VIRTIO_TRANSPORT_MMIO);
	json_object_del(ext, "pmem");
	c.pmem[0].transport = VIRTIO_TRANSPORT_DEFAULT;
	CHECK_EQ(vm_config_extensions_from_json(ext, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.pmem[0].transport, VIRTIO_TRANSPORT_DEFAULT);
	json_object_set_new(ext, "pmem", json_pack("[{s:s},{s:s}]", "transport", "pci", "transport", "pci"));
	CHECK(vm_config_extensions_from_json(ext, &c, err, sizeof(err)) < 0);   /* one device, two entries */
	json_decref(ext);
	vm_config_free(&c);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
