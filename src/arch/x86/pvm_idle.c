#include "arch/x86/pvm_idle.h"
#include "arch/x86/cpu_state.h"
#include "kvm/kvm_irq.h"
#include "kvm/kvm_vcpu.h"
#include "util/io_thread.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#define LVT_MASKED (1u << 16)
#define REFRESH_NS (100ull * 1000 * 1000)

uint32_t pvm_idle_vector_of_lvtt(uint32_t lvtt)
{
	uint32_t vector = lvtt & 0xff;
	if (vector < 32)
		return 0;
	return vector | (lvtt & LVT_MASKED ? PVM_IDLE_MASKED : 0);
}

uint32_t pvm_idle_kick_vector(uint32_t kept, unsigned round)
{
	if ((kept & PVM_IDLE_MASKED) && round % PVM_IDLE_MASKED_ROUNDS != 0)
		return 0;
	return kept & 0xff;
}

bool pvm_idle_wants_refresh(uint32_t kept)
{
	return !kept || (kept & PVM_IDLE_MASKED);
}

void pvm_idle_refresh(struct pvm_idle *pi, unsigned id, int vcpu_fd)
{
	if (!pi->running || id >= pi->nvcpus)
		return;
	uint64_t now = now_ns();
	if (now - pi->last_refresh_ns[id] < REFRESH_NS)
		return;
	pi->last_refresh_ns[id] = now;
	struct kvm_lapic_state lapic;
	if (kvm_get_lapic(vcpu_fd, &lapic) < 0)
		return;
	__atomic_store_n(&pi->timer_vector[id], pvm_idle_vector_of_lvtt(lapic_reg(&lapic, LAPIC_LVTT)),
			 __ATOMIC_RELAXED);
}

void pvm_idle_set_thread(struct pvm_idle *pi, unsigned id, int tid)
{
	if (id < PVM_IDLE_MAX_VCPUS)
		__atomic_store_n(&pi->tid[id], tid, __ATOMIC_RELEASE);
}

void pvm_idle_pause(struct pvm_idle *pi, bool paused)
{
	__atomic_store_n(&pi->paused, paused, __ATOMIC_RELEASE);
	/* A round that began before the flag may still be sending: wait for its end, so that
	 * nothing reaches a paused vCPU's LAPIC while a snapshot or checkpoint reads it. */
	if (paused && __atomic_load_n(&pi->running, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&pi->round_lock);
		pthread_mutex_unlock(&pi->round_lock);
	}
}

bool pvm_idle_thread_sleeping(int tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* cannot tell: kick, as before */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may contain spaces and parentheses */
	return !p || p[1] != ' ' || p[2] != 'R';
}

static void *kicker(void *arg)
{
	struct pvm_idle *pi = arg;
	pthread_setname_np(pthread_self(), "fc_pvm_idle");
	/* Started at what was its first round's time (pvm_idle_start): that round at once. */
	for (unsigned round = 1;; round++) {
		struct pollfd p = { .fd = pi->stop_efd, .events = POLLIN };
		if (round > 1 && poll(&p, 1, PVM_IDLE_KICK_MS) != 0)
			break;
		bool refresh = round % (REFRESH_NS / 1000000 / PVM_IDLE_KICK_MS) == 0;
		pthread_mutex_lock(&pi->round_lock);
		if (__atomic_load_n(&pi->paused, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&pi->round_lock);
			continue;
		}
		for (unsigned i = 0; i < pi->nvcpus; i++) {
			int tid = __atomic_load_n(&pi->tid[i], __ATOMIC_ACQUIRE);
			if (tid && !pvm_idle_thread_sleeping(tid)) {
				pi->skipped++;
				continue; /* running guest code: it needs no wakeup */
			}
			uint32_t kept = __atomic_load_n(&pi->timer_vector[i], __ATOMIC_RELAXED);
			/* not known yet, or masked (the guest may arm it any moment): let it look */
			if (refresh && pi->poke && pvm_idle_wants_refresh(kept))
				pi->poke(pi->poke_opaque, i);
			if (!kept)
				continue;
			uint32_t vector = pvm_idle_kick_vector(kept, round);
			if (!vector)
				continue;
			/* Fixed delivery, edge, physical destination = APIC ID i. */
			if (kvm_signal_msi(pi->kvm, 0xfee00000u | (i << 12), 0, vector) == 0)
				pi->kicks++;
		}
		pthread_mutex_unlock(&pi->round_lock);
	}
	return NULL;
}

static void close_fds(struct pvm_idle *pi)
{
	if (pi->stop_efd >= 0)
		close(pi->stop_efd);
	if (pi->start_tfd >= 0)
		close(pi->start_tfd);
	pi->stop_efd = pi->start_tfd = -1;
}

/* The kicker's thread is made when its first round is due, on the I/O thread: until then it
 * would only sleep, and a VM that lives less than a round never pays for a thread (its start,
 * its seccomp filter: 0.19 ms of CPU on a PVM host, 5% of a short `petrel run`). */
static void start_kicker(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct pvm_idle *pi = opaque;
	io_thread_remove(pi->io, fd);
	int err = -thread_start(&pi->thread, SC_PVM_IDLE, "fc_pvm_idle", kicker, pi);
	if (!err)
		pi->thread_started = true;
	else if (err != ECANCELED)   /* ECANCELED: petrel is ending, no round is due */
		log_warn("PVM: cannot start the idle kicker: %s", strerror(err));
}

int pvm_idle_start(struct pvm_idle *pi, struct kvm *kvm, struct io_thread *io, unsigned nvcpus,
		   void (*poke)(void *opaque, unsigned id), void *poke_opaque)
{
	memset(pi, 0, sizeof(*pi));
	pi->kvm = kvm;
	pi->io = io;
	pi->poke = poke;
	pi->poke_opaque = poke_opaque;
	pi->nvcpus = MIN(nvcpus, (unsigned)PVM_IDLE_MAX_VCPUS);
	pi->stop_efd = eventfd(0, EFD_CLOEXEC);
	pi->start_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec first = { .it_value = { 0, PVM_IDLE_KICK_MS * 1000000L } };
	int err = pi->stop_efd < 0 || pi->start_tfd < 0 ? -errno : 0;
	if (!err && timerfd_settime(pi->start_tfd, 0, &first, NULL) < 0)
		err = -errno;
	if (!err)
		err = io_thread_add_in(io, pi->start_tfd, start_kicker, pi);
	if (err) {
		log_warn("PVM: cannot start the idle kicker: %s", strerror(-err));
		close_fds(pi);
		return err;
	}
	pthread_mutex_init(&pi->round_lock, NULL);
	__atomic_store_n(&pi->running, true, __ATOMIC_RELEASE);
	return 0;
}

void pvm_idle_stop(struct pvm_idle *pi)
{
	if (!pi->running)
		return;
	/* Once removed, the timer's callback is not running and never will: the thread exists
	 * or never will. */
	io_thread_remove(pi->io, pi->start_tfd);
	if (pi->thread_started) {
		uint64_t one = 1;
		if (write(pi->stop_efd, &one, sizeof(one)) < 0)
			log_warn("PVM: cannot stop the idle kicker: %s", strerror(errno));
		pthread_join(pi->thread, NULL);
		pi->thread_started = false;
	}
	close_fds(pi);
	__atomic_store_n(&pi->running, false, __ATOMIC_RELEASE);
}
