/* The primary's side of replication (src/ha/primary.c, replication.c, outgate.c) against a
 * scripted standby on a Unix socket, on a fake machine: guest memory and the console UART, no
 * vCPUs and no KVM (dirty logging, the states and the definition are stood in for by --wrap,
 * see meson.build). The test thread is the guest: it writes console bytes between
 * checkpoints and watches what reaches the console. */
#include "unit.h"
#include "legacy_dev.h"

#include "devices/legacy/serial.h"
#include "ha/ha_int.h"
#include "util/outgate.h"
#include "migration/throttle.h"
#include "migration/wire.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define MEM (32u << 20)
#define PAGE 4096u

/* ---- what KVM and the snapshot code would do ---- */

static bool all_dirty;   /* the guest dirties every page between two pre-copy rounds */

static void set_bits(uint64_t **bitmaps, struct guest_mem *mem, bool on)
{
	for (unsigned r = 0; r < mem->nregions; r++)
		memset(bitmaps[r], on ? 0xff : 0, (mem->regions[r].size / PAGE + 63) / 64 * 8);
}

int __wrap_guest_mem_dirty_log_start(struct guest_mem *mem, struct kvm *kvm);
int __wrap_guest_mem_dirty_log_start(struct guest_mem *mem, struct kvm *kvm) { return 0; }
int __wrap_guest_mem_dirty_log_stop(struct guest_mem *mem, struct kvm *kvm);
int __wrap_guest_mem_dirty_log_stop(struct guest_mem *mem, struct kvm *kvm) { return 0; }
int __wrap_guest_mem_fetch_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps);
int __wrap_guest_mem_fetch_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps)
{
	set_bits(bitmaps, mem, __atomic_load_n(&all_dirty, __ATOMIC_ACQUIRE));
	return 0;
}
int __wrap_guest_mem_take_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps);
int __wrap_guest_mem_take_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps)
{
	set_bits(bitmaps, mem, false);
	return 0;
}
int __wrap_guest_mem_clear_dirty(struct guest_mem *mem, struct kvm *kvm, unsigned r, uint64_t first, uint64_t npages,
				 uint64_t *bits);
int __wrap_guest_mem_clear_dirty(struct guest_mem *mem, struct kvm *kvm, unsigned r, uint64_t first, uint64_t npages,
				 uint64_t *bits)
{
	return 0;
}
int __wrap_throttle_start(struct vm *vm, struct throttle **out);
int __wrap_throttle_start(struct vm *vm, struct throttle **out) { return -EOPNOTSUPP; }
int __wrap_snapshot_definition_build(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);
int __wrap_snapshot_definition_build(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	snap_section(w, SNAP_ID('T', 'E', 'S', 'T'), 0, 1, "defn", 4);
	return snap_finish(w);
}
int __wrap_snapshot_state_build(struct vm *vm, const char *mem_abs, char *const *drive_paths, uint64_t *const *dirty,
				struct snap_writer *w, uint8_t id[16], char *err, size_t errlen);
int __wrap_snapshot_state_build(struct vm *vm, const char *mem_abs, char *const *drive_paths, uint64_t *const *dirty,
				struct snap_writer *w, uint8_t id[16], char *err, size_t errlen)
{
	memset(id, 0, 16);
	snap_section(w, SNAP_ID('T', 'E', 'S', 'T'), 0, 1, "state", 5);
	return snap_finish(w);
}

/* ---- the scripted standby ---- */

enum answer { ACK, ACK_WRONG_EPOCH, HANG_UP };

static struct standby {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int lfd, fd;
	pthread_t t;
	unsigned read_delay_us;   /* pre-copy: a pause every 64 KiB read (a slow standby) */
	uint64_t acks_allowed;    /* CEND of epochs above this wait for the test to allow them */
	uint64_t answer_epoch;    /* ...and this epoch gets `answer` instead of a plain ACK */
	enum answer answer;
	uint64_t cend;            /* the last checkpoint end received */
	unsigned rounds;
	bool got_fail, ended, joined;
} sb;

static int read_all(int fd, void *buf, size_t n, unsigned delay_us)
{
	uint8_t *p = buf;
	while (n) {
		size_t k = n < 65536 ? n : 65536;
		ssize_t r = recv(fd, p, k, 0);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		if (delay_us)
			usleep(delay_us);
	}
	return 0;
}

static void reply(int fd, uint32_t type, const void *p, size_t len)
{
	struct mig_hdr h = { .type = type, .len = len };
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) == (ssize_t)sizeof(h) && len)
		send(fd, p, len, MSG_NOSIGNAL);
}

static void *standby_main(void *arg)
{
	(void)arg;
	int fd = accept4(sb.lfd, NULL, NULL, SOCK_CLOEXEC);
	pthread_mutex_lock(&sb.lock);
	sb.fd = fd;
	pthread_mutex_unlock(&sb.lock);
	static uint8_t buf[(MIG_MAX_RUN * PAGE) + 4096];
	for (struct mig_hdr h; fd >= 0;) {
		if (read_all(fd, &h, sizeof(h), 0) < 0 || h.len > sizeof(buf))
			break;
		unsigned delay = __atomic_load_n(&sb.read_delay_us, __ATOMIC_ACQUIRE);
		if (read_all(fd, buf, (size_t)h.len, h.type == MIG_PAGES ? delay : 0) < 0)
			break;
		if (h.type == MIG_DEFN)
			reply(fd, MIG_READY, NULL, 0);
		if (h.type == MIG_ROUND)
			__atomic_add_fetch(&sb.rounds, 1, __ATOMIC_ACQ_REL);
		if (h.type == MIG_FAIL) {
			pthread_mutex_lock(&sb.lock);
			sb.got_fail = true;
			pthread_cond_broadcast(&sb.cond);
			pthread_mutex_unlock(&sb.lock);
		}
		if (h.type != MIG_CEND)
			continue;
		struct mig_ckpt ck;
		memcpy(&ck, buf, sizeof(ck));
		pthread_mutex_lock(&sb.lock);
		sb.cend = ck.epoch;
		pthread_cond_broadcast(&sb.cond);
		while (ck.epoch > sb.acks_allowed && !sb.ended)
			pthread_cond_wait(&sb.cond, &sb.lock);
		enum answer a = ck.epoch == sb.answer_epoch ? sb.answer : ACK;
		pthread_mutex_unlock(&sb.lock);
		if (a == HANG_UP)
			break;
		if (a == ACK_WRONG_EPOCH)
			ck.epoch++;
		reply(fd, MIG_CACK, &ck, sizeof(ck));
	}
	pthread_mutex_lock(&sb.lock);
	if (sb.fd >= 0)
		close(sb.fd);
	sb.fd = -1;
	sb.ended = true;
	pthread_cond_broadcast(&sb.cond);
	pthread_mutex_unlock(&sb.lock);
	return NULL;
}

static char dir[64], url[160], path[100];

static void standby_start(void)
{
	memset(&sb, 0, sizeof(sb));
	pthread_mutex_init(&sb.lock, NULL);
	pthread_cond_init(&sb.cond, NULL);
	sb.fd = -1;
	snprintf(dir, sizeof(dir), "/tmp/petrel-repl-primary-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/standby.sock", dir);
	snprintf(url, sizeof(url), "unix:%s", path);
	unlink(path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sb.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sb.lfd < 0 || bind(sb.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(sb.lfd, 1) < 0 ||
	    pthread_create(&sb.t, NULL, standby_main, NULL) != 0)
		abort();
}

/* The standby lets acknowledgements up to epoch n go. */
static void allow_acks(uint64_t n)
{
	pthread_mutex_lock(&sb.lock);
	sb.acks_allowed = n;
	pthread_cond_broadcast(&sb.cond);
	pthread_mutex_unlock(&sb.lock);
}

/* Wait (up to 5 s) until the standby has received the end of checkpoint n. */
static bool standby_has_cend(uint64_t n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&sb.lock);
	int e = 0;
	while (sb.cend < n && !sb.ended && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&sb.cond, &sb.lock, &dl);
	bool ok = sb.cend >= n;
	pthread_mutex_unlock(&sb.lock);
	return ok;
}

/* The standby drops its connection (as a dead host would), and its thread ends. */
static void standby_end(void)
{
	if (sb.joined)
		return;
	sb.joined = true;
	pthread_mutex_lock(&sb.lock);
	sb.ended = true;
	if (sb.fd >= 0)
		shutdown(sb.fd, SHUT_RDWR);
	pthread_cond_broadcast(&sb.cond);
	pthread_mutex_unlock(&sb.lock);
	shutdown(sb.lfd, SHUT_RDWR);
	pthread_join(sb.t, NULL);
	close(sb.lfd);
	unlink(path);
	rmdir(dir);
}

/* ---- the fake machine: memory and the console ---- */

static struct vm vm;
static int console[2];   /* the console's pipe: [0] is what the outside reads */

static void machine_start(void)
{
	memset(&vm, 0, sizeof(vm));
	void *p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || pipe2(console, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	memset(p, 0x5a, MEM); /* in use (zero pages would go as runs without data) */
	vm.mem.regions[0] = (struct guest_region){ .gpa = 0, .size = MEM, .hva = p };
	vm.mem.nregions = 1;
	vm.mem.total = MEM;
	pthread_mutex_init(&vm.lock, NULL);
	pthread_cond_init(&vm.cond, NULL);
	pthread_mutex_init(&vm.pause_hold, NULL);
	vm.stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	serial_init(&vm.serial, console[1], NO_IRQ);
}

static void machine_end(void)
{
	munmap(vm.mem.regions[0].hva, MEM);
	close(vm.stop_efd);
	close(console[0]);
	close(console[1]);
}

/* The guest writes a console byte (as its vCPU would: THR of the UART). */
static void guest_prints(char c)
{
	uint8_t b = (uint8_t)c;
	serial_io_write(&vm.serial, 0, &b, 1);
}

/* What the outside has read from the console so far (waiting up to ms for something). */
static char seen[256];
static const char *outside_sees(int ms)
{
	struct pollfd pf = { .fd = console[0], .events = POLLIN };
	if (poll(&pf, 1, ms) == 1) {
		size_t len = strlen(seen);
		ssize_t n = read(console[0], seen + len, sizeof(seen) - 1 - len);
		if (n > 0)
			seen[len + (size_t)n] = 0;
	}
	return seen;
}

/* ---- the primary ---- */

static struct replication *primary_start(unsigned interval_ms, enum repl_on_loss on_loss)
{
	seen[0] = 0;
	struct repl_primary_opts o = { .peer_url = url, .interval_ms = interval_ms, .failure_timeout_ms = 2000,
				       .on_loss = on_loss, .mirror_disks = false };
	struct replication *r = NULL;
	char err[256];
	if (replication_primary_start(&vm, &o, NULL, NULL, &r, err, sizeof(err)) < 0)
		abort();
	return r;
}

static bool state_becomes(struct replication *r, enum repl_state want)
{
	for (int i = 0; i < 500; i++) {
		struct repl_status st;
		replication_status(r, &st);
		if (st.state == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* replication_free(r) on another thread: whether it returned within ms. If not, the standby
 * hangs up (so that the primary's thread ends) before the free is waited for. */
static void *free_main(void *arg)
{
	replication_free(arg);
	return NULL;
}

static bool freed_within(struct replication *r, int ms)
{
	pthread_t t;
	if (pthread_create(&t, NULL, free_main, r) != 0)
		abort();
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	bool quick = pthread_timedjoin_np(t, NULL, &dl) == 0;
	if (!quick) {
		standby_end();
		pthread_join(t, NULL);
	}
	return quick;
}

/* ---- the tests ---- */

/* Output made in an epoch comes out only once the standby acknowledged the checkpoint that
 * ends that epoch. */
TEST(output_waits_for_the_acknowledgement_of_its_checkpoint)
{
	machine_start();
	standby_start();
	struct replication *r = primary_start(10, REPL_LOSS_CONTINUE);
	REQUIRE(standby_has_cend(1));               /* epoch 1 ended; no checkpoint 2 before its ack */
	guest_prints('a');                          /* epoch 2 */
	allow_acks(1);
	REQUIRE(state_becomes(r, REPL_PROTECTED));
	REQUIRE(standby_has_cend(2));               /* checkpoint 2 sent, not acknowledged */
	CHECK_STR_EQ(outside_sees(100), "");
	allow_acks(2);
	CHECK_STR_EQ(outside_sees(2000), "a");
	allow_acks(UINT64_MAX);
	replication_free(r);
	standby_end();
	machine_end();
}

/* A standby that acknowledges another epoch than the one it was sent (hostile, or confused)
 * is a lost standby: with on_standby_loss stop, the epoch's output never comes out. */
TEST(an_acknowledgement_of_the_wrong_epoch_releases_nothing)
{
	machine_start();
	standby_start();
	sb.answer_epoch = 3;
	sb.answer = ACK_WRONG_EPOCH;
	struct replication *r = primary_start(10, REPL_LOSS_STOP);
	allow_acks(1);
	REQUIRE(standby_has_cend(2));
	guest_prints('w');                          /* epoch 3 */
	allow_acks(UINT64_MAX);
	REQUIRE(state_becomes(r, REPL_STOPPED));
	CHECK(vm.stopping);
	CHECK_STR_EQ(outside_sees(200), "");
	replication_free(r);
	standby_end();
	machine_end();
}

/* on_standby_loss stop: the held output is thrown away and the gate stays shut while the
 * guest stops. The console (and the NICs) kept pointing at the replication's gate, which
 * replication_free frees: output the stopping guest made after that went through freed
 * memory. */
TEST(a_gate_shut_by_the_stop_policy_outlives_its_replication)
{
	machine_start();
	standby_start();
	sb.answer_epoch = 2;
	sb.answer = HANG_UP;                        /* at the end of checkpoint 2 */
	struct replication *r = primary_start(10, REPL_LOSS_STOP);
	REQUIRE(standby_has_cend(1));
	guest_prints('x');                          /* epoch 2: never acknowledged */
	allow_acks(2);
	REQUIRE(state_becomes(r, REPL_STOPPED));
	CHECK(vm.stopping);
	CHECK_STR_EQ(outside_sees(100), "");        /* thrown away */
	struct repl_status st;
	replication_status(r, &st);
	CHECK_EQ(st.output_dropped, 1);             /* and counted: GET /replication says so */
	struct outgate *g = r->gate;
	replication_free(r);
	struct outgate *now = __atomic_load_n(&vm.serial.gate, __ATOMIC_ACQUIRE);
	CHECK(now != g);                            /* not the freed gate */
	if (now != g) {
		guest_prints('y');                  /* the guest is stopping: nothing goes out */
		CHECK_STR_EQ(outside_sees(100), "");
	}
	standby_end();
	machine_end();
}

/* Stopping replication during the initial sync (petrel exiting, PUT /replication on a
 * replication being replaced): the sync stops at once. It went on for up to 100 rounds (or
 * the 600 s the sync may last), since the primary's sync looked at its migration object's
 * own cancel, which nothing sets. */
TEST(stopping_during_the_initial_sync_is_prompt)
{
	machine_start();
	standby_start();
	__atomic_store_n(&all_dirty, true, __ATOMIC_RELEASE);   /* the sync never converges */
	sb.read_delay_us = 2000;                                 /* ~30 MiB/s */
	struct replication *r = primary_start(10, REPL_LOSS_CONTINUE);
	for (int i = 0; i < 1000 && __atomic_load_n(&sb.rounds, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(10000);
	REQUIRE(__atomic_load_n(&sb.rounds, __ATOMIC_ACQUIRE) >= 2);
	CHECK(freed_within(r, 3000));
	__atomic_store_n(&all_dirty, false, __ATOMIC_RELEASE);
	standby_end();
	machine_end();
}

/* Stopping replication between two checkpoints waits for no interval (which may be a minute):
 * the standby is told (FAIL: it must not take over) and the primary's thread ends. */
TEST(stopping_between_checkpoints_does_not_wait_for_the_interval)
{
	machine_start();
	standby_start();
	struct replication *r = primary_start(20000, REPL_LOSS_CONTINUE);
	allow_acks(UINT64_MAX);
	REQUIRE(state_becomes(r, REPL_PROTECTED));
	usleep(50000);
	CHECK(freed_within(r, 3000));
	pthread_mutex_lock(&sb.lock);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 2;
	while (!sb.ended && pthread_cond_timedwait(&sb.cond, &sb.lock, &dl) != ETIMEDOUT)
		;                                   /* it reads to the end of the stream */
	bool told = sb.got_fail;
	pthread_mutex_unlock(&sb.lock);
	CHECK(told);
	standby_end();
	machine_end();
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("DEBUG")) log_set_level(LOG_DEBUG);
	return unit_main(argc, argv);
}
