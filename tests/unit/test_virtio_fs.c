/* Unit tests for the virtio-fs device (src/devices/virtio/virtio_fs*.c) without KVM: a driver
 * written here over memfd guest memory, the I/O thread running, and Debian's real virtiofsd
 * (qemu-system-common; as root) serving a temporary directory. FUSE requests go through the
 * rings to the back end and its answers and interrupts come back; the back end killed, the
 * requests fail with ENOTCONN answered by petrel, which keeps running; a new virtiofsd on the
 * same socket serves the device again (after a new FUSE_INIT, as a new mount sends). Also the
 * configuration space, the error reply's parsing of guest bytes, and back ends that are not
 * there or hang up during the handshake. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "virtiofsd.h"
#include "../fake_driver.h"
#include "devices/virtio/virtio_fs.h"
#include "memory/guest_mem.h"
#include "migration/migration.h"
#include "snapshot/snapshot.h"
#include "vm/vm_internal.h"
#include "util/log.h"
#include "util/io_thread.h"

#define MEM (4u << 20)
#define QSIZE 64
#define BUF 0x100000u       /* request buffers: readable at BUF, writable at BUF + 0x10000 */

static struct guest_mem mem;
static uint8_t *ram;
static int interrupts;

static void setup_mem(void)
{
	if (ram)
		return;
	int fd = memfd_create("test-virtio-fs", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, MEM) < 0)
		abort();
	ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		abort();
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = MEM, .hva = ram, .shm_fd = fd };
	mem.nregions = 1;
	mem.total = MEM;
	mem.shared = true;
	log_set_level(LOG_OFF);
}

static void tr_interrupt(void *opaque, int q)
{
	(void)opaque;
	(void)q;
	__atomic_add_fetch(&interrupts, 1, __ATOMIC_SEQ_CST);
}

static const struct virtio_transport_ops tr = { tr_interrupt };



/* ---- the driver: one request at a time on queue q, descriptors 0 (readable) and 1 (writable) ---- */

static uint16_t avail_idx[VIRTIO_MAX_QUEUES];

static uint16_t used_idx_of(unsigned q)
{
	uint16_t v;
	__atomic_load(&*(uint16_t *)(ram + fake_driver_desc(0x1000, q) + 0x2000 + 2), &v, __ATOMIC_ACQUIRE);
	return v;
}

/* Send a FUSE request (header + payload) on queue q; wait for its answer; the reply's error
 * (0 or -errno), or 1 on a timeout. */
static int fuse_call(struct virtio_fs *f, unsigned q, uint32_t opcode, uint64_t unique, uint64_t nodeid,
		     const void *arg, uint32_t arglen)
{
	uint8_t *in = ram + BUF, *out = ram + BUF + 0x10000;
	uint32_t len = FUSE_IN_HEADER_LEN + arglen;
	memset(in, 0, FUSE_IN_HEADER_LEN);
	memcpy(in, &len, 4);
	memcpy(in + 4, &opcode, 4);
	memcpy(in + 8, &unique, 8);
	memcpy(in + 16, &nodeid, 8);
	memcpy(in + FUSE_IN_HEADER_LEN, arg, arglen);
	memset(out, 0xee, 4096);
	uint64_t desc = fake_driver_desc(0x1000, q);
	struct virtq_desc d0 = { BUF, len, VIRTQ_DESC_F_NEXT, 1 }, d1 = { BUF + 0x10000, 4096, VIRTQ_DESC_F_WRITE, 0 };
	memcpy(ram + desc, &d0, 16);
	memcpy(ram + desc + 16, &d1, 16);
	uint16_t *avail = (uint16_t *)(ram + desc + 0x1000);
	uint16_t before = used_idx_of(q);
	avail[2 + avail_idx[q] % QSIZE] = 0;
	__atomic_store_n(&avail[1], ++avail_idx[q], __ATOMIC_RELEASE);
	virtio_queue_kick(&f->vdev, q);
	for (int i = 0; i < 500 && used_idx_of(q) == before; i++)
		usleep(10000);
	if (used_idx_of(q) == before)
		return 1;
	int32_t error;
	uint64_t u;
	memcpy(&error, out + 4, 4);
	memcpy(&u, out + 8, 8);
	return u == unique ? error : 2;
}

static int fuse_init(struct virtio_fs *f, uint64_t unique)
{
	uint32_t init_in[4] = { 7, 31, 0, 0 }; /* major, minor, max_readahead, flags */
	return fuse_call(f, 1, 26 /* FUSE_INIT */, unique, 0, init_in, sizeof(init_in));
}

static int lookup(struct virtio_fs *f, uint64_t unique, const char *name)
{
	return fuse_call(f, 1, 1 /* FUSE_LOOKUP */, unique, 1, name, (uint32_t)strlen(name) + 1);
}

static uint64_t stat_of(struct virtio_fs *f, uint64_t *what)
{
	pthread_mutex_lock(&f->vdev.lock);
	uint64_t v = *what;
	pthread_mutex_unlock(&f->vdev.lock);
	return v;
}

static bool wait_for(struct virtio_fs *f, uint64_t *what, uint64_t want, int ms)
{
	for (int i = 0; i < ms / 10 && stat_of(f, what) < want; i++)
		usleep(10000);
	return stat_of(f, what) >= want;
}

TEST(fuse_requests_through_virtiofsd_its_death_and_a_new_one)
{
	if (!have_virtiofsd())
		return;
	setup_mem();
	char dir[] = "/tmp/petrel-vfs-XXXXXX", sock[160], file[200], err[512];
	REQUIRE(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/vfs.sock", dir);
	snprintf(file, sizeof(file), "%s/hello.txt", dir);
	FILE *fp = fopen(file, "w");
	REQUIRE(fp);
	fputs("hello from the host\n", fp);
	fclose(fp);
	pid_t pid = start_virtiofsd(sock, dir);
	REQUIRE(pid > 0);

	struct io_thread io;
	REQUIRE_EQ(io_thread_init(&io), 0);
	REQUIRE_EQ(io_thread_start(&io, "test_io"), 0);
	struct virtio_fs *f = calloc(1, sizeof(*f));
	struct virtio_fs_params p = { "share", sock, "myfs", 1, QSIZE };
	int r = virtio_fs_create(f, &p, &mem, &io, err, sizeof(err));
	if (r)
		printf("%s\n", err);
	REQUIRE_EQ(r, 0);
	virtio_dev_set_transport(&f->vdev, &tr, NULL);
	CHECK_EQ(f->vdev.device_id, VIRTIO_ID_FS);
	CHECK_EQ(f->vdev.nqueues, 2);

	/* the configuration space: the tag (NUL-padded) and one request queue */
	uint8_t cfg[VIRTIO_FS_CONFIG_LEN];
	pthread_mutex_lock(&f->vdev.lock);
	virtio_config_access(&f->vdev, 0, cfg, sizeof(cfg), false);
	pthread_mutex_unlock(&f->vdev.lock);
	CHECK(!memcmp(cfg, "myfs\0\0\0", 8));
	uint32_t nrq;
	memcpy(&nrq, cfg + 36, 4);
	CHECK_EQ(nrq, 1);

	/* the driver starts it: the queues go to virtiofsd */
	pthread_mutex_lock(&f->vdev.lock);
	fake_driver_start(&f->vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2, 0x1000, QSIZE);
	bool handed = f->handed[0] && f->handed[1];
	pthread_mutex_unlock(&f->vdev.lock);
	CHECK(handed);
	CHECK_EQ(fuse_init(f, 1), 0);
	CHECK_EQ(lookup(f, 2, "hello.txt"), 0);
	CHECK_EQ(lookup(f, 3, "missing.txt"), -ENOENT);
	CHECK(__atomic_load_n(&interrupts, __ATOMIC_SEQ_CST) >= 3);
	CHECK(stat_of(f, &f->kicks) >= 3);
	CHECK_EQ(stat_of(f, &f->failed_requests), 0);

	/* the back end dies: petrel sees it, answers the guest itself, keeps going */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(wait_for(f, &f->disconnects, 1, 5000));
	CHECK_EQ(lookup(f, 4, "hello.txt"), -ENOTCONN);
	CHECK_EQ(lookup(f, 5, "hello.txt"), -ENOTCONN);
	CHECK_EQ(stat_of(f, &f->failed_requests), 2);

	/* a new back end on the socket: the queues go to it where petrel left them */
	pid = start_virtiofsd(sock, dir);
	REQUIRE(pid > 0);
	CHECK(wait_for(f, &f->reconnects, 1, 5000));
	/* a new FUSE session (what a new mount of the tag sends), then it serves */
	CHECK_EQ(fuse_init(f, 6), 0);
	CHECK_EQ(lookup(f, 7, "hello.txt"), 0);
	CHECK_EQ(stat_of(f, &f->failed_requests), 2);

	/* the driver resets the device: the back end gives the queues back (GET_VRING_BASE) */
	pthread_mutex_lock(&f->vdev.lock);
	virtio_set_status(&f->vdev, 0);
	CHECK(!f->handed[0] && !f->handed[1]);
	CHECK_EQ(f->vdev.st.status, 0);
	pthread_mutex_unlock(&f->vdev.lock);

	io_thread_stop(&io);
	virtio_dev_destroy(&f->vdev);
	io_thread_destroy(&io);
	free(f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(file);
	unlink(sock);
	rmdir(dir);
}

/* A back end that accepts and hangs up at once, one that answers the handshake with garbage,
 * and no back end at all: the device is not created, with why. */
static void *hang_up(void *arg)
{
	int lfd = *(int *)arg;
	int c = accept(lfd, NULL, NULL);
	if (c >= 0) {
		char buf[64];
		/* half of a reply to SET_OWNER's successor, GET_FEATURES: then garbage */
		if (read(c, buf, sizeof(buf)) > 0) {
			static const uint8_t junk[] = { 1, 0, 0, 0, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
			if (write(c, junk, sizeof(junk)) < 0)
				(void)0;
		}
		usleep(100000);
		close(c);
	}
	return NULL;
}

TEST(back_ends_that_lie_or_are_not_there)
{
	setup_mem();
	char err[512];
	struct virtio_fs *f = calloc(1, sizeof(*f));
	struct virtio_fs_params p = { "share", "/tmp/petrel-no-such-socket", "myfs", 1, QSIZE };
	CHECK(virtio_fs_create(f, &p, &mem, NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "cannot connect");

	char path[] = "/tmp/petrel-vfs-liar-XXXXXX";
	REQUIRE(mkdtemp(path));
	char sock[64];
	snprintf(sock, sizeof(sock), "%.40s/s", path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	REQUIRE_EQ(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	REQUIRE_EQ(listen(lfd, 1), 0);
	pthread_t t;
	pthread_create(&t, NULL, hang_up, &lfd);
	p.socket_path = sock;
	CHECK(virtio_fs_create(f, &p, &mem, NULL, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "virtio-fs 'share': ");
	CHECK_CONTAINS(err, "GET_FEATURES");
	pthread_join(t, NULL);
	close(lfd);
	unlink(sock);
	rmdir(path);

	/* bad parameters, and memory a back end could not map */
	struct virtio_fs_params bad = { "share", sock, "", 1, QSIZE };
	CHECK_EQ(virtio_fs_create(f, &bad, &mem, NULL, err, sizeof(err)), -EINVAL);
	bad.tag = "0123456789012345678901234567890123456"; /* 37 bytes */
	CHECK_EQ(virtio_fs_create(f, &bad, &mem, NULL, err, sizeof(err)), -EINVAL);
	struct guest_mem private_mem = mem;
	private_mem.shared = false;
	CHECK_EQ(virtio_fs_create(f, &p, &private_mem, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not shared");
	free(f);
}

TEST(error_replies_from_guest_bytes)
{
	uint8_t in[64] = { 0 }, out[FUSE_OUT_HEADER_LEN];
	uint32_t opcode = 1;
	uint64_t unique = 0x1122334455667788ull;
	memcpy(in + 4, &opcode, 4);
	memcpy(in + 8, &unique, 8);
	CHECK_EQ(virtio_fs_error_reply(in, FUSE_IN_HEADER_LEN, ENOTCONN, out), FUSE_OUT_HEADER_LEN);
	uint32_t len;
	int32_t e;
	uint64_t u;
	memcpy(&len, out, 4);
	memcpy(&e, out + 4, 4);
	memcpy(&u, out + 8, 8);
	CHECK_EQ(len, 16);
	CHECK_EQ(e, -ENOTCONN);
	CHECK_EQ_HEX(u, unique);
	/* a short header, and FORGET / BATCH_FORGET (no reply): nothing */
	CHECK_EQ(virtio_fs_error_reply(in, FUSE_IN_HEADER_LEN - 1, ENOTCONN, out), 0);
	opcode = 2;
	memcpy(in + 4, &opcode, 4);
	CHECK_EQ(virtio_fs_error_reply(in, sizeof(in), ENOTCONN, out), 0);
	opcode = 42;
	memcpy(in + 4, &opcode, 4);
	CHECK_EQ(virtio_fs_error_reply(in, sizeof(in), ENOTCONN, out), 0);
}

/* The back end's state is not petrel's: a snapshot and a migration of a VM with the device are
 * refused, before anything is paused or written, with why. */
TEST(snapshot_and_migration_refused)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct virtio_fs *f = calloc(1, sizeof(*f));
	REQUIRE(vm && f);
	snprintf(f->id, sizeof(f->id), "share");
	REQUIRE(vm_devices_put(vm, DEV_FS, "share", f, NULL) != NULL); /* never created: no virtio core */
	char err[512] = "";
	struct snapshot_create_opts so = { .state_path = "/tmp/petrel-vfs-never.state", .mem_path = "/tmp/petrel-vfs-never.mem" };
	CHECK_EQ(snapshot_create(vm, &so, err, sizeof(err)), -ENOTSUP);
	CHECK_CONTAINS(err, "a snapshot of a VM with a virtio-fs device ('share') is not supported");
	CHECK(access(so.state_path, F_OK) != 0);
	struct mig_send_opts mo = { .url = "unix:/tmp/petrel-vfs-never.sock" };
	struct migration *m = NULL;
	CHECK_EQ(migration_send_start(vm, &mo, NULL, NULL, &m, err, sizeof(err)), -ENOTSUP);
	CHECK_CONTAINS(err, "migration of a VM with a virtio-fs device");
	CHECK(m == NULL);
	free(f);
	free(vm);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
