/* The receiving side of a migration (src/migration/receive.c, disks.c, postcopy_dst.c) and of
 * replication (src/ha/standby.c) fed hostile or out-of-turn streams over a socket pair, on a
 * fake machine (guest memory, optionally one virtio-blk drive on a temporary raw image; states
 * "load" and vCPUs "start" without KVM). Each test is a stream a source must not be able to
 * use to write where it may not, or to leave a guest running where it must not. */
#include "unit.h"
#include "mig_defn.h"

#include "devices/virtio/blk.h"
#include "ha/ha_int.h"
#include "migration/migration_int.h"
#include "migration/postcopy.h"
#include "migration/url.h"
#include "migration/wire.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define PAGE 4096u
#define MEM (32u << 20)       /* the definition's memory */
#define DISK (1u << 20)       /* the fake drive's image */

/* ---- a stream, built message by message ---- */

struct stream {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct stream *s, const void *d, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->p = realloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, d, n);
	s->len += n;
}

static void msg(struct stream *s, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct mig_hdr h = { .type = type, .len = alen + blen };
	put(s, &h, sizeof(h));
	if (alen)
		put(s, a, alen);
	if (blen)
		put(s, b, blen);
}

static struct stream begin(void)
{
	struct stream s = { 0 };
	put(&s, mig_hello_defn, sizeof(mig_hello_defn));
	return s;
}

static void pages(struct stream *s, uint64_t gpa, uint8_t fill)
{
	static uint8_t data[PAGE];
	memset(data, fill, sizeof(data));
	struct mig_pages p = { .gpa = gpa, .npages = 1 };
	msg(s, MIG_PAGES, &p, sizeof(p), data, sizeof(data));
}

static void disk(struct stream *s, uint32_t flags, uint64_t off, uint64_t len, uint8_t fill)
{
	uint8_t *data = malloc(len ? len : 1);
	memset(data, fill, len);
	struct mig_disk d = { .drive = 0, .flags = flags, .offset = off, .len = flags ? 0 : len };
	msg(s, MIG_DISK, &d, sizeof(d), data, flags ? 0 : len);
	free(data);
}

static void checkpoint(struct stream *s, uint32_t type, uint64_t epoch)
{
	struct mig_ckpt ck = { .epoch = epoch, .generation = 1 };
	msg(s, type, &ck, sizeof(ck), NULL, 0);
}

/* ---- the peer: writes the stream, then reads what the receiver says until it closes ---- */

struct peer {
	int fd;
	struct stream out;
	pthread_t t;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	for (size_t off = 0; off < p->out.len;) {
		ssize_t n = send(p->fd, p->out.p + off, p->out.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(p->fd, SHUT_WR);
	char sink[4096];
	while (recv(p->fd, sink, sizeof(sink), 0) > 0)
		;
	return NULL;
}

/* The receiver's end of a socket pair whose other end sends s. */
static int peer_start(struct peer *p, struct stream s)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p->fd = sv[1];
	p->out = s;
	if (pthread_create(&p->t, NULL, peer_main, p) != 0)
		abort();
	return sv[0];
}

static void peer_end(struct peer *p, int fd)
{
	shutdown(fd, SHUT_RDWR);
	pthread_join(p->t, NULL);
	close(fd);
	close(p->fd);
	free(p->out.p);
}

/* ---- the fake machine ---- */

static char image[] = "/tmp/petrel-test-migstream-XXXXXX";
static bool with_drive;
static struct virtio_blk *blk;
static bool running;
static bool filling_at_start;       /* guest_mem_filling when the vCPUs started */
static int destroyed;

static int fake_build(struct vm *vm, struct vm_config *cfg, int console_fd)
{
	void *p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	memset(&vm->mem, 0, sizeof(vm->mem));
	vm->mem.regions[0] = (struct guest_region){ .gpa = 0, .size = MEM, .hva = p };
	vm->mem.nregions = 1;
	vm->mem.total = MEM;
	memset(&vm->devs, 0, sizeof(vm->devs));
	vm->stop_efd = -1;                  /* no run loop to tell */
	if (with_drive) {
		struct drive_config dc = { .drive_id = "d", .path_on_host = image, .format = DISK_FORMAT_RAW,
					   .cache_type = DRIVE_CACHE_WRITEBACK };
		blk = calloc(1, sizeof(*blk));
		if (virtio_blk_create(blk, &dc, 0, &vm->mem, NULL) < 0)
			return -EIO;
		vm->devs.virtio[0] = (struct vm_virtio){ .vdev = &blk->vdev, .dev = blk };
		vm->devs.nvirtio = 1;
	}
	return 0;
}

static int fake_load(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o, char *err,
		     size_t errlen)
{
	return 0;
}

static int fake_start(struct vm *vm)
{
	__atomic_store_n(&vm->first_run_ns, now_ns(), __ATOMIC_RELEASE);
	running = true;
	filling_at_start = guest_mem_filling(&vm->mem);
	return 0;
}

static void fake_destroy(struct vm *vm)
{
	if (blk) {
		virtio_dev_destroy(&blk->vdev);
		free(blk);
		blk = NULL;
	}
	munmap(vm->mem.regions[0].hva, vm->mem.regions[0].size);
	memset(&vm->mem, 0, sizeof(vm->mem));
	memset(&vm->devs, 0, sizeof(vm->devs));
	running = false;
	destroyed++;
}

static int no_postcopy(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
		       size_t len, struct postcopy_dst **out, char *err, size_t errlen)
{
	return -EOPNOTSUPP;
}

static const struct mig_receive_hooks hooks = {
	.build = fake_build, .postcopy = no_postcopy, .load = fake_load, .start = fake_start, .destroy = fake_destroy,
};

static struct vm vm;
static struct vm_config cfg;
static char err[512];

/* A destination with hooks h receives s: its result (err says why it failed). */
static int receive_with(struct stream s, const struct mig_receive_hooks *h)
{
	struct peer p;
	int fd = peer_start(&p, s);
	struct migration m = { .fd = -1, .lfd = -1, .cancel_efd = -1, .vm = &vm, .cfg = &cfg };
	pthread_mutex_init(&m.lock, NULL);
	vm_config_init(&cfg);
	err[0] = 0;
	destroyed = 0;
	int e = mig_receive_stream(&m, fd, h, err, sizeof(err));
	peer_end(&p, fd);
	pthread_mutex_destroy(&m.lock);
	return e;
}

static int receive(struct stream s) { return receive_with(s, &hooks); }

/* A standby follows s until it ends: its result; *state whether it holds a checkpoint. */
static int follow(struct stream s, bool *state)
{
	struct peer p;
	int fd = peer_start(&p, s);
	struct replication r = { .fd = -1, .lfd = -1, .cancel_efd = -1, .vm = &vm, .cfg = &cfg };
	pthread_mutex_init(&r.lock, NULL);
	r.st.role = REPL_STANDBY;
	r.so.failure_timeout_ms = 1000;
	vm_config_init(&cfg);
	err[0] = 0;
	struct repl_standby_run run;
	int e = repl_standby_stream(&r, fd, &hooks, &run, err, sizeof(err));
	*state = run.state != NULL;
	free(run.state);
	peer_end(&p, fd);
	pthread_mutex_destroy(&r.lock);
	return e;
}

static uint8_t byte_at(uint64_t gpa) { return vm.mem.regions[0].hva[gpa]; }

static void take_down(void)
{
	if (vm.mem.nregions)
		fake_destroy(&vm);
	vm_config_free(&cfg);
}

/* ---- the wire ---- */

static void on_signal(int sig) { (void)sig; }

struct waiter {
	int fd, result;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;
	char c;
	w->result = mig_recv_all(w->fd, &c, 1, 300);
	return NULL;
}

/* A silent peer is a timeout even when a signal interrupts the wait for it (without the
 * limit, a read waits for ever on a peer that neither sends nor closes). */
TEST(a_signal_does_not_lift_the_receive_timeout)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGUSR1, &sa, NULL);
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct waiter w = { .fd = sv[0], .result = 1 };
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, wait_main, &w) == 0);
	usleep(50000);
	pthread_kill(t, SIGUSR1);
	usleep(1000000);                    /* well past the 300 ms limit */
	shutdown(sv[1], SHUT_RDWR);         /* ends a wait that ignored it */
	pthread_join(t, NULL);
	CHECK_EQ(w.result, -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

/* A FAIL is said on the way out, by a side that gives up: the source says it with its guest
 * still paused from the switch and resumes it only then. A peer that stopped reading must not
 * hold it there for another send timeout. */
TEST(a_fail_to_a_peer_that_stopped_reading_does_not_wait)
{
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	mig_send_timeout(sv[0], 2000);
	int fl = fcntl(sv[0], F_GETFL);
	fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
	static uint8_t junk[65536];
	while (send(sv[0], junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;                           /* the peer's buffer is full: it reads no more */
	fcntl(sv[0], F_SETFL, fl);
	uint64_t t0 = now_ns();
	mig_send_fail(sv[0], "the destination answered out of turn");
	CHECK((now_ns() - t0) / 1000000 < 500);
	close(sv[0]);
	close(sv[1]);
}

/* ---- migration ---- */

TEST(a_plain_stream_runs_the_guest)
{
	struct stream s = begin();
	pages(&s, 0x1000, 0xaa);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	uint64_t down = 1000000;
	msg(&s, MIG_DONE, &down, sizeof(down), NULL, 0);
	CHECK_EQ(receive(s), 0);
	CHECK(running);
	REQUIRE(vm.mem.nregions == 1);
	CHECK_EQ(byte_at(0x1000), 0xaa);
	take_down();
}

/* A definition this host cannot build (here: no KVM, or a drive that is not there) is
 * refused, and the half-built machine is taken down: a destination refusing migration after
 * migration must not pile up KVM, memory and device fds. */
TEST(a_machine_that_cannot_be_built_leaks_nothing)
{
	int before = -1;
	for (int i = 0; i < 4; i++) {
		int e = receive_with(begin(), &mig_receive_default);
		vm_config_free(&cfg);
		CHECK(e < 0);
		if (i == 1) /* after a first round: lazily opened things (the log, libraries) are open */
			before = unit_open_fds();
		if (i == 3)
			CHECK_EQ(unit_open_fds(), before);
	}
}

/* The source gave up after the switch (it heard no GO in time, or a GO out of turn) and said
 * so: its guest runs there again, so it must not run here too. */
TEST(the_sources_fail_after_the_state_stops_the_guest_here)
{
	struct stream s = begin();
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	msg(&s, MIG_FAIL, "waiting for the destination: timed out", 39, NULL, 0);
	int e = receive(s);
	CHECK(e < 0);
	CHECK(!running);
	CHECK_EQ(destroyed, 1);
	CHECK_CONTAINS(err, "timed out");
	take_down();
}

/* Post-copy: the source's END says every page it had to send went out. One it never sent
 * would read as zero here (the stale copy was dropped): the guest's memory, silently wrong. */
TEST(postcopy_end_before_every_needed_page_is_refused)
{
	struct mig_receive_hooks pc = hooks;
	pc.postcopy = postcopy_dst_start;
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);
	uint64_t *bm = calloc(MEM / PAGE / 64, 8);
	bm[0] = 1u << 1 | 1u << 2;          /* pages 1 and 2 still to fetch */
	msg(&s, MIG_POSTCOPY, bm, MEM / PAGE / 8, NULL, 0);
	free(bm);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	pages(&s, 0x2000, 0x22);            /* page 2 comes, page 1 never does */
	msg(&s, MIG_END, NULL, 0, NULL, 0);
	int e = receive_with(s, &pc);
	if (e < 0 && strstr(err, "userfaultfd")) {
		printf("  (no userfaultfd here: %s)\n", err);
		return;
	}
	CHECK(e < 0);
	CHECK_EQ(destroyed, 1);
	CHECK_CONTAINS(err, "missing");
	take_down();
}

/* While post-copy fills memory, the balloon and virtio-mem must not drop pages (the fault
 * thread would spin on a dropped page it had installed, a page pushed later would come back):
 * memory counts as being filled from the start of the guest to the source's END. */
TEST(postcopy_memory_counts_as_filling_until_its_end)
{
	struct mig_receive_hooks pc = hooks;
	pc.postcopy = postcopy_dst_start;
	struct stream s = begin();
	uint64_t *bm = calloc(MEM / PAGE / 64, 8);
	bm[0] = 1u << 2;
	msg(&s, MIG_POSTCOPY, bm, MEM / PAGE / 8, NULL, 0);
	free(bm);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	pages(&s, 0x2000, 0x22);
	msg(&s, MIG_END, NULL, 0, NULL, 0);
	filling_at_start = false;
	int e = receive_with(s, &pc);
	if (e < 0 && strstr(err, "userfaultfd")) {
		printf("  (no userfaultfd here: %s)\n", err);
		return;
	}
	CHECK_EQ(e, 0);
	CHECK(filling_at_start);
	CHECK(!guest_mem_filling(&vm.mem));
	CHECK_EQ(byte_at(0x2000), 0x22);
	take_down();
}

/* ---- replication ---- */

/* Once the first checkpoint is in, memory changes only by whole checkpoints: a page run
 * between two of them would be in the state the standby runs if the primary died next. */
TEST(a_page_between_checkpoints_is_refused)
{
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);            /* the initial sync: straight into memory */
	checkpoint(&s, MIG_CKPT, 1);
	pages(&s, 0x2000, 0x22);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	checkpoint(&s, MIG_CEND, 1);
	pages(&s, 0x3000, 0x33);            /* outside any checkpoint */
	bool state;
	int e = follow(s, &state);
	REQUIRE(vm.mem.nregions == 1);
	CHECK(state);
	CHECK_EQ(byte_at(0x1000), 0x11);
	CHECK_EQ(byte_at(0x2000), 0x22);
	CHECK_EQ(byte_at(0x3000), 0);       /* not in any checkpoint */
	CHECK_EQ(e, -EPROTO);               /* a bad stream: no take-over with it */
	take_down();
}

TEST(a_checkpoint_s_pages_are_not_applied_before_its_end)
{
	struct stream s = begin();
	checkpoint(&s, MIG_CKPT, 1);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	checkpoint(&s, MIG_CEND, 1);
	checkpoint(&s, MIG_CKPT, 2);
	pages(&s, 0x2000, 0x22);
	msg(&s, MIG_STATE, "state", 5, NULL, 0); /* ... and the primary dies before CEND */
	bool state;
	int e = follow(s, &state);
	REQUIRE(vm.mem.nregions == 1);
	CHECK(state);
	CHECK_EQ(e, -ECONNRESET);           /* the primary died: take over from checkpoint 1 */
	CHECK_EQ(byte_at(0x2000), 0);
	take_down();
}

/* The primary says its interval first; a standby whose failure timeout would expire between
 * two healthy checkpoints refuses to start (a misconfiguration found at once, not a false
 * take-over later), and says what would do. */
static int follow_with_timing(uint32_t interval_ms, bool *state)
{
	struct stream s = begin();
	struct mig_repl_cfg c = { .interval_ms = interval_ms, .failure_timeout_ms = 1000 };
	msg(&s, MIG_RCFG, &c, sizeof(c), NULL, 0);
	pages(&s, 0x1000, 0x11);
	checkpoint(&s, MIG_CKPT, 1);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	checkpoint(&s, MIG_CEND, 1);
	return follow(s, state); /* failure_timeout_ms 1000 */
}

TEST(a_standby_timeout_shorter_than_the_interval_needs_is_refused)
{
	bool state;
	int e = follow_with_timing(600, &state);
	CHECK_EQ(e, -EINVAL);
	CHECK(!state);
	CHECK_CONTAINS(err, "failure_timeout_ms (1000)");
	CHECK_CONTAINS(err, "at least 1300 ms");
	take_down();
}

TEST(a_standby_timeout_that_fits_the_interval_is_taken)
{
	bool state;
	int e = follow_with_timing(50, &state);
	CHECK_EQ(e, -ECONNRESET); /* the stream ended after checkpoint 1: take over */
	CHECK(state);
	CHECK_EQ(byte_at(0x1000), 0x11);
	take_down();
}

TEST(a_timing_message_after_a_checkpoint_is_refused)
{
	struct stream s = begin();
	checkpoint(&s, MIG_CKPT, 1);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	checkpoint(&s, MIG_CEND, 1);
	struct mig_repl_cfg c = { .interval_ms = 50, .failure_timeout_ms = 1000 };
	msg(&s, MIG_RCFG, &c, sizeof(c), NULL, 0);
	bool state;
	CHECK_EQ(follow(s, &state), -EPROTO);
	take_down();
}

/* ---- disks ---- */

static void fresh_image(uint8_t fill)
{
	static bool made;
	if (!made) {
		int fd = mkstemp(image);
		if (fd < 0)
			abort();
		close(fd);
		made = true;
	}
	int fd = open(image, O_RDWR | O_TRUNC);
	static uint8_t buf[DISK];
	memset(buf, fill, sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		abort();
	close(fd);
}

static uint8_t image_byte(uint64_t off)
{
	uint8_t b = 0;
	int fd = open(image, O_RDONLY);
	if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
		b = 0xee;
	close(fd);
	return b;
}

/* Data goes into a drive only after its size message (which checks that the destination's
 * image is not the source's own file): without it, the image may be the shared file the
 * source's guest still runs on. */
TEST(disk_data_before_the_drive_s_size_is_refused)
{
	fresh_image(0x5a);
	with_drive = true;
	struct stream s = begin();
	disk(&s, 0, 0, PAGE, 0xcc);
	int e = receive(s);
	with_drive = false;
	CHECK_EQ(e, -EPROTO);
	CHECK_EQ(image_byte(0), 0x5a);
	take_down();
}

TEST(disk_data_after_the_drive_s_size_is_written)
{
	fresh_image(0x5a);
	with_drive = true;
	struct stream s = begin();
	disk(&s, MIG_DISK_SIZE, DISK, 0, 0);
	disk(&s, 0, PAGE, PAGE, 0xcc);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	int e = receive(s);
	with_drive = false;
	CHECK_EQ(e, 0);
	CHECK_EQ(image_byte(0), 0);         /* the source's size: an empty image */
	CHECK_EQ(image_byte(PAGE), 0xcc);
	take_down();
}

/* A checkpoint stages its disk writes in memory until its end: no more than its drives hold
 * (a primary sends each changed chunk once per checkpoint), or a stream of disk messages
 * would take the standby's memory without end. */
TEST(a_checkpoint_s_disk_data_is_bounded_by_its_drives)
{
	fresh_image(0);
	with_drive = true;
	struct stream s = begin();
	disk(&s, MIG_DISK_SIZE, DISK, 0, 0);
	checkpoint(&s, MIG_CKPT, 1);
	for (int i = 0; i < 3; i++)
		disk(&s, 0, 0, DISK, 0x77);
	msg(&s, MIG_STATE, "state", 5, NULL, 0);
	checkpoint(&s, MIG_CEND, 1);
	bool state;
	int e = follow(s, &state);
	with_drive = false;
	CHECK_EQ(e, -EPROTO);
	CHECK(!state);
	CHECK_CONTAINS(err, "disk");
	take_down();
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	unlink(image);
	return r;
}
