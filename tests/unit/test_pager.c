/* petrel's lazy-restore pager (src/memory/pager.c) and uffd_zero_wake (src/memory/uffd.c) on a
 * real userfaultfd, without KVM.
 *
 * A fault read from the userfaultfd is always answered: when the zero page cannot go in (the
 * range is no longer registered, say) the waiting thread is woken to fault again. With per-VMA
 * locks (Linux 6.4 on) a fault can reach the pager after its UFFDIO_UNREGISTER, and a thread
 * reading guest memory while the pager let go of it waited for good: a snapshot taken at once
 * after a Lazy load hung that way (CI on a PVM host, 2026-11-29). Before the fix, on a 2-CPU
 * host (Linux 6.18), the first test failed in every run and the stress test below hung in five
 * runs of six (rounds 9, 9, 20, 22, 66). It runs 300 rounds: runs of 100 000 and more on that
 * host also met rare stalls of many seconds (twice while the new pager thread had yet to run,
 * before any fault), which a much longer test would trip over.
 *
 * Skipped where no userfaultfd is to be had (root, or vm.unprivileged_userfaultfd). */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#include "memory/guest_mem.h"
#include "memory/pager.h"
#include "memory/uffd.h"
#include "util/log.h"

static bool have_uffd(void)
{
	int fd = uffd_open();
	if (fd < 0) {
		printf("    SKIP: no userfaultfd here (%s)\n", strerror(-fd));
		return false;
	}
	close(fd);
	return true;
}

static uint8_t *anon(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The next page-fault event within ms, or 0. */
static uint64_t next_fault(int uffd, int ms)
{
	struct pollfd pf = { .fd = uffd, .events = POLLIN };
	struct uffd_msg m;
	while (poll(&pf, 1, ms) == 1)
		if (read(uffd, &m, sizeof(m)) == (ssize_t)sizeof(m) && m.event == UFFD_EVENT_PAGEFAULT)
			return m.arg.pagefault.address;
	return 0;
}

static void *touch(void *arg)
{
	return (void *)(uintptr_t)*(volatile uint8_t *)arg;
}

TEST(a_fault_the_zero_page_cannot_answer_is_woken_to_fault_again)
{
	if (!have_uffd())
		return;
	const uint64_t len = 4 * 4096;
	uint8_t *m = anon(len);
	REQUIRE(m != NULL);
	struct guest_mem mem = { .nregions = 1, .total = len };
	mem.regions[0].hva = m;
	mem.regions[0].size = len;
	int uffd = uffd_open();
	REQUIRE(uffd >= 0);
	REQUIRE_EQ(uffd_register(uffd, &mem), 0);
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, touch, m + 3 * 4096), 0);
	uint64_t at = next_fault(uffd, 5000);
	CHECK_EQ_HEX(at & ~4095ull, (uint64_t)(uintptr_t)(m + 3 * 4096));
	/* Past the registered range: UFFDIO_ZEROPAGE fails (ENOENT), as it does for a range
	 * unregistered under a fault; nothing went in, and the thread must not be left waiting. */
	uint64_t done = 99;
	int e = uffd_zero_wake(uffd, m + 3 * 4096, 2 * 4096, &done);
	CHECK(e < 0 && e != -EEXIST);
	CHECK_EQ_HEX(done, 0);
	/* Woken, it faults again: a second event for the same page. */
	at = next_fault(uffd, 5000);
	CHECK_EQ_HEX(at & ~4095ull, (uint64_t)(uintptr_t)(m + 3 * 4096));
	CHECK_EQ(uffd_zero_wake(uffd, m + 3 * 4096, 4096, &done), 0);
	CHECK_EQ_HEX(done, 4096);
	void *got = NULL;
	pthread_join(t, &got);
	CHECK_EQ((uintptr_t)got, 0u);
	close(uffd);
	munmap(m, len);
}

/* ---- the pager's end, under a reader ---- */

static volatile sig_atomic_t round_no;

static void stuck(int sig)
{
	(void)sig;
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "    FAIL: a reader of guest memory waited 30 s in round %d\n", (int)round_no);
	if (write(2, msg, (size_t)n) < 0)
		_exit(3);
	_exit(1);
}

/* A 1 MiB memory file with data in its first 4 pages, loaded lazily again and again while this
 * thread reads every page from the end (holes first): each round the pager copies the data in,
 * unregisters and ends while the reads go on. Every read ends, and every page reads right. */
TEST(a_reader_is_never_left_waiting_while_the_pager_lets_go)
{
	if (!have_uffd())
		return;
	const uint64_t len = 1 << 20, data = 4, rounds = 300;
	char path[] = "/tmp/petrel-pager-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	REQUIRE_EQ(ftruncate(fd, (off_t)len), 0);
	uint8_t page[4096];
	memset(page, 7, sizeof(page));
	for (uint64_t i = 0; i < data; i++)
		REQUIRE_EQ(pwrite(fd, page, sizeof(page), (off_t)(i * 4096)), (ssize_t)sizeof(page));
	signal(SIGALRM, stuck);
	enum log_level was = log_get_level();
	log_set_level(LOG_WARN); /* not a "memory complete" line a round */
	unsigned wrong = 0;
	for (round_no = 0; round_no < (int)rounds; round_no++) {
		struct guest_mem mem = { .nregions = 1, .total = len };
		mem.regions[0].hva = anon(len);
		mem.regions[0].size = len;
		REQUIRE(mem.regions[0].hva != NULL);
		char err[256] = "";
		alarm(30);
		REQUIRE_EQ(uffd_lazy_pager(&mem, fd, err, sizeof(err)), 0);
		uint64_t sum = 0;
		for (uint64_t off = len; off > 0; off -= 4096)
			sum += *(volatile uint8_t *)(mem.regions[0].hva + off - 4096);
		alarm(0);
		wrong += sum != data * 7;
		uffd_lazy_end(&mem);
		munmap(mem.regions[0].hva, len);
	}
	signal(SIGALRM, SIG_DFL);
	log_set_level(was);
	CHECK_EQ(wrong, 0u);
	close(fd);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
