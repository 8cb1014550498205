/* libFuzzer target: the host-side walk of the guest's own page tables (x86_page_walk, with
 * the Accessed/Dirty update after it) and the PVM syscall shim's search for room in the
 * guest's kernel text (pvm_syscall_find_padding): both read tables and bytes the guest wrote.
 *
 * Input: byte 0 = control bits (bit 0 CR0.PG, bit 1 CR4.PAE, bit 2 CR4.LA57, bit 3 EFER.LMA,
 * bit 4 EFER.NXE, bit 5 a write access, bit 6 CR3 folded into RAM), bytes 1-8 = CR3, 9-16 = the virtual address, then
 * guest RAM (64 KiB, the rest zero). The walk must stay inside RAM, answer a translation inside
 * RAM or an error, and never report a page size that is not 4 KiB, 2 MiB or 1 GiB; the padding
 * search must answer -1 or an aligned offset of an int3 run inside the buffer. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/pagewalk.h"
#include "arch/x86/pvm_syscall.h"
#include "fuzz_common.h"

#define RAM (1u << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 17)
		return 0;
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	memset(ram, 0, RAM);
	memcpy(ram, data + 17, size - 17 < RAM ? size - 17 : RAM);

	uint8_t c = data[0];
	uint64_t cr3, gva;
	memcpy(&cr3, data + 1, 8);
	memcpy(&gva, data + 9, 8);
	if (c & 64)
		cr3 &= (RAM - 1) & ~0xfffull; /* tables in RAM: walk deeper */
	uint64_t cr0 = (c & 1) ? X86_CR0_PG : 0;
	uint64_t cr4 = ((c & 2) ? X86_CR4_PAE : 0) | ((c & 4) ? X86_CR4_LA57 : 0);
	uint64_t efer = ((c & 8) ? EFER_LMA : 0) | ((c & 16) ? EFER_NXE : 0);

	struct page_walk w;
	int r = x86_page_walk(mem, cr0, cr3, cr4, efer, gva, &w);
	FUZZ_CHECK(r == 0 || r == -EFAULT || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(w.page_size == 4096 || w.page_size == (2u << 20) || w.page_size == (1u << 30));
		/* the entry it will update lies in RAM */
		FUZZ_CHECK(w.pte_gpa + 8 <= RAM);
		x86_page_mark_used(mem, &w, c & 32);
	}

	size_t len = size - 17 < RAM ? size - 17 : RAM;
	long off = pvm_syscall_find_padding(ram, len, gva);
	FUZZ_CHECK(off == -1 || (off >= 0 && (size_t)off + PVM_SHIM_SIZE <= len));
	if (off >= 0)
		for (unsigned i = 0; i < PVM_SHIM_SIZE; i++)
			FUZZ_CHECK(ram[off + i] == 0xcc);
	return 0;
}
