/* The floor under a snapshot load: what any VMM pays before the first instruction — a new VM,
 * its memory registered, one vCPU. Prints the median of N runs. bench/snapshot.py compares
 * petrel's load with it. Usage: snapshot_floor MIB N */
#include "bench_util.h"
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], 0, 0) : 256;
	int n = argc > 2 ? atoi(argv[2]) : 20;
	if (n < 1 || n > 1000)
		n = 20;
	double *t = calloc((size_t)n, sizeof(*t));
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0 || !t) {
		perror("/dev/kvm");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		double t0 = now_ms();
		int vm = ioctl(kvm, KVM_CREATE_VM, 0);
		void *mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		struct kvm_userspace_memory_region r = { .slot = 0, .memory_size = mib << 20,
							 .userspace_addr = (unsigned long)mem };
		int vcpu = -1;
		if (vm < 0 || mem == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0 ||
		    (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) {
			perror("kvm");
			return 1;
		}
		t[i] = now_ms() - t0;
		close(vcpu);
		close(vm);
		munmap(mem, mib << 20);
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("KVM_CREATE_VM + %lu MiB memory slot + 1 vCPU: median %.2f ms of %d (min %.2f, max %.2f)\n", mib,
	       t[n / 2], n, t[0], t[n - 1]);
	return 0;
}
