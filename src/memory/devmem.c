/* Guest-physical space for device memory above RAM: see devmem.h. */
#include "memory/devmem.h"

#include <errno.h>

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

void devmem_init(struct devmem *d, uint64_t ram_end)
{
	uint64_t start = ram_end > (4ull << 30) ? ram_end : (4ull << 30);
	d->base = d->next_gpa = align_up(start, DEVMEM_ALIGN);
	d->next_slot = DEVMEM_SLOT_FIRST;
}

int devmem_alloc(struct devmem *d, uint64_t size, uint64_t align, uint64_t *gpa, uint32_t *slot)
{
	if (align == 0)
		align = 4096;
	if (align < 4096 || (align & (align - 1)) || align > DEVMEM_LIMIT)
		return -EINVAL;
	if (size == 0 || size % 4096)
		return -EINVAL;
	if (d->next_slot >= DEVMEM_SLOT_FIRST + DEVMEM_MAX_SLOTS)
		return -ENOSPC;
	uint64_t at = align_up(d->next_gpa, align);
	if (at > DEVMEM_LIMIT || size > DEVMEM_LIMIT - at)
		return -ENOSPC;
	*gpa = at;
	*slot = d->next_slot++;
	d->next_gpa = at + size;
	return 0;
}
