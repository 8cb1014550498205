#include "memory/guest_mem.h"
#include "memory/backing.h"
#include "memory/rom.h"
#include "kvm/kvm.h"
#include "memory/uffd.h"
#include "kvm/kvm_vcpu.h"
#include "util/bitmap.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* fd < 0: anonymous memory; else the region's bytes start at file_off in fd (private
 * mapping: the guest's writes never reach the file). */
static int add_region(struct guest_mem *mem, struct kvm *kvm, uint64_t gpa, uint64_t size, int fd,
		      uint64_t file_off)
{
	if (fd >= 0 && mem->backing == GUEST_MEM_PAGES_2M) {
		/* a memory file is mapped over the slot: its pages are the file's, not hugetlbfs' */
		log_error("guest memory mapped from a file cannot use 2 MiB huge pages");
		return -EINVAL;
	}
	int shm_fd = -1;
	void *p = mem->shared ? guest_mem_backing_map_shared(mem->backing, size, &shm_fd)
			      : guest_mem_backing_map(mem->backing, size);
	if (!p) {
		int err = -errno;
		log_error("cannot allocate %llu MiB of guest memory (huge_pages %s): %s",
			  (unsigned long long)(size >> 20), guest_mem_backing_name(mem->backing),
			  strerror(errno));
		return err;
	}
	struct guest_region *r = &mem->regions[mem->nregions];
	r->gpa = gpa;
	r->size = size;
	r->hva = p;
	r->file_off = file_off;
	r->from_file = fd >= 0;
	r->shm_fd = shm_fd;
	int err = kvm_set_user_memory(kvm, mem->nregions, gpa, size, p, mem->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
	/* A memory file goes over the registered range afterwards (KVM follows the new mapping
	 * through its MMU notifier): the slot is then registered the same way for a boot and a
	 * restore. */
	if (err == 0 && fd >= 0 &&
	    mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, fd,
		 (off_t)file_off) == MAP_FAILED) {
		err = -errno;
		log_error("cannot map the memory file: %s", strerror(errno));
	}
	if (err == 0 && mem->dirty_log && !(r->dirty = calloc(BITMAP_WORDS(size / GUEST_PAGE), 8)))
		err = -ENOMEM;
	if (err < 0) {
		munmap(p, size);
		if (shm_fd >= 0)
			close(shm_fd);
		r->shm_fd = -1;
		return err;
	}
	mem->nregions++;
	mem->total += size;
	return 0;
}

static int init(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start, int fd,
		bool dirty_log, enum guest_mem_backing backing, bool shared)
{
	memset(mem, 0, sizeof(*mem));
	mem->shared = shared;
	mem->dirty_log = dirty_log;
	mem->backing = backing;
	uint64_t low = size < hole_start ? size : hole_start;
	int err = add_region(mem, kvm, 0, low, fd, 0);
	if (err == 0 && size > low)
		err = add_region(mem, kvm, 1ull << 32, size - low, fd, low);
	if (err < 0)
		guest_mem_free(mem);
	return err;
}

int guest_mem_init_from(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start,
			int fd, bool dirty_log, enum guest_mem_backing backing)
{
	return init(mem, kvm, size, hole_start, fd, dirty_log, backing, false);
}

int guest_mem_init_shared(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start,
			  bool dirty_log, enum guest_mem_backing backing)
{
	return init(mem, kvm, size, hole_start, -1, dirty_log, backing, true);
}

int guest_mem_init(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start)
{
	return guest_mem_init_from(mem, kvm, size, hole_start, -1, false, GUEST_MEM_PAGES_4K);
}

int guest_mem_add_hotplug(struct guest_mem *mem, struct kvm *kvm, uint64_t gpa, uint64_t size, int fd)
{
	if (mem->nregions == GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	/* Transparent huge pages whatever RAM uses: blocks are 2 MiB-aligned multiples of 2 MiB,
	 * so each is whole huge pages, which come and go with the plugged blocks (an unplug of 128
	 * MiB drops 64 huge pages instead of 32768 small ones: bench/virtio_mem_host). hugetlbfs
	 * 2 MiB pages would be reserved whole at start. 4 KiB pages on hosts without THP. */
	enum guest_mem_backing b = mem->backing;
	bool thp = guest_mem_backing_check(GUEST_MEM_PAGES_THP, size, NULL, 0) == 0;
	bool shared = mem->shared;
	mem->backing = thp ? GUEST_MEM_PAGES_THP : GUEST_MEM_PAGES_4K;
	mem->shared = false; /* virtio-mem and virtio-fs do not go together (config/fs_config.c) */
	int err = add_region(mem, kvm, gpa, size, fd, mem->total);
	mem->backing = b;
	mem->shared = shared;
	if (err == 0)
		mem->regions[mem->nregions - 1].hotplug = true;
	return err;
}

uint64_t guest_mem_ram_size(const struct guest_mem *mem)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < mem->nregions; i++)
		n += mem->regions[i].hotplug ? 0 : mem->regions[i].size;
	return n;
}

void guest_mem_free(struct guest_mem *mem)
{
	uffd_lazy_end(mem); /* its pager stops before the memory it fills goes away */
	for (unsigned i = 0; i < mem->nregions; i++) {
		munmap(mem->regions[i].hva, mem->regions[i].size);
		if (mem->regions[i].shm_fd > 0)
			close(mem->regions[i].shm_fd);
		mem->regions[i].shm_fd = -1;
		free(mem->regions[i].dirty);
		mem->regions[i].dirty = NULL;
	}
	mem->nregions = 0;
	mem->total = 0;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	guest_mem_mark_dirty(mem, gpa, len);
	return 0;
}

uint64_t guest_mem_resident(const struct guest_mem *mem)
{
	const size_t page = 4096, chunk = 1 << 16; /* pages per mincore() call */
	unsigned char *vec = malloc(chunk);
	uint64_t total = 0;
	if (!vec)
		return 0;
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		for (uint64_t off = 0; off < r->size; off += (uint64_t)chunk * page) {
			size_t len = (size_t)MIN((uint64_t)chunk * page, r->size - off);
			if (mincore(r->hva + off, len, vec) < 0)
				continue;
			for (size_t p = 0; p < len / page; p++)
				total += vec[p] & 1;
		}
	}
	free(vec);
	return total * page;
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
	return mem->nregions ? mem->regions[0].gpa + mem->regions[0].size : 0;
}

void guest_mem_mark_dirty_logged(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		uint64_t first = (gpa - r->gpa) / GUEST_PAGE;
		uint64_t end = gpa - r->gpa + len > r->size ? r->size : gpa - r->gpa + len;
		uint64_t last = (end - 1) / GUEST_PAGE;
		for (uint64_t pg = first; pg <= last; pg++)
			bitmap_set_atomic(r->dirty, pg);
		return;
	}
}

void guest_mem_mark_dirty_hva_logged(const struct guest_mem *mem, const void *p, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		const uint8_t *b = p;
		if (b >= r->hva && b < r->hva + r->size) {
			guest_mem_mark_dirty(mem, r->gpa + (uint64_t)(b - r->hva), len);
			return;
		}
	}
}

#define HOLE_END_PAGES (GUEST_MEM_VGA_HOLE_END / GUEST_PAGE)

/* Region i's KVM slot(s): one, or two around the VGA window for region 0 with the hole. */
static int set_region_slots(struct guest_mem *mem, struct kvm *kvm, unsigned i, uint32_t flags)
{
	struct guest_region *r = &mem->regions[i];
	if (i != 0 || !mem->vga_hole)
		return kvm_set_user_memory(kvm, i, r->gpa, r->size, r->hva, flags);
	int e = kvm_set_user_memory(kvm, 0, 0, GUEST_MEM_VGA_HOLE, r->hva, flags);
	return e ?: kvm_set_user_memory(kvm, LOW_TAIL_SLOT, GUEST_MEM_VGA_HOLE_END, r->size - GUEST_MEM_VGA_HOLE_END,
					r->hva + GUEST_MEM_VGA_HOLE_END, flags);
}

int guest_mem_hole_vga(struct guest_mem *mem, struct kvm *kvm)
{
	if (mem->vga_hole)
		return 0;
	if (!mem->nregions || mem->regions[0].gpa || mem->regions[0].size <= GUEST_MEM_VGA_HOLE_END)
		return -EINVAL;
	int e = kvm_set_user_memory(kvm, 0, 0, 0, NULL, 0);   /* a slot changes size only deleted */
	if (e < 0)
		return e;
	mem->vga_hole = true;
	return set_region_slots(mem, kvm, 0, mem->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

static int set_logging(struct guest_mem *mem, struct kvm *kvm, bool on)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		int e = set_region_slots(mem, kvm, i, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
		if (e < 0)
			return e;
	}
	return 0;
}

int guest_mem_dirty_log_start(struct guest_mem *mem, struct kvm *kvm)
{
	if (mem->dirty_log)
		return 0;
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct guest_region *r = &mem->regions[i];
		if (!r->dirty && !(r->dirty = calloc(guest_region_bitmap_words(r), 8)))
			return -ENOMEM;
	}
	/* petrel's own record first, so no write falls between the two. */
	__atomic_store_n(&mem->dirty_log, true, __ATOMIC_RELEASE);
	int e = set_logging(mem, kvm, true);
	if (e < 0)
		guest_mem_dirty_log_stop(mem, kvm);
	return e;
}

int guest_mem_dirty_log_stop(struct guest_mem *mem, struct kvm *kvm)
{
	/* The bitmaps stay: a device thread may be marking one right now. */
	__atomic_store_n(&mem->dirty_log, false, __ATOMIC_RELEASE);
	return set_logging(mem, kvm, false);
}

int guest_mem_clear_dirty(struct guest_mem *mem, struct kvm *kvm, unsigned r, uint64_t first, uint64_t npages,
			  uint64_t *bitmap)
{
	if (!kvm->manual_protect)
		return 0; /* reading the log re-protected the pages already */
	const struct guest_region *g = &mem->regions[r];
	uint64_t total = g->size / GUEST_PAGE;
	if (first % 64 || first >= total)
		return -EINVAL;
	if (npages > total - first)
		npages = total - first;
	if (r == 0 && mem->vga_hole) {
		/* the pages below the window in slot 0, those above in LOW_TAIL_SLOT */
		uint64_t low = GUEST_MEM_VGA_HOLE / GUEST_PAGE, end = first + npages;
		if (first < low) {
			struct kvm_clear_dirty_log c = { .slot = 0, .first_page = first,
							 .num_pages = (uint32_t)((end < low ? end : low) - first),
							 .dirty_bitmap = bitmap };
			if (kvm_clear_dirty_log(kvm, &c) < 0)
				return -errno;
		}
		uint64_t from = first > HOLE_END_PAGES ? first : HOLE_END_PAGES;
		if (end <= from)
			return 0;
		struct kvm_clear_dirty_log c = { .slot = LOW_TAIL_SLOT, .first_page = from - HOLE_END_PAGES,
						 .num_pages = (uint32_t)(end - from),
						 .dirty_bitmap = bitmap + (from - first) / 64 };
		return kvm_clear_dirty_log(kvm, &c);
	}
	struct kvm_clear_dirty_log c = { .slot = r, .first_page = first, .num_pages = (uint32_t)npages,
					 .dirty_bitmap = bitmap };
	return kvm_clear_dirty_log(kvm, &c);
}

int guest_mem_fetch_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps)
{
	if (!mem->dirty_log)
		return -EINVAL;
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct guest_region *r = &mem->regions[i];
		size_t words = guest_region_bitmap_words(r);
		memset(bitmaps[i], 0, words * 8);
		struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = bitmaps[i] };
		if (kvm_get_dirty_log(kvm, &log) < 0)
			return -errno;
		/* the hole's tail: its first page is word HOLE_END_PAGES / 64's first bit */
		struct kvm_dirty_log tail = { .slot = LOW_TAIL_SLOT, .dirty_bitmap = bitmaps[i] + HOLE_END_PAGES / 64 };
		if (i == 0 && mem->vga_hole && kvm_get_dirty_log(kvm, &tail) < 0)
			return -errno;
		for (size_t w = 0; w < words; w++)
			bitmaps[i][w] |= __atomic_exchange_n(&r->dirty[w], 0, __ATOMIC_ACQ_REL);
	}
	return 0;
}

int guest_mem_take_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps)
{
	int e = guest_mem_fetch_dirty(mem, kvm, bitmaps);
	/* KVM_CLEAR_DIRTY_LOG works in chunks of 2^32 pages at most: a slot here is smaller. */
	for (unsigned i = 0; !e && i < mem->nregions; i++)
		e = guest_mem_clear_dirty(mem, kvm, i, 0, mem->regions[i].size / GUEST_PAGE, bitmaps[i]);
	return e;
}
