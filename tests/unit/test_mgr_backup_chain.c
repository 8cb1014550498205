/* petreld's backup chains without a worker (src/manager/backup_chain.c, backup_flatten.c): which
 * member a backup builds on and why it is full, the backing names asked for, the chain linked
 * into a jail, meta.json's chain fields, the backup verb's body; and a chain of qcow2 members
 * flattened back into the disk. */
#include "unit.h"
#include "block/disk.h"
#include "block/qcow2.h"
#include "manager/backup_chain.h"
#include "manager/backup_flatten.h"
#include "manager/backup_verify.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void rm_rf(const char *p)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", p);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/petrel-chain-XXXXXX");
	if (!mkdtemp(root))
		abort();
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* A member NAME of created, chain_id, parent ("" none) with drive "data"'s file. */
static void member(const char *name, int created, const char *chain, const char *parent, const char *file)
{
	char dir[256], path[320], meta[1024];
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	write_file(path, "x");
	snprintf(meta, sizeof(meta),
		 "{\"name\": \"%s\", \"created\": %d, \"chain_id\": \"%s\"%s%s%s, \"disks\": [{\"drive_id\": \"data\", "
		 "\"file\": \"%s\"}]}",
		 name, created, chain, parent[0] ? ", \"parent\": \"" : "", parent, parent[0] ? "\"" : "", file);
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	write_file(path, meta);
}

static json_t *drives(void)
{
	return json_loads("[{\"drive_id\": \"data\"}]", 0, NULL);
}

TEST(the_first_member_is_full_then_incrementals_on_the_newest)
{
	setup();
	struct vmbackup_mode m = { .incremental = true, .key = "job:n" };
	struct backup_plan p;
	json_t *d = drives();
	backup_chain_plan(root, "n-1", d, &m, &p);
	CHECK(!p.incremental);
	CHECK_STR_EQ(p.why, "the chain has no member yet");
	CHECK_STR_EQ(p.chain_id, "job:n:n-1");
	backup_plan_free(&p);
	member("n-1", 10, "job:n:n-1", "", "data.img");
	member("n-2", 20, "job:n:n-1", "n-1", "data.qcow2");
	member("other", 30, "job:m:other", "", "data.img");   /* another job's: not this chain's */
	backup_chain_plan(root, "n-3", d, &m, &p);
	CHECK(p.incremental);
	CHECK_STR_EQ(p.why, "");
	CHECK_STR_EQ(p.chain_id, "job:n:n-1");
	CHECK_STR_EQ(p.prev, "n-2");
	CHECK_STR_EQ(json_string_value(json_object_get(p.backing, "data")), "../n-2/data.qcow2");
	REQUIRE_EQ(p.nlinks, 2);
	CHECK_STR_EQ(p.links[0], "n-2");
	CHECK_STR_EQ(p.links[1], "n-1");
	/* linked into a jail's directory as the worker resolves the names */
	char inside[128], at[256];
	snprintf(inside, sizeof(inside), "%s/jail", root);
	mkdir(inside, 0700);
	char err[256] = "";
	CHECK_EQ(backup_chain_link(root, &p, inside, getuid(), getgid(), err, sizeof(err)), 0);
	snprintf(at, sizeof(at), "%s/n-2/data.qcow2", inside);
	CHECK_EQ(access(at, R_OK), 0);
	snprintf(at, sizeof(at), "%s/n-1/data.img", inside);
	CHECK_EQ(access(at, R_OK), 0);
	backup_plan_free(&p);
	/* full-every 2: the chain has two members */
	m.full_every = 2;
	backup_chain_plan(root, "n-3", d, &m, &p);
	CHECK(!p.incremental);
	CHECK_CONTAINS(p.why, "full-every");
	CHECK_STR_EQ(p.chain_id, "job:n:n-3");
	backup_plan_free(&p);
	/* a full member asked for: no why */
	m = (struct vmbackup_mode){ .incremental = false, .key = "job:n" };
	backup_chain_plan(root, "n-3", d, &m, &p);
	CHECK(!p.incremental);
	CHECK_STR_EQ(p.why, "");
	backup_plan_free(&p);
	json_decref(d);
	rm_rf(root);
}

TEST(a_missing_member_or_drive_or_a_long_chain_means_full)
{
	setup();
	struct vmbackup_mode m = { .incremental = true, .key = "api" };
	struct backup_plan p;
	json_t *d = drives();
	member("a", 1, "api:a", "", "data.img");
	member("c", 3, "api:a", "b", "data.qcow2");   /* b is gone */
	backup_chain_plan(root, "d", d, &m, &p);
	CHECK(!p.incremental);
	CHECK_STR_EQ(p.why, "member 'b' of the chain is missing");
	backup_plan_free(&p);
	member("b", 2, "api:a", "a", "data.qcow2");
	json_t *two = json_loads("[{\"drive_id\": \"data\"}, {\"drive_id\": \"new\"}]", 0, NULL);
	backup_chain_plan(root, "d", two, &m, &p);
	CHECK(!p.incremental);
	CHECK_STR_EQ(p.why, "drive new has no member in backup 'c'");
	backup_plan_free(&p);
	json_decref(two);
	char name[16], parent[16];
	for (int i = 0; i < BACKUP_LINK_MAX; i++) {
		snprintf(name, sizeof(name), "l%02d", i);
		snprintf(parent, sizeof(parent), i ? "l%02d" : "c", i - 1);
		member(name, 10 + i, "api:a", parent, "data.qcow2");
	}
	backup_chain_plan(root, "d", d, &m, &p);
	CHECK(!p.incremental);
	CHECK_CONTAINS(p.why, "the most a disk's backing chain opens");
	backup_plan_free(&p);
	json_decref(d);
	rm_rf(root);
}

TEST(meta_gets_the_chain_fields_as_the_worker_answered)
{
	struct backup_plan p = { .incremental = true, .chain_id = "job:n:n-1", .prev = "n-2" };
	json_t *meta = json_object();
	json_t *answer = json_loads("{\"mode\": \"full\", \"why\": \"the backup bitmap is stale: x\", \"disks\": "
				    "[{\"drive_id\": \"data\", \"mode\": \"full\", \"file\": \"data.img\"}]}", 0, NULL);
	backup_chain_meta(meta, &p, answer);
	CHECK_STR_EQ(json_string_value(json_object_get(meta, "mode")), "full");
	CHECK_STR_EQ(json_string_value(json_object_get(meta, "why")), "the backup bitmap is stale: x");
	CHECK_STR_EQ(json_string_value(json_object_get(meta, "chain_id")), "job:n:n-1");
	CHECK_NULL(json_object_get(meta, "parent"));   /* no disk built on it */
	CHECK_EQ(json_array_size(json_object_get(meta, "disks")), 1);
	json_decref(answer);
	json_decref(meta);
	meta = json_object();
	answer = json_loads("{\"mode\": \"incremental\", \"disks\": [{\"drive_id\": \"data\", \"mode\": \"incremental\", "
			    "\"file\": \"data.qcow2\"}]}", 0, NULL);
	backup_chain_meta(meta, &p, answer);
	CHECK_STR_EQ(json_string_value(json_object_get(meta, "mode")), "incremental");
	CHECK_STR_EQ(json_string_value(json_object_get(meta, "parent")), "n-2");
	CHECK_NULL(json_object_get(meta, "why"));
	json_decref(answer);
	json_decref(meta);
}

/* The checksums in meta.json: a disk member's from the worker's answer when well-formed (it was
 * computed as the member was written), read from the file otherwise; the rest always read. */
TEST(checksums_take_the_workers_well_formed_ones_and_read_the_rest)
{
	static const char sum_x[] = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"; /* "x" */
	static const char given[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	setup();
	member("sums", 1, "c", "", "data.qcow2");
	char dir[128], path[192];
	snprintf(dir, sizeof(dir), "%s/sums", root);
	snprintf(path, sizeof(path), "%s/vm.state", dir);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/data.img", dir);
	write_file(path, "x");
	/* data.qcow2's given; data.img's in upper case (not the form petrel writes) and vm.state's
	 * absent: both read */
	char ans[512];
	snprintf(ans, sizeof(ans), "[{\"file\": \"data.qcow2\", \"sha256\": \"%s\"}, {\"file\": \"data.img\", "
		 "\"sha256\": \"2D711642B726B04401627CA9FBAC32F5C8530FB1903CC4DB02258717921A4881\"}, {\"file\": 7}]", given);
	json_t *disks = json_loads(ans, 0, NULL), *sums = NULL;
	char err[256];
	CHECK_EQ(backup_checksums(dir, disks, &sums, err, sizeof(err)), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(sums, "data.qcow2")), given);
	CHECK_STR_EQ(json_string_value(json_object_get(sums, "data.img")), sum_x);
	CHECK_STR_EQ(json_string_value(json_object_get(sums, "vm.state")), sum_x);
	CHECK_NULL(json_object_get(sums, "meta.json"));
	json_decref(sums);
	/* no answer: every file read */
	CHECK_EQ(backup_checksums(dir, NULL, &sums, err, sizeof(err)), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(sums, "data.qcow2")), sum_x);
	json_decref(sums);
	json_decref(disks);
	rm_rf(root);
}

TEST(the_backup_verbs_body)
{
	char name[VM_NAME_MAX + 1], cons[12], err[256];
	bool inc;
	const char *ok = "{\"name\": \"b1\", \"mode\": \"incremental\", \"consistency\": \"crash\"}";
	CHECK_EQ(vmbackup_body_parse(ok, strlen(ok), name, cons, &inc, err, sizeof(err)), 0);
	CHECK(inc);
	CHECK_STR_EQ(name, "b1");
	CHECK_STR_EQ(cons, "crash");
	const char *plain = "{\"name\": \"b2\"}";
	CHECK_EQ(vmbackup_body_parse(plain, strlen(plain), name, cons, &inc, err, sizeof(err)), 0);
	CHECK(!inc);
	const char *bad[] = { "{\"name\": \"b\", \"mode\": \"diff\"}", "{\"name\": \"b\", \"mode\": 3}",
			      "{\"mode\": \"full\"}", "{\"name\": \"b\", \"x\": 1}", "nope", "[]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(vmbackup_body_parse(bad[i], strlen(bad[i]), name, cons, &inc, err, sizeof(err)) < 0);
}

/* Write len bytes of value at off of the image at path (qcow2 or raw). */
static void put(const char *path, enum disk_format fmt, uint64_t off, uint8_t value, size_t len)
{
	struct disk d;
	struct disk_options o = { .format = fmt };
	if (disk_open(&d, path, &o) < 0)
		abort();
	uint8_t *b = malloc(len);
	memset(b, value, len);
	struct iovec iov = { b, len };
	if (disk_sync(&d, RAW_WRITE, off, &iov, 1) != (int64_t)len || disk_sync(&d, RAW_FLUSH, 0, NULL, 0) < 0)
		abort();
	free(b);
	disk_close(&d);
}

TEST(a_chain_flattens_into_the_disk_it_stands_for)
{
	setup();
	char full[128], inc1[128], inc2[128], out[128], err[256] = "";
	snprintf(full, sizeof(full), "%s/full/data.img", root);
	snprintf(inc1, sizeof(inc1), "%s/inc1/data.qcow2", root);
	snprintf(inc2, sizeof(inc2), "%s/inc2/data.qcow2", root);
	snprintf(out, sizeof(out), "%s/out.img", root);
	char d[160];
	snprintf(d, sizeof(d), "%s/full", root), mkdir(d, 0700);
	snprintf(d, sizeof(d), "%s/inc1", root), mkdir(d, 0700);
	snprintf(d, sizeof(d), "%s/inc2", root), mkdir(d, 0700);
	const uint64_t size = (4u << 20) + 13;   /* a raw disk with bytes past its last sector */
	int fd = open(full, O_WRONLY | O_CREAT, 0600);
	REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	close(fd);
	put(full, DISK_FORMAT_RAW, 0, 0x11, 1 << 20);
	put(full, DISK_FORMAT_RAW, size - 13, 0x22, 13);
	struct qcow2_create_opts c1 = { .backing = "../full/data.img", .size = size & ~511ull };
	REQUIRE_EQ(qcow2_create(inc1, &c1, err, sizeof(err)), 0);
	put(inc1, DISK_FORMAT_QCOW2, 65536, 0x33, 65536);
	struct qcow2_create_opts c2 = { .backing = "../inc1/data.qcow2", .size = size & ~511ull };
	REQUIRE_EQ(qcow2_create(inc2, &c2, err, sizeof(err)), 0);
	put(inc2, DISK_FORMAT_QCOW2, 2 << 20, 0x44, 65536);
	REQUIRE_EQ(backup_flatten(inc2, out, err, sizeof(err)), 0);
	struct stat st;
	REQUIRE_EQ(stat(out, &st), 0);
	CHECK_EQ_HEX((uint64_t)st.st_size, size);
	uint8_t *b = malloc(size);
	fd = open(out, O_RDONLY);
	REQUIRE(fd >= 0 && read(fd, b, size) == (ssize_t)size);
	close(fd);
	for (uint64_t i = 0; i < size; i++) {
		uint8_t want = i < 65536 ? 0x11 : i < 131072 ? 0x33 : i < (1 << 20) ? 0x11
			       : i >= (2u << 20) && i < (2u << 20) + 65536 ? 0x44 : i >= size - 13 ? 0x22 : 0;
		if (b[i] != want) {
			CHECK_EQ_HEX(i, (uint64_t)-1);
			break;
		}
	}
	/* the middle member: as it was then */
	REQUIRE_EQ(backup_flatten(inc1, out, err, sizeof(err)), 0);
	fd = open(out, O_RDONLY);
	REQUIRE(fd >= 0 && pread(fd, b, 65536, 2 << 20) == 65536);
	close(fd);
	CHECK(b[0] == 0 && b[65535] == 0);
	free(b);
	rm_rf(root);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
