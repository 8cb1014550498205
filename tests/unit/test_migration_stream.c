/* The receiving side of a migration (src/migration/receive.c, disks.c, postcopy_dst.c, wire.c)
 * fed hostile or out-of-turn streams over a socket pair, on a fake machine (mig_stream.h).
 * Each test is a stream a source must not be able to use to write where it may not, or to
 * leave a guest running where it must not. */
#include "unit.h"
#include "mig_stream.h"

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
	state(&s);
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
	state(&s);
	msg(&s, MIG_FAIL, "waiting for the destination: timed out", 39, NULL, 0);
	int e = receive(s);
	CHECK(e < 0);
	CHECK(!running);
	CHECK_EQ(destroyed, 1);
	CHECK_CONTAINS(err, "timed out");
	take_down();
}

/* The post-copy list: pages still to fetch, of the first 64 (bit i: page i). */
static void postcopy_list(struct stream *s, uint64_t first64)
{
	uint64_t *bm = calloc(MEM / PAGE / 64, 8);
	bm[0] = first64;
	msg(s, MIG_POSTCOPY, bm, MEM / PAGE / 8, NULL, 0);
	free(bm);
}

/* A destination with the real post-copy (userfaultfd) receives s. */
static int receive_postcopy(struct stream s)
{
	struct mig_receive_hooks pc = hooks;
	pc.postcopy = postcopy_dst_start;
	return receive_with(s, &pc);
}

/* Post-copy: the source's END says every page it had to send went out. One it never sent
 * would read as zero here (the stale copy was dropped): the guest's memory, silently wrong. */
TEST(postcopy_end_before_every_needed_page_is_refused)
{
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);
	postcopy_list(&s, 1u << 1 | 1u << 2); /* pages 1 and 2 still to fetch */
	state(&s);
	pages(&s, 0x2000, 0x22);            /* page 2 comes, page 1 never does */
	msg(&s, MIG_END, NULL, 0, NULL, 0);
	int e = receive_postcopy(s);
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
	struct stream s = begin();
	postcopy_list(&s, 1u << 2);
	state(&s);
	pages(&s, 0x2000, 0x22);
	msg(&s, MIG_END, NULL, 0, NULL, 0);
	filling_at_start = false;
	int e = receive_postcopy(s);
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

/* ---- disks ---- */

/* Data goes into a drive only after its size message (which checks that the destination's
 * image is not the source's own file): without it, the image may be the shared file the
 * source's guest still runs on. */
TEST(disk_data_before_the_drive_s_size_is_refused)
{
	with_image(0x5a);
	struct stream s = begin();
	disk(&s, 0, 0, PAGE, 0xcc);
	int e = receive(s);
	CHECK_EQ(e, -EPROTO);
	CHECK_EQ(image_byte(0), 0x5a);
	take_down();
}

TEST(disk_data_after_the_drive_s_size_is_written)
{
	with_image(0x5a);
	struct stream s = begin();
	disk(&s, MIG_DISK_SIZE, DISK, 0, 0);
	disk(&s, 0, PAGE, PAGE, 0xcc);
	state(&s);
	int e = receive(s);
	CHECK_EQ(e, 0);
	CHECK_EQ(image_byte(0), 0);         /* the source's size: an empty image */
	CHECK_EQ(image_byte(PAGE), 0xcc);
	take_down();
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	unlink(image);
	return r;
}
