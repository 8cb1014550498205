/* A fake KVM for run-state tests (link with -Wl,--wrap=ioctl): ioctls on the fake VM fd and on
 * vCPU fds (memfds, so that kvm_run can be mmapped) are served here. KVM_RUN: immediate_exit
 * at entry -> EINTR; otherwise the "guest runs" (or an AP waits for SIPI) until a signal
 * arrives -> EINTR, as in KVM. Every vCPU ioctl waits for KVM's vcpu->mutex, which KVM_RUN
 * holds all through. */
#ifndef PETREL_TEST_FAKE_KVM_H
#define PETREL_TEST_FAKE_KVM_H
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
#include <unistd.h>

#define FAKE_VM_FD 999
#define RUN_SIZE (3 * 4096)
static int fake_fds[64];
static struct kvm_run *fake_runs[64];
static int nfake;
static _Atomic int in_run[64];          /* vCPU index currently inside fake KVM_RUN */
static _Atomic unsigned long runs_entered[64];
static pthread_mutex_t vcpu_mutex[64]; /* KVM's vcpu->mutex: every vCPU ioctl, held all through KVM_RUN */
static unsigned long fake_ids_made;     /* vCPU ids KVM_CREATE_VCPU made: KVM refuses one twice */
static unsigned long fake_fail_req;     /* a vCPU ioctl that fails (with fake_fail_errno) ... */
static int fake_fail_errno, fake_fail_times; /* ... this many more times */
__attribute__((constructor)) static void fake_init(void)
{
	for (int i = 0; i < 64; i++)
		pthread_mutex_init(&vcpu_mutex[i], NULL);
}

int __real_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, ...);
static int fake_index(int fd)
{
	for (int i = 0; i < nfake; i++)
		if (fake_fds[i] == fd)
			return i;
	return -1;
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (fd == FAKE_VM_FD) {
		if (req == KVM_CREATE_VCPU) {
			unsigned long id = (unsigned long)arg;
			if (id < 64 && (fake_ids_made >> id) & 1) {
				errno = EEXIST; /* as KVM: the vCPU outlives its fd, until the VM goes */
				return -1;
			}
			fake_ids_made |= id < 64 ? 1ul << id : 0;
			int m = memfd_create("fake-vcpu", MFD_CLOEXEC);
			if (m < 0 || ftruncate(m, RUN_SIZE) < 0)
				abort();
			fake_fds[nfake++] = m;
			return m;
		}
		return 0;
	}
	int i = fake_index(fd);
	if (i < 0)
		return __real_ioctl(fd, req, arg);
	if (req == fake_fail_req && fake_fail_times > 0) {
		fake_fail_times--;
		errno = fake_fail_errno;
		return -1;
	}
	if (req != KVM_RUN) {
		pthread_mutex_lock(&vcpu_mutex[i]);
		pthread_mutex_unlock(&vcpu_mutex[i]);
		return req == KVM_SET_MSRS ? 1 : 0;
	}
	pthread_mutex_lock(&vcpu_mutex[i]);
	if (!fake_runs[i])
		fake_runs[i] = mmap(NULL, RUN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct kvm_run *run = fake_runs[i];
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, &old);
	if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST)) {
		pthread_mutex_unlock(&vcpu_mutex[i]);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		errno = EINTR;
		return -1;
	}
	atomic_fetch_add(&runs_entered[i], 1);
	atomic_store(&in_run[i], 1);
	sigset_t wait = old;
	sigdelset(&wait, SIGUSR1);
	sigsuspend(&wait); /* "in the guest" until kicked by a signal */
	atomic_store(&in_run[i], 0);
	pthread_mutex_unlock(&vcpu_mutex[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = EINTR;
	return -1;
}

/* Forget every fake vCPU (their fds closed by the caller): indexes start at 0 again. */
static inline void fake_kvm_reset(void)
{
	for (int i = 0; i < nfake; i++) {
		if (fake_runs[i])
			munmap(fake_runs[i], RUN_SIZE);
		fake_runs[i] = NULL;
		atomic_store(&in_run[i], 0);
	}
	nfake = 0;
	fake_ids_made = 0;
	fake_fail_times = 0;
}

#endif
