/* petrelctl's memory for petreld's answers. Parsing `list` at 1000 VMs (36 KB of JSON) makes
 * ~480 KB of jansson objects, and on this virtualized host every page the heap touches for the
 * first time is a page fault that costs ~10 us: 150 of them were a third of the command's CPU.
 * A big answer is therefore parsed into one region mapped with MAP_POPULATE (the kernel fills
 * it in one call), from which jansson's allocations are bumped. Frees inside it do nothing (a
 * command is short; a long one, top, falls back to malloc once the region is used up). */
#include "ctl/ctl.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BIG_ANSWER (16u << 10)   /* smaller answers: a few pages, not worth a mapping */
#define PER_BYTE 16              /* region per byte of JSON: 480 KB of objects for 36 KB */
#define REGION_MAX (64u << 20)

static char *base, *end;
static _Atomic(uintptr_t) cur;

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (base) {
		uintptr_t p = atomic_fetch_add(&cur, n);
		if (p + n <= (uintptr_t)end)
			return (void *)p;
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if ((char *)p >= base && (char *)p < end)
		return;
	free(p);
}

void ctl_arena_init(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void ctl_arena_for(size_t len)
{
	if (base || len < BIG_ANSWER)
		return;
	size_t size = len > REGION_MAX / PER_BYTE ? REGION_MAX : (len * PER_BYTE + 4095) & ~(size_t)4095;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return;
	atomic_store(&cur, (uintptr_t)p);
	end = (char *)p + size;
	base = p;
}
