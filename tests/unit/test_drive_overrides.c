/* drive_overrides (petrel's, in PUT /snapshot/load, /migration/receive, replication): a
 * drive's new image and, with "format", its format, applied to the snapshot's definition
 * without a VM (snapshot_config_from_buf over a state file whose definition names drives). */
#include "unit.h"

#include "api/core.h"
#include "block/disk.h"
#include "config/vm_config.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "util/log.h"

#include <jansson.h>

#define STATE PETREL_SRC_ROOT "/tests/fuzz/corpus/fuzz_snapshot/counter-1vcpu.state"

/* The corpus state (a 1-vCPU counter guest) with its definition naming two drives: rootfs
 * pinned raw, data probed. */
static uint8_t *state_with_drives(size_t *len)
{
	uint8_t *buf;
	size_t n;
	char err[256];
	if (snap_read_file(STATE, &buf, &n, err, sizeof(err)) < 0)
		return NULL;
	struct snap_reader r;
	if (snap_open(&r, buf, n, err, sizeof(err)) < 0) {
		free(buf);
		return NULL;
	}
	struct snap_writer w;
	snap_writer_init(&w);
	size_t cur = 0;
	struct snap_section s;
	while (snap_next(&r, &cur, &s) == 1) {
		if (s.id != SEC_CONF && s.id != SEC_EXTN) {
			snap_section(&w, s.id, s.instance, s.version, s.payload, s.len);
			continue;
		}
		json_t *o = json_loadb((const char *)s.payload, s.len, 0, NULL);
		if (s.id == SEC_CONF)
			json_object_set_new(o, "drives",
				json_pack("[{s:s,s:s,s:b,s:b,s:s},{s:s,s:s,s:b,s:b}]",
					  "drive_id", "rootfs", "path_on_host", "/base/root.raw", "is_root_device", 0,
					  "is_read_only", 0, "format", "raw",
					  "drive_id", "data", "path_on_host", "/base/data.img", "is_root_device", 0,
					  "is_read_only", 0));
		else
			json_object_set_new(o, "drives",
				json_pack("[{s:s,s:b,s:i},{s:s,s:b,s:i}]", "transport", "default", "direct", 0,
					  "poll_us", 0, "transport", "default", "direct", 0, "poll_us", 0));
		char *text = json_dumps(o, JSON_COMPACT);
		snap_section(&w, s.id, s.instance, s.version, text, strlen(text));
		free(text);
		json_decref(o);
	}
	free(buf);
	if (snap_finish(&w) < 0) {
		snap_writer_free(&w);
		return NULL;
	}
	*len = w.len;
	return w.buf; /* the writer's buffer is the caller's now */
}

static const struct drive_config *find(const struct vm_config *c, const char *id)
{
	for (unsigned i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].drive_id, id))
			return &c->drives[i];
	return NULL;
}

static int load(const char *body, struct vm_config *cfg, char *err, size_t errlen)
{
	size_t len = 0;
	uint8_t *st = state_with_drives(&len);
	if (!st)
		return -EIO;
	json_t *b = json_loads(body, 0, NULL);
	struct ctl_overrides ov = { 0 };
	int r = ctl_overrides_parse(b, &ov, err, errlen);
	if (r == 0) {
		struct snapshot_load_opts o = { 0 };
		ctl_overrides_apply(&ov, &o);
		vm_config_init(cfg);
		r = snapshot_config_from_buf(st, len, &o, cfg, err, errlen);
	}
	ctl_overrides_free(&ov);
	json_decref(b);
	free(st);
	return r;
}

TEST(the_definition_names_the_drives_as_written)
{
	struct vm_config c;
	char err[256] = "";
	REQUIRE_EQ(load("{}", &c, err, sizeof(err)), 0);
	REQUIRE(find(&c, "rootfs") && find(&c, "data"));
	CHECK_EQ(find(&c, "rootfs")->format, DISK_FORMAT_RAW);
	CHECK_EQ(find(&c, "data")->format, DISK_FORMAT_AUTO);
	vm_config_free(&c);
}

TEST(an_override_without_format_keeps_the_drives_format)
{
	struct vm_config c;
	char err[256] = "";
	REQUIRE_EQ(load("{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/c/rootfs.qcow2\"}]}",
			&c, err, sizeof(err)), 0);
	CHECK_STR_EQ(find(&c, "rootfs")->path_on_host, "/c/rootfs.qcow2");
	CHECK_EQ(find(&c, "rootfs")->format, DISK_FORMAT_RAW);
	CHECK_STR_EQ(find(&c, "data")->path_on_host, "/base/data.img");
	vm_config_free(&c);
}

TEST(an_override_with_format_pins_the_new_image)
{
	struct vm_config c;
	char err[256] = "";
	/* A clone's overlay over a drive the template pinned raw (petrel image deploy sends this). */
	REQUIRE_EQ(load("{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/c/rootfs.qcow2\","
			" \"format\": \"qcow2\"}, {\"drive_id\": \"data\", \"path_on_host\": \"/c/data.raw\","
			" \"format\": \"raw\"}]}", &c, err, sizeof(err)), 0);
	CHECK_EQ(find(&c, "rootfs")->format, DISK_FORMAT_QCOW2);
	CHECK_EQ(find(&c, "data")->format, DISK_FORMAT_RAW);
	vm_config_free(&c);
	/* auto: probe the new image, whatever the drive was pinned to */
	REQUIRE_EQ(load("{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/c/x\", \"format\": \"auto\"}]}",
			&c, err, sizeof(err)), 0);
	CHECK_EQ(find(&c, "rootfs")->format, DISK_FORMAT_AUTO);
	vm_config_free(&c);
}

TEST(bad_formats_are_refused_before_the_snapshot_is_read)
{
	static const char *const bodies[] = {
		"{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\", \"format\": \"vmdk\"}]}",
		"{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\", \"format\": \"\"}]}",
		"{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\", \"format\": 2}]}",
		"{\"drive_overrides\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\", \"fmt\": \"raw\"}]}",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *b = json_loads(bodies[i], 0, NULL);
		struct ctl_overrides ov = { 0 };
		char err[256] = "";
		CHECK(ctl_overrides_parse(b, &ov, err, sizeof(err)) < 0);
		CHECK_CONTAINS(err, "drive_overrides[]");
		ctl_overrides_free(&ov);
		json_decref(b);
	}
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
