/* Baseline for the port-I/O exit benchmark: the cheapest possible VMM. It creates a VM with
 * raw KVM ioctls, starts one vCPU directly in 64-bit ring 3 with IOPL=3 running
 *     loop: out 0xf5, al ; dec rcx ; jnz loop ; out 0xf4, al
 * and answers each KVM_EXIT_IO by re-entering at once. Prints ns per exit.
 * Usage: bare_exit_loop ITERATIONS */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#define MEM_SIZE (4u << 20)
#define CODE 0x100000u
#define PML4 0x1000u
#define PDPT 0x2000u
#define PD 0x3000u
#define GDT 0x500u

static int die(const char *what)
{
	fprintf(stderr, "bare_exit_loop: %s: %s\n", what, strerror(errno));
	return 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	if (!iters)
		iters = 1;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("open /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return die("mmap");
	struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0,
		.memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return die("KVM_SET_USER_MEMORY_REGION");

	/* User-accessible identity map of the first 2 MiB... 4 MiB with two 2 MiB pages. */
	uint64_t *pml4 = (uint64_t *)(mem + PML4), *pdpt = (uint64_t *)(mem + PDPT), *pd = (uint64_t *)(mem + PD);
	pml4[0] = PDPT | 7;
	pdpt[0] = PD | 7;
	pd[0] = 0x000000 | 0x87;
	pd[1] = 0x200000 | 0x87;
	uint64_t *gdt = (uint64_t *)(mem + GDT);
	gdt[1] = 0x00af9b000000ffffull; /* kernel code */
	gdt[2] = 0x00cf93000000ffffull; /* kernel data */
	gdt[3] = 0x00cff3000000ffffull; /* user data (0x1b) */
	gdt[4] = 0x00affb000000ffffull; /* user code (0x23) */
	static const uint8_t code[] = {
		0xe6, 0xf5,             /* out 0xf5, al */
		0x48, 0xff, 0xc9,       /* dec rcx */
		0x75, 0xf9,             /* jnz -7 */
		0xe6, 0xf4,             /* out 0xf4, al */
		0xeb, 0xfe,             /* jmp . */
	};
	memcpy(mem + CODE, code, sizeof(code));

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return die("KVM_CREATE_VCPU");
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return die("mmap kvm_run");
	/* CPUID as KVM supports it (PVM refuses to run a vCPU without one). */
	for (int n = 256; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		c->nent = (uint32_t)n;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			ioctl(vcpu, KVM_SET_CPUID2, c);
			free(c);
			break;
		}
		free(c);
	}

	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
		return die("KVM_GET_SREGS");
	struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 0x23, .type = 0xb,
				  .present = 1, .dpl = 3, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment ds = { .base = 0, .limit = 0xffffffff, .selector = 0x1b, .type = 0x3,
				  .present = 1, .dpl = 3, .s = 1, .db = 1, .g = 1 };
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.tr = (struct kvm_segment){ .selector = 0x28, .limit = 0x67, .type = 0xb, .present = 1 };
	s.gdt.base = GDT;
	s.gdt.limit = 8 * 8 - 1;
	s.cr0 = 0x80000033;
	s.cr3 = PML4;
	s.cr4 = 0x20;
	s.efer = 0x500;
	if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0)
		return die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = CODE, .rcx = iters, .rsp = 0x300000,
				 .rflags = 0x2 | (3u << 12) /* IOPL=3 */ };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return die("KVM_SET_REGS");

	uint64_t exits = 0, t0 = now_ns();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return die("KVM_RUN");
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "bare_exit_loop: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		if (run->io.port == 0xf4)
			break;
		exits++;
	}
	uint64_t dt = now_ns() - t0;
	printf("bare KVM_RUN loop: %llu exits in %.3f s: %.0f ns per exit\n",
	       (unsigned long long)exits, (double)dt / 1e9, (double)dt / (double)exits);
	return 0;
}
