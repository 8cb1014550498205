#include "arch/x86/pagewalk.h"
#include "memory/guest_mem.h"

#include <errno.h>

#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

int x86_page_walk(const struct guest_mem *mem, uint64_t cr0, uint64_t cr3, uint64_t cr4,
		  uint64_t efer, uint64_t gva, struct page_walk *out)
{
	if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || !(efer & EFER_LMA))
		return -EINVAL;
	int levels = (cr4 & CR4_LA57) ? 5 : 4;
	uint64_t table = cr3 & PTE_ADDR;
	out->writable = out->user = out->executable = true;
	for (int level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);
		uint64_t pte;
		if (guest_mem_read(mem, table + ((gva >> shift) & 511) * 8, &pte, sizeof(pte)) < 0)
			return -EFAULT;
		if (!(pte & PTE_P))
			return -EFAULT;
		out->writable &= !!(pte & PTE_RW);
		out->user &= !!(pte & PTE_US);
		if ((efer & EFER_NXE) && (pte & PTE_NX))
			out->executable = false;
		if (level == 1 || ((pte & PTE_PS) && level <= 3)) {
			uint64_t size = 1ull << shift;
			out->pte_gpa = table + ((gva >> shift) & 511) * 8;
			out->page_size = size;
			out->gpa = (pte & PTE_ADDR & ~(size - 1)) | (gva & (size - 1));
			return 0;
		}
		table = pte & PTE_ADDR;
	}
	return -EFAULT;
}

void x86_page_mark_used(const struct guest_mem *mem, const struct page_walk *w, bool write)
{
	uint64_t *pte = guest_mem_ptr(mem, w->pte_gpa, sizeof(*pte));
	if (!pte)
		return;
	/* atomically: the guest may be changing other bits on another vCPU */
	__atomic_fetch_or(pte, PTE_A | (write ? PTE_D : 0), __ATOMIC_SEQ_CST);
	guest_mem_mark_dirty(mem, w->pte_gpa, sizeof(*pte));
}
