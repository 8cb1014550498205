/* Walking the guest's own page tables (long mode, 4- or 5-level) from the host side. */
#ifndef PETREL_ARCH_X86_PAGEWALK_H
#define PETREL_ARCH_X86_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;

struct page_walk {
	uint64_t gpa;     /* physical address of the byte at gva */
	bool writable;    /* RW set at every level */
	bool user;        /* U/S set at every level */
	bool executable;  /* NX clear at every level (or EFER.NXE off) */
	uint64_t page_size;
	uint64_t pte_gpa; /* where the last-level entry is (for setting its A/D bits) */
};

/* Translate gva through the tables at cr3. Returns 0, -EFAULT if not mapped or a table lies
 * outside guest RAM, -EINVAL if paging is not in long mode. */
int x86_page_walk(const struct guest_mem *mem, uint64_t cr0, uint64_t cr3, uint64_t cr4,
		  uint64_t efer, uint64_t gva, struct page_walk *out);

/* After an access through w that petrel made on the guest's behalf: set Accessed (and Dirty,
 * for a write) in the last-level entry, as the CPU would. */
void x86_page_mark_used(const struct guest_mem *mem, const struct page_walk *w, bool write);

#endif
