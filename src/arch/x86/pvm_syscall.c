#include "arch/x86/pvm_syscall.h"
#include "arch/x86/pagewalk.h"
#include "kvm/kvm_vcpu.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

#define PF_VECTOR 14
#define SEARCH_SPAN (2u << 20) /* look for padding this far past LSTAR */

int pvm_syscall_init(struct pvm_syscall *ps, struct kvm *kvm)
{
	memset(ps, 0, sizeof(*ps));
	pthread_mutex_init(&ps->lock, NULL);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR,
				      .args = { KVM_MSR_EXIT_REASON_FILTER } };
	int e = kvm_enable_cap(kvm, &cap);
	if (e < 0) {
		log_warn("PVM: cannot enable user-space MSR exits (%s): guest user space may not run",
			 strerror(-e));
		return e;
	}
	uint8_t deny = 0; /* one MSR, its bit clear: writes exit to petrel (KVM copies it) */
	struct kvm_msr_filter f = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	f.ranges[0] = (struct kvm_msr_filter_range){ .flags = KVM_MSR_FILTER_WRITE, .nmsrs = 1,
						     .base = MSR_LSTAR, .bitmap = &deny };
	if ((e = kvm_set_msr_filter(kvm, &f)) < 0) {
		log_warn("PVM: cannot filter MSR_LSTAR (%s): guest user space may not run",
			 strerror(-e));
		return e;
	}
	return 0;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void pvm_syscall_shim_code(uint8_t code[PVM_SHIM_SIZE], uint64_t lstar, uint64_t orig_pf)
{
	/* On entry the stack holds the #PF frame: error code, RIP, CS, RFLAGS, RSP, SS. */
	static const uint8_t tmpl[0x30] = {
		0x50,                                     /* 00 push %rax                 */
		0x48, 0x8b, 0x05, 0x28, 0, 0, 0,          /* 01 mov  0x30(%rip),%rax: LSTAR */
		0x48, 0x39, 0x44, 0x24, 0x10,             /* 08 cmp  %rax,0x10(%rsp): RIP */
		0x58,                                     /* 0d pop  %rax                 */
		0x75, 0x15,                               /* 0e jne  0x25                 */
		0xf6, 0x44, 0x24, 0x10, 0x03,             /* 10 testb $3,0x10(%rsp): CS   */
		0x74, 0x0e,                               /* 15 je   0x25                 */
		0x6a, 0x02,                               /* 17 push $2                   */
		0x9d,                                     /* 19 popfq: IF, DF, AC, TF off */
		0x48, 0x8b, 0x64, 0x24, 0x20,             /* 1a mov  0x20(%rsp),%rsp: user RSP */
		0xff, 0x25, 0x0b, 0, 0, 0,                /* 1f jmp  *0x30(%rip): LSTAR   */
		0xff, 0x25, 0x0d, 0, 0, 0,                /* 25 jmp  *0x38(%rip): old #PF */
		0xcc, 0xcc, 0xcc, 0xcc, 0xcc,             /* 2b                           */
	};
	memcpy(code, tmpl, sizeof(tmpl));
	put64(code + 0x30, lstar);
	put64(code + 0x38, orig_pf);
}

long pvm_syscall_find_padding(const uint8_t *buf, size_t len, uint64_t base)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		run = buf[i] == 0xcc ? run + 1 : 0;
		if (run < PVM_SHIM_SIZE + 32)
			continue;
		/* Leave at least 16 int3 bytes before the shim, start on a 16-byte boundary. */
		size_t start = i + 1 - run + 16;
		size_t aligned = (size_t)((((base + start) + 15) & ~15ull) - base);
		if (aligned + PVM_SHIM_SIZE <= i + 1)
			return (long)aligned;
	}
	return -1;
}

struct cpu_view {
	struct kvm_sregs s;
	const struct guest_mem *mem;
};

static int walk(const struct cpu_view *c, uint64_t gva, struct page_walk *w)
{
	return x86_page_walk(c->mem, c->s.cr0, c->s.cr3, c->s.cr4, c->s.efer, gva, w);
}

/* Find int3 padding in supervisor-only executable text after LSTAR. */
static int find_shim_place(const struct cpu_view *c, uint64_t lstar, uint64_t *gva, uint64_t *gpa)
{
	uint8_t page[4096];
	for (uint64_t va = lstar & ~4095ull; va < (lstar & ~4095ull) + SEARCH_SPAN; va += 4096) {
		struct page_walk w;
		if (walk(c, va, &w) < 0 || !w.executable || w.user)
			continue;
		if (guest_mem_read(c->mem, w.gpa, page, sizeof(page)) < 0)
			continue;
		long off = pvm_syscall_find_padding(page, sizeof(page), va);
		if (off >= 0) {
			*gva = va + (uint64_t)off;
			*gpa = w.gpa + (uint64_t)off;
			return 0;
		}
	}
	return -ENOSPC;
}

static int install(struct pvm_syscall *ps, int vcpu_fd, const struct guest_mem *mem)
{
	struct cpu_view c = { .mem = mem };
	int e = kvm_get_sregs(vcpu_fd, &c.s);
	if (e < 0)
		return e;
	if (c.s.idt.limit < PF_VECTOR * 16 + 15)
		return -EAGAIN; /* no IDT yet */
	struct page_walk w;
	uint64_t gate_va = c.s.idt.base + PF_VECTOR * 16;
	uint8_t gate[16];
	if (walk(&c, gate_va, &w) < 0 || (w.gpa & 4095) > 4096 - 16 ||
	    guest_mem_read(mem, w.gpa, gate, sizeof(gate)) < 0)
		return -EFAULT;
	uint64_t gate_gpa = w.gpa;
	uint64_t handler = (uint64_t)(gate[0] | gate[1] << 8) | (uint64_t)(gate[6] | gate[7] << 8) << 16 |
			   (uint64_t)(gate[8] | gate[9] << 8 | gate[10] << 16 | (uint32_t)gate[11] << 24) << 32;
	if (!(gate[5] & 0x80))
		return -EAGAIN; /* gate not present yet */

	uint64_t shim, shim_gpa;
	int err = find_shim_place(&c, ps->lstar, &shim, &shim_gpa);
	if (err < 0)
		return err;
	uint8_t code[PVM_SHIM_SIZE];
	pvm_syscall_shim_code(code, ps->lstar, handler);
	if (guest_mem_write(mem, shim_gpa, code, sizeof(code)) < 0)
		return -EFAULT;
	gate[0] = (uint8_t)shim;
	gate[1] = (uint8_t)(shim >> 8);
	gate[6] = (uint8_t)(shim >> 16);
	gate[7] = (uint8_t)(shim >> 24);
	uint32_t hi = (uint32_t)(shim >> 32);
	memcpy(gate + 8, &hi, 4);
	if (guest_mem_write(mem, gate_gpa, gate, sizeof(gate)) < 0)
		return -EFAULT;
	ps->shim = shim;
	ps->shim_gpa = shim_gpa;
	ps->orig_pf = handler;
	ps->installed = true;
	log_info("PVM: SYSCALL shim at 0x%llx (LSTAR 0x%llx, #PF handler 0x%llx)",
		 (unsigned long long)shim, (unsigned long long)ps->lstar, (unsigned long long)handler);
	return 0;
}

void pvm_syscall_reset(struct pvm_syscall *ps)
{
	pthread_mutex_lock(&ps->lock);
	ps->installed = false;
	ps->lstar = ps->shim = ps->shim_gpa = ps->orig_pf = 0;
	pthread_mutex_unlock(&ps->lock);
}

int pvm_syscall_lstar_write(struct pvm_syscall *ps, int vcpu_fd, const struct guest_mem *mem,
			    uint64_t value)
{
	if (kvm_set_msr(vcpu_fd, MSR_LSTAR, value) < 0)
		return -EINVAL;
	/* The write itself is done; a shim that cannot be placed is only reported. */
	pthread_mutex_lock(&ps->lock);
	if (ps->installed && value != ps->lstar) {
		uint8_t q[8];
		put64(q, value); /* the shim's LSTAR slot */
		guest_mem_write(mem, ps->shim_gpa + 0x30, q, sizeof(q));
	}
	ps->lstar = value;
	if (!ps->installed && value) {
		int err = install(ps, vcpu_fd, mem);
		if (err < 0 && err != -EAGAIN)
			log_warn("PVM: cannot install the SYSCALL shim (%s): guest user space may not run",
				 strerror(-err));
	}
	pthread_mutex_unlock(&ps->lock);
	return 0;
}
