/* Snapshot files on disk, without KVM.
 *
 * PUT /snapshot/backup (src/snapshot/backup.c): the pause, the resume and the snapshot itself
 * are stood in for (--wrap), the disks are real files. A backup that fails halfway must leave
 * the previous backup in its directory as it was, not a new state file beside some old and
 * some new disks; a backup into the directory a VM was restored from (its disks are that
 * directory's DRIVE_ID.img) must not truncate the disk the VM runs on; a backup onto another
 * file system and of a disk on a block device copy the disks whole.
 *
 * Loading (src/snapshot/load.c): a snapshot written again at the same paths while a load reads
 * it must not give the load one snapshot's states and the other's memory. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "unit.h"
#include "snap_state_file.h"

#include "memory/guest_mem.h"
#include "memory/pager.h"
#include "memory/uffd.h"
#include "snapshot/chain.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "snapshot/state_file.h"
#include "vm/vm_internal.h"

static bool paused;
static unsigned resumes, snapshots;
static const char *snap_marker = "new";

int __wrap_vm_pause(struct vm *vm);
int __wrap_vm_pause(struct vm *vm)
{
	(void)vm;
	paused = true;
	return 0;
}

int __wrap_vm_resume(struct vm *vm);
int __wrap_vm_resume(struct vm *vm)
{
	(void)vm;
	paused = false;
	resumes++;
	return 0;
}

bool __wrap_vm_is_paused(struct vm *vm);
bool __wrap_vm_is_paused(struct vm *vm)
{
	(void)vm;
	return paused;
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void get_file(const char *path, char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* The snapshot: both files, memory first and state last, as save.c writes them. */
int __wrap_snapshot_create(struct vm *vm, const struct snapshot_create_opts *o, char *err, size_t errlen);
int __wrap_snapshot_create(struct vm *vm, const struct snapshot_create_opts *o, char *err, size_t errlen)
{
	(void)vm;
	(void)err;
	(void)errlen;
	snapshots++;
	put_file(o->mem_path, snap_marker);
	put_file(o->state_path, snap_marker);
	return 0;
}

static char dir[] = "/tmp/petrel-backup-XXXXXX";
static char bdir[256];

static void setup(void)
{
	if (!bdir[0]) {
		REQUIRE(mkdtemp(dir) != NULL);
		snprintf(bdir, sizeof(bdir), "%s/backup", dir);
	}
}

static void path_in(char *out, size_t n, const char *d, const char *name)
{
	int r = snprintf(out, n, "%s/%s", d, name);
	if (r < 0 || (size_t)r >= n)
		exit(2);
}

/* Files left in d other than the names given (NULL-terminated). */
static unsigned strays(const char *d, const char *const *names)
{
	DIR *dd = opendir(d);
	unsigned n = 0;
	struct dirent *e;
	while (dd && (e = readdir(dd))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		bool known = false;
		for (unsigned i = 0; names[i]; i++)
			known |= !strcmp(e->d_name, names[i]);
		if (!known) {
			printf("    stray file %s/%s\n", d, e->d_name);
			n++;
		}
	}
	if (dd)
		closedir(dd);
	return n;
}

static void vm_with_drives(struct vm *vm, struct vm_config *cfg, char *const *ids, char *const *paths, unsigned n)
{
	memset(vm, 0, sizeof(*vm));
	memset(cfg, 0, sizeof(*cfg));
	for (unsigned i = 0; i < n; i++) {
		cfg->drives[i].drive_id = ids[i];
		cfg->drives[i].path_on_host = paths[i];
	}
	cfg->ndrives = n;
	vm->cfg = cfg;
	paused = false;
	resumes = snapshots = 0;
}

/* The file name in directory d holds want. */
#define CHECK_FILE(d, name, want)                     \
	do {                                          \
		char p_[256], got_[64];               \
		path_in(p_, sizeof(p_), (d), (name)); \
		get_file(p_, got_, sizeof(got_));     \
		CHECK_STR_EQ(got_, (want));           \
	} while (0)

static const char *const backup_names[] = { "vm.state", "vm.mem", "a.img", "b.img", NULL };

/* A VM with drives a and b (files disk-a and disk-b holding AAAA and BBBB), backed up into
 * bdir with the snapshot "first". */
static void backed_up_two_disks(struct vm *vm, struct vm_config *cfg, char *a, char *b)
{
	setup();
	path_in(a, 256, dir, "disk-a");
	path_in(b, 256, dir, "disk-b");
	put_file(a, "AAAA");
	put_file(b, "BBBB");
	char *ids[] = { "a", "b" }, *paths[] = { a, b }, err[256] = "";
	vm_with_drives(vm, cfg, ids, paths, 2);
	snap_marker = "first";
	REQUIRE_EQ(snapshot_backup(vm, bdir, err, sizeof(err)), 0);
}

TEST(a_backup_of_two_disks_copies_both)
{
	static struct vm vm;
	static struct vm_config cfg;
	char a[256], b[256];
	backed_up_two_disks(&vm, &cfg, a, b);
	CHECK(!paused);
	CHECK_EQ(resumes, 1u);
	CHECK_FILE(bdir, "a.img", "AAAA");
	CHECK_FILE(bdir, "b.img", "BBBB");
	CHECK_FILE(bdir, "vm.state", "first");
	CHECK_EQ(strays(bdir, backup_names), 0u);
}

/* The second disk cannot be read: the backup fails, and the one before it is still whole. */
TEST(a_failed_backup_leaves_the_previous_one_as_it_was)
{
	static struct vm vm;
	static struct vm_config cfg;
	char a[256], b[256];
	backed_up_two_disks(&vm, &cfg, a, b);
	char *ids[] = { "a", "b" }, *paths[] = { a, b }, err[256] = "";
	/* then: the first disk changed, the second one went */
	put_file(a, "a changed since");
	path_in(b, sizeof(b), dir, "disk-b-gone");
	vm_with_drives(&vm, &cfg, ids, paths, 2);
	snap_marker = "second";
	CHECK(snapshot_backup(&vm, bdir, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "disk-b-gone");
	CHECK(!paused); /* resumed all the same */
	CHECK_FILE(bdir, "vm.state", "first");
	CHECK_FILE(bdir, "vm.mem", "first");
	CHECK_FILE(bdir, "a.img", "AAAA");
	CHECK_FILE(bdir, "b.img", "BBBB");
	CHECK_EQ(strays(bdir, backup_names), 0u);
}

/* A VM loaded from a backup runs on that directory's copies; backing it up into the same
 * directory again must not destroy the disk it runs on. */
TEST(a_backup_into_the_directory_of_the_vm_s_own_disk_leaves_the_disk_alone)
{
	setup();
	char a[256], got[64], err[256] = "";
	path_in(a, sizeof(a), bdir, "a.img");
	put_file(a, "the live disk");
	struct stat before, after;
	REQUIRE_EQ(stat(a, &before), 0);
	static struct vm vm;
	static struct vm_config cfg;
	char *ids[] = { "a" }, *paths[] = { a };
	vm_with_drives(&vm, &cfg, ids, paths, 1);
	snap_marker = "third";
	int r = snapshot_backup(&vm, bdir, err, sizeof(err));
	CHECK(!paused);
	get_file(a, got, sizeof(got));
	CHECK_STR_EQ(got, "the live disk");
	/* still the file the VM has open, not a copy renamed over it (the VM's writes would go
	 * to an unlinked file) */
	REQUIRE_EQ(stat(a, &after), 0);
	CHECK_EQ_HEX((uint64_t)after.st_ino, (uint64_t)before.st_ino);
	/* refused: there is no consistent copy to make of a file onto itself */
	CHECK(r < 0);
	printf("    %s\n", err);
}

/* A backup is for another disk: copy_file_range refuses to copy across file systems (EXDEV),
 * the copy must not. /dev/shm and the test's directory, where they are two file systems. */
TEST(a_backup_onto_another_file_system_copies_the_disks)
{
	setup();
	char other[] = "/dev/shm/petrel-backup-XXXXXX", a[256], p[256], got[64], err[256] = "";
	struct stat s1, s2;
	if (!mkdtemp(other)) {
		printf("    SKIP: no /dev/shm\n");
		return;
	}
	path_in(a, sizeof(a), dir, "disk-x");
	put_file(a, "on the first file system");
	if (stat(dir, &s1) < 0 || stat(other, &s2) < 0 || s1.st_dev == s2.st_dev) {
		printf("    SKIP: /dev/shm and %s are one file system\n", dir);
		rmdir(other);
		return;
	}
	static struct vm vm;
	static struct vm_config cfg;
	char *ids[] = { "x" }, *paths[] = { a };
	vm_with_drives(&vm, &cfg, ids, paths, 1);
	CHECK_EQ(snapshot_backup(&vm, other, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	path_in(p, sizeof(p), other, "x.img");
	get_file(p, got, sizeof(got));
	CHECK_STR_EQ(got, "on the first file system");
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", other);
	CHECK_EQ(system(cmd), 0);
}

/* A drive on a block device (an LVM volume, a partition): its size is not st_size (0), and
 * copy_file_range does not read block devices. Needs a loop device (root); skipped without. */
TEST(a_disk_on_a_block_device_is_copied_whole)
{
	setup();
	char img[256], p[256], err[256] = "", loop[64];
	path_in(img, sizeof(img), dir, "blockdev-backing");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	static uint8_t data[1 << 20];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	memset(data + 4096, 0, 8192); /* a run of zeroes in the middle */
	REQUIRE_EQ(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int n = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	int dev = -1;
	if (n >= 0) {
		snprintf(loop, sizeof(loop), "/dev/loop%d", n);
		dev = open(loop, O_RDWR | O_CLOEXEC);
	}
	struct loop_config lc = { .fd = (uint32_t)fd, .info = { .lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY } };
	if (dev < 0 || ioctl(dev, LOOP_CONFIGURE, &lc) < 0) {
		printf("    SKIP: no loop device (%s)\n", strerror(errno));
		if (dev >= 0)
			close(dev);
		if (ctl >= 0)
			close(ctl);
		close(fd);
		return;
	}
	close(ctl);
	close(fd);
	static struct vm vm;
	static struct vm_config cfg;
	char *ids[] = { "blk" }, *paths[] = { loop };
	vm_with_drives(&vm, &cfg, ids, paths, 1);
	char bd[300];
	snprintf(bd, sizeof(bd), "%s/from-blk", dir);
	CHECK_EQ(snapshot_backup(&vm, bd, err, sizeof(err)), 0);
	close(dev); /* the loop device goes (autoclear) */
	path_in(p, sizeof(p), bd, "blk.img");
	struct stat st;
	REQUIRE_EQ(stat(p, &st), 0);
	CHECK_EQ_HEX((uint64_t)st.st_size, (uint64_t)sizeof(data));
	static uint8_t back[1 << 20];
	int in = open(p, O_RDONLY);
	REQUIRE(in >= 0);
	CHECK_EQ(read(in, back, sizeof(back)), (ssize_t)sizeof(back));
	close(in);
	CHECK(memcmp(back, data, sizeof(data)) == 0);
}

/* backup_dir may be shared: a symbolic link at a copy's name (DRIVE_ID.img) is replaced by
 * the copy, never written through. */
TEST(a_link_at_a_copy_s_name_is_replaced_not_written_through)
{
	setup();
	char a[256], victim[256], bd[256], link[256], got[64], err[256] = "";
	path_in(a, sizeof(a), dir, "disk-l");
	path_in(victim, sizeof(victim), dir, "victim");
	path_in(bd, sizeof(bd), dir, "shared");
	path_in(link, sizeof(link), bd, "l.img");
	put_file(a, "disk bytes");
	put_file(victim, "precious");
	REQUIRE(mkdir(bd, 0700) == 0 || errno == EEXIST);
	unlink(link);
	REQUIRE_EQ(symlink(victim, link), 0);
	static struct vm vm;
	static struct vm_config cfg;
	char *ids[] = { "l" }, *paths[] = { a };
	vm_with_drives(&vm, &cfg, ids, paths, 1);
	CHECK_EQ(snapshot_backup(&vm, bd, err, sizeof(err)), 0);
	get_file(victim, got, sizeof(got));
	CHECK_STR_EQ(got, "precious");
	get_file(link, got, sizeof(got));
	CHECK_STR_EQ(got, "disk bytes");
	struct stat st;
	REQUIRE_EQ(lstat(link, &st), 0);
	CHECK(S_ISREG(st.st_mode));
}

/* ---- a Lazy restore's memory file ---- */

/* Once petrel's pager has the whole memory file in, the file is no longer used: it can be
 * deleted (docs/snapshots.md), and deleting it gives its space back. The pager's own mapping
 * of it held the space until the VM went away. Needs a userfaultfd (root, or
 * vm.unprivileged_userfaultfd); skipped without. */
TEST(a_lazy_restore_lets_go_of_its_memory_file_once_complete)
{
	setup();
	char path[256];
	path_in(path, sizeof(path), dir, "lazy.mem");
	const uint64_t pages = 512;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(ftruncate(fd, (off_t)(pages * 4096)), 0);
	uint8_t page[4096];
	for (uint64_t i = 0; i < pages; i += 2) { /* every other page data, the rest holes */
		memset(page, (int)(i + 1), sizeof(page));
		REQUIRE_EQ(pwrite(fd, page, sizeof(page), (off_t)(i * 4096)), (ssize_t)sizeof(page));
	}
	int probe = uffd_open();
	if (probe < 0) {
		printf("    SKIP: no userfaultfd here (%s)\n", strerror(-probe));
		close(fd);
		return;
	}
	close(probe);
	static struct guest_mem mem;
	memset(&mem, 0, sizeof(mem));
	mem.nregions = 1;
	mem.total = pages * 4096;
	mem.regions[0].size = mem.total;
	mem.regions[0].hva = mmap(NULL, mem.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	REQUIRE(mem.regions[0].hva != MAP_FAILED);
	char err[256] = "";
	REQUIRE_EQ(uffd_lazy_pager(&mem, fd, err, sizeof(err)), 0);
	close(fd);
	CHECK_EQ(mem.regions[0].hva[3 * 4096], 0);   /* a hole */
	CHECK_EQ(mem.regions[0].hva[4 * 4096], 5);   /* data, by a fault */
	struct pager *p = uffd_lazy_pager_of(&mem);
	REQUIRE(p != NULL);
	REQUIRE_EQ(pager_wait_complete(p, 10000), 0);
	unsigned bad = 0;
	for (uint64_t i = 0; i < pages; i++)
		bad += mem.regions[0].hva[i * 4096 + 100] != (i % 2 ? 0 : (uint8_t)(i + 1));
	CHECK_EQ(bad, 0u);
	unlink(path);
	/* no mapping of the file is left: its space went with its name */
	FILE *maps = fopen("/proc/self/maps", "r");
	REQUIRE(maps != NULL);
	char line[512];
	unsigned still = 0;
	while (fgets(line, sizeof(line), maps))
		still += strstr(line, path) != NULL;
	fclose(maps);
	CHECK_EQ(still, 0u);
	uffd_lazy_end(&mem);
	munmap(mem.regions[0].hva, mem.total);
}

/* ---- a snapshot replaced while it is loaded ---- */

#define LOAD_MIB 16

/* A snapshot as save.c writes one: the memory file (tagged with the id) renamed into place,
 * then the state file. */
static void write_snapshot(const char *state, const char *memf, uint8_t idb)
{
	static const char conf[] = "{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"},"
				   " \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 16}}";
	struct vm_config cfg;
	char err[256] = "", tmp[300];
	vm_config_init(&cfg);
	if (vm_config_parse_json(conf, &cfg, err, sizeof(err)) < 0) {
		printf("config: %s\n", err);
		exit(2);
	}
	uint8_t id[16];
	memset(id, idb, sizeof(id));
	snprintf(tmp, sizeof(tmp), "%s.tmp", memf);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)LOAD_MIB << 20) < 0 || snap_mem_commit(fd, tmp, memf, id, 0, err, sizeof(err)) < 0) {
		printf("memory file %s: %s\n", memf, err);
		exit(2);
	}
	write_state_file(state, memf, &cfg, id, 0, LOAD_MIB);
	vm_config_free(&cfg);
}

/* The other writer's moment: between the load's read of the state file and the chain's
 * (before the chain is resolved), or the chain's and the merge's (after). */
static const char *replace_state, *replace_mem;
static bool replace_after;

int __real_snap_chain_resolve(const char *state, const char *mem, struct snap_chain *c, char *err, size_t errlen);
int __wrap_snap_chain_resolve(const char *state, const char *mem, struct snap_chain *c, char *err, size_t errlen);
int __wrap_snap_chain_resolve(const char *state, const char *mem, struct snap_chain *c, char *err, size_t errlen)
{
	if (replace_state && !replace_after) {
		write_snapshot(replace_state, replace_mem, 0x77);
		replace_state = replace_mem = NULL;
	}
	int e = __real_snap_chain_resolve(state, mem, c, err, errlen);
	if (replace_state && replace_after) {
		write_snapshot(replace_state, replace_mem, 0x77);
		replace_state = replace_mem = NULL;
	}
	return e;
}

TEST(a_snapshot_replaced_during_its_load_is_not_loaded_half_and_half)
{
	setup();
	char state[256], memf[256], err[512] = "";
	path_in(state, sizeof(state), dir, "torn.state");
	path_in(memf, sizeof(memf), dir, "torn.mem");
	write_snapshot(state, memf, 0x11);
	uint8_t got[16];
	if (getxattr(memf, SNAP_XATTR, got, sizeof(got)) != (ssize_t)sizeof(got)) {
		printf("    SKIP: no user xattrs on %s: torn pairs are not detected there\n", dir);
		return;
	}
	struct snapshot_load_opts o = { .state_path = state, .mem_path = memf, .backend = SNAP_MEM_FILE };
	struct vm_config cfg;
	REQUIRE_EQ(snapshot_read_config(&o, &cfg, err, sizeof(err)), 0);
	static struct vm vm;
	replace_state = state;
	replace_mem = memf;
	int e = snapshot_load(&vm, &cfg, &o, STDOUT_FILENO, err, sizeof(err));
	vm_config_free(&cfg);
	printf("    %s\n", err);
	/* Without /dev/kvm every load fails where the machine is built; that is too late: the
	 * states read (snapshot 0x11's) and the memory about to be mapped (0x77's) must have been
	 * found to differ before. */
	CHECK(e < 0);
	CHECK(strstr(err, "cannot build the snapshot's machine") == NULL);
	CHECK_CONTAINS(err, "torn.state");
}

/* A snapshot named prefix.state / prefix.mem in the test directory (id byte idb), and the
 * names of its merge's output, prefix-merged.state / .mem. */
struct merge_paths {
	char state[256], memf[256], out_state[256], out_mem[256];
};

static void merge_snapshot(struct merge_paths *m, const char *prefix, uint8_t idb)
{
	setup();
	char name[64];
	snprintf(name, sizeof(name), "%s.state", prefix);
	path_in(m->state, sizeof(m->state), dir, name);
	snprintf(name, sizeof(name), "%s.mem", prefix);
	path_in(m->memf, sizeof(m->memf), dir, name);
	snprintf(name, sizeof(name), "%s-merged.state", prefix);
	path_in(m->out_state, sizeof(m->out_state), dir, name);
	snprintf(name, sizeof(name), "%s-merged.mem", prefix);
	path_in(m->out_mem, sizeof(m->out_mem), dir, name);
	write_snapshot(m->state, m->memf, idb);
}

/* petrel snapshot merge reads the newest state file twice as well: the merged snapshot must
 * not be one snapshot's states over the other one's memory. */
TEST(a_snapshot_replaced_during_its_merge_is_not_merged_half_and_half)
{
	static struct merge_paths m;
	char err[512] = "";
	merge_snapshot(&m, "m", 0x11);
	replace_state = m.state;
	replace_mem = m.memf;
	replace_after = true;
	int e = snapshot_merge(m.state, m.memf, m.out_state, m.out_mem, err, sizeof(err));
	replace_after = false;
	printf("    %s\n", err);
	CHECK(e < 0);
	CHECK(access(m.out_state, F_OK) < 0);
	unlink(m.out_state);
	unlink(m.out_mem);
}

/* A write may take fewer bytes than asked (a file system near full, a signal) and still
 * succeed: errno says nothing then. merge took such a write for a failure with whatever errno
 * held (or, with errno 0, for a success with the rest of the run never written). */
static bool short_write_armed;

ssize_t __real_pwrite64(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	if (short_write_armed && len > 4096) {
		short_write_armed = false;
		len /= 2;
	}
	return __real_pwrite64(fd, buf, len, off);
}

TEST(merge_goes_on_after_a_short_write)
{
	static struct merge_paths m;
	char err[512] = "";
	merge_snapshot(&m, "s", 0x22);
	static uint8_t data[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 251 + 1);
	int fd = open(m.memf, O_WRONLY);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	close(fd);
	short_write_armed = true;
	int e = snapshot_merge(m.state, m.memf, m.out_state, m.out_mem, err, sizeof(err));
	short_write_armed = false;
	CHECK_EQ(e, 0);
	CHECK_STR_EQ(err, "");
	int in = open(m.out_mem, O_RDONLY);
	REQUIRE(in >= 0);
	CHECK_EQ(pread(in, back, sizeof(back), 0), (ssize_t)sizeof(back));
	close(in);
	CHECK(memcmp(back, data, sizeof(data)) == 0);
	unlink(m.out_state);
	unlink(m.out_mem);
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	if (dir[sizeof(dir) - 7] != 'X') {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return r;
}
