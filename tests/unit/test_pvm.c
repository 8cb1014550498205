/* Unit tests for the PVM workarounds' pure parts: the SYSCALL shim (src/arch/x86/pvm_syscall.c),
 * the idle kicker's vector choice (pvm_idle.c), and the guest page-table walker the shim relies
 * on (src/arch/x86/pagewalk.c), over a fake guest memory. */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/pagewalk.h"
#include "arch/x86/pvm_idle.h"
#include "arch/x86/pvm_syscall.h"
#include "memory/guest_mem.h"
#include "util/io_thread.h"
#include "threads_named.h"
#include "unit.h"

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static int32_t rd32s(const uint8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int sleeper_tid;
static void *sleeper(void *arg)
{
	(void)arg;
	__atomic_store_n(&sleeper_tid, (int)gettid(), __ATOMIC_RELEASE);
	sleep(5); /* interrupted by the test's end */
	return NULL;
}

TEST(idle_kicker_tells_sleeping_threads_from_running_ones)
{
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, sleeper, NULL), 0);
	while (!__atomic_load_n(&sleeper_tid, __ATOMIC_ACQUIRE))
		;
	usleep(50000); /* let it reach sleep() */
	CHECK(pvm_idle_thread_sleeping(sleeper_tid));
	CHECK(!pvm_idle_thread_sleeping((int)gettid())); /* this thread, reading its own state: running */
	pthread_cancel(t);
	pthread_join(t, NULL);
}

/* A VM that ends before the first round (a short `petrel run`) never pays for the kicker's
 * thread; one that lives past it has the thread, and stopping joins it. No KVM: with no vCPU
 * thread or timer vector known, a round sends nothing. */
TEST(the_kicker_thread_is_made_at_its_first_round)
{
	struct io_thread io;
	REQUIRE_EQ(io_thread_init(&io), 0);
	REQUIRE_EQ(io_thread_start(&io, "test_io"), 0);
	static struct pvm_idle pi;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	REQUIRE_EQ(pvm_idle_start(&pi, NULL, &io, 1, NULL, NULL), 0);
	bool started = pi.thread_started, exists = threads_named("fc_pvm_idle") > 0;
	pvm_idle_stop(&pi);                       /* before the first round: no thread ever */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms < PVM_IDLE_KICK_MS / 2) {         /* else the host stalled us past the first round */
		CHECK(!started && !exists);
		CHECK(!pi.thread_started);
		usleep(3 * PVM_IDLE_KICK_MS * 1000);
		CHECK(threads_named("fc_pvm_idle") <= 0);
	}

	REQUIRE_EQ(pvm_idle_start(&pi, NULL, &io, 1, NULL, NULL), 0);
	/* due after PVM_IDLE_KICK_MS: wait up to 5 s for it (a loaded host, a sanitizer build) */
	for (unsigned i = 0; i < 500 && !(__atomic_load_n(&pi.thread_started, __ATOMIC_ACQUIRE) &&
					   threads_named("fc_pvm_idle") > 0); i++)
		usleep(10000);
	CHECK(__atomic_load_n(&pi.thread_started, __ATOMIC_ACQUIRE));
	CHECK(threads_named("fc_pvm_idle") > 0);
	pvm_idle_stop(&pi);
	CHECK(!pi.thread_started);
	CHECK(threads_named("fc_pvm_idle") <= 0);
	CHECK_EQ(pi.kicks, 0);
	io_thread_stop(&io);
	io_thread_destroy(&io);
}

TEST(shim_code_points_at_its_constants)
{
	uint8_t code[PVM_SHIM_SIZE];
	pvm_syscall_shim_code(code, 0xffffffff81c00080ull, 0xffffffff81a01230ull);
	CHECK_EQ_HEX(rd64(code + 0x30), 0xffffffff81c00080ull);
	CHECK_EQ_HEX(rd64(code + 0x38), 0xffffffff81a01230ull);
	/* mov 0x30(%rip),%rax at 1 (7 bytes), jmp *disp(%rip) at 0x1f and 0x25 (6 bytes each) */
	CHECK_EQ(code[1], 0x48);
	CHECK_EQ(0x08 + rd32s(code + 4), 0x30);
	CHECK_EQ(code[0x1f], 0xff);
	CHECK_EQ(0x25 + rd32s(code + 0x21), 0x30);
	CHECK_EQ(code[0x25], 0xff);
	CHECK_EQ(0x2b + rd32s(code + 0x27), 0x38);
	/* both conditional branches go to the pass-through jump at 0x25 */
	CHECK_EQ(code[0x0e], 0x75);
	CHECK_EQ(0x10 + (int8_t)code[0x0f], 0x25);
	CHECK_EQ(code[0x15], 0x74);
	CHECK_EQ(0x17 + (int8_t)code[0x16], 0x25);
}

TEST(find_padding)
{
	uint8_t buf[4096];
	memset(buf, 0x90, sizeof(buf));
	CHECK_EQ(pvm_syscall_find_padding(buf, sizeof(buf), 0x1000), -1);
	memset(buf + 100, 0xcc, PVM_SHIM_SIZE + 20); /* too short with the margins */
	CHECK_EQ(pvm_syscall_find_padding(buf, sizeof(buf), 0x1000), -1);
	memset(buf + 1000, 0xcc, 200);
	long off = pvm_syscall_find_padding(buf, sizeof(buf), 0x1000);
	REQUIRE(off >= 0);
	CHECK_EQ((0x1000 + off) % 16, 0);
	CHECK(off >= 1000 + 16);
	CHECK(off + PVM_SHIM_SIZE <= 1200);
	for (long i = off; i < off + PVM_SHIM_SIZE; i++)
		CHECK_EQ(buf[i], 0xcc);
}

TEST(idle_kick_vector_from_lvtt)
{
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x000ec), 0xec);          /* one-shot, unmasked */
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x400ec), 0xec);          /* TSC-deadline mode */
	/* masked with its vector kept (Linux's tick stopped): still kicked, less often */
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x100ec), 0xec | PVM_IDLE_MASKED);
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x10000), 0);             /* reset value */
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x1000f), 0);             /* masked, reserved vector */
	CHECK_EQ(pvm_idle_vector_of_lvtt(0x0000f), 0);             /* reserved vector */
}

TEST(idle_kick_rounds)
{
	for (unsigned round = 1; round <= 3 * PVM_IDLE_MASKED_ROUNDS; round++) {
		CHECK_EQ(pvm_idle_kick_vector(0xec, round), 0xec);  /* every round */
		CHECK_EQ(pvm_idle_kick_vector(0xec | PVM_IDLE_MASKED, round),
			 round % PVM_IDLE_MASKED_ROUNDS == 0 ? 0xec : 0u);
	}
	/* a masked reading is read again (f367c4a kept it for good: an armed timer then got a
	 * kick every 200 ms instead of every 20 ms until the vCPU left KVM by chance) */
	CHECK(pvm_idle_wants_refresh(0));
	CHECK(pvm_idle_wants_refresh(0xec | PVM_IDLE_MASKED));
	CHECK(!pvm_idle_wants_refresh(0xec));
}

/* ---- page walk over hand-built tables ---- */

#define MEM (8u << 20)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

static void mem_make(struct guest_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->regions[0] = (struct guest_region){ 0, MEM, calloc(1, MEM) };
	m->nregions = 1;
	m->total = MEM;
}

static void put(struct guest_mem *m, uint64_t gpa, uint64_t v) { memcpy(m->regions[0].hva + gpa, &v, 8); }

TEST(page_walk_4_level)
{
	struct guest_mem m;
	mem_make(&m);
	const uint64_t va = 0xffffffff81c00080ull, va2m = 0xffff888000200000ull;
	/* PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> page 0x5000 */
	put(&m, 0x1000 + ((va >> 39) & 511) * 8, 0x2000 | 3);
	put(&m, 0x2000 + ((va >> 30) & 511) * 8, 0x3000 | 3);
	put(&m, 0x3000 + ((va >> 21) & 511) * 8, 0x4000 | 3);
	put(&m, 0x4000 + ((va >> 12) & 511) * 8, 0x5000 | 1); /* present, read-only, supervisor */
	/* a user 2 MiB page, NX */
	put(&m, 0x1000 + ((va2m >> 39) & 511) * 8, 0x6000 | 7);
	put(&m, 0x6000 + ((va2m >> 30) & 511) * 8, 0x7000 | 7);
	put(&m, 0x7000 + ((va2m >> 21) & 511) * 8, 0x400000 | 0x87 | (1ull << 63));
	struct page_walk w;
	uint64_t cr0 = CR0_PG, cr4 = CR4_PAE, efer = EFER_LMA | EFER_NXE;
	REQUIRE(x86_page_walk(&m, cr0, 0x1000, cr4, efer, va, &w) == 0);
	CHECK_EQ_HEX(w.gpa, 0x5080);
	CHECK(!w.user && !w.writable && w.executable);
	CHECK_EQ(w.page_size, 4096);
	REQUIRE(x86_page_walk(&m, cr0, 0x1000, cr4, efer, va2m + 0x1234, &w) == 0);
	CHECK_EQ_HEX(w.gpa, 0x401234);
	CHECK(w.user && w.writable && !w.executable);
	CHECK_EQ(w.page_size, 2u << 20);
	/* not mapped, no long mode, table outside RAM */
	CHECK_EQ(x86_page_walk(&m, cr0, 0x1000, cr4, efer, 0x1000, &w), -EFAULT);
	CHECK_EQ(x86_page_walk(&m, 0, 0x1000, cr4, efer, va, &w), -EINVAL);
	CHECK_EQ(x86_page_walk(&m, cr0, 0x1000, cr4, 0, va, &w), -EINVAL);
	put(&m, 0x4000 + ((va >> 12) & 511) * 8, 0);
	put(&m, 0x3000 + ((va >> 21) & 511) * 8, (64ull << 20) | 3); /* PT beyond RAM */
	CHECK_EQ(x86_page_walk(&m, cr0, 0x1000, cr4, efer, va, &w), -EFAULT);
	free(m.regions[0].hva);
}

TEST(page_walk_5_level)
{
	struct guest_mem m;
	mem_make(&m);
	const uint64_t va = 0xff11000000001000ull;
	put(&m, 0x1000 + ((va >> 48) & 511) * 8, 0x2000 | 3);
	put(&m, 0x2000 + ((va >> 39) & 511) * 8, 0x3000 | 3);
	put(&m, 0x3000 + ((va >> 30) & 511) * 8, 0x40000000ull | 0x83); /* 1 GiB page */
	struct page_walk w;
	REQUIRE(x86_page_walk(&m, CR0_PG, 0x1000, CR4_PAE | CR4_LA57, EFER_LMA, va, &w) == 0);
	CHECK_EQ_HEX(w.gpa, 0x40000000ull + (va & ((1u << 30) - 1)));
	CHECK_EQ(w.page_size, 1u << 30);
	free(m.regions[0].hva);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
