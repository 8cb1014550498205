/* Guest RAM: a set of regions mapped into the host, and GPA -> HVA translation.
 * Every access on behalf of the guest goes through the bounds-checked helpers here. */
#ifndef PETREL_MEMORY_GUEST_MEM_H
#define PETREL_MEMORY_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/backing.h"
#include "util/bitmap.h"

#define GUEST_MEM_MAX_REGIONS 4
/* The guest page: the unit of dirty tracking, snapshots, migration and lazy loading. */
#define GUEST_PAGE 4096ull

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t file_off;   /* where the region's bytes are in a memory file (regions in order) */
	bool from_file;      /* mapped from a snapshot's memory file (else anonymous memory) */
	bool lazy;           /* filled on first touch through a userfaultfd (uffd.h): which pages
			      * are present says nothing about which hold data */
	uint64_t *dirty;     /* with dirty logging: pages petrel itself wrote (bit per page) */
	bool hotplug;        /* virtio-mem's region (guest_mem_add_hotplug): not boot RAM */
	int shm_fd;          /* with shared memory: the region's memfd, else -1 */
};

/* The 64-bit words of a bitmap with a bit per page of region g (dirty logs, pages sent). */
static inline size_t guest_region_bitmap_words(const struct guest_region *g)
{
	return BITMAP_WORDS(g->size / GUEST_PAGE);
}

struct guest_mem {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned nregions;
	uint64_t total;      /* bytes of every region (RAM and hot-pluggable: the memory file's size) */
	bool dirty_log;      /* KVM logs the pages the guest writes (diff snapshots) */
	enum guest_mem_backing backing; /* 4 KiB pages, THP or hugetlbfs 2 MiB pages */
	struct guest_lazy *lazy; /* lazy restore in progress (uffd.h), else NULL */
	int filling;         /* a userfaultfd fills it now (lazy restore, post-copy): guest_mem_filling() */
	bool shared;         /* boot RAM is shared memfd memory a vhost-user back end can map */
	bool vga_hole;       /* region 0's KVM slots leave out the VGA window (guest_mem_hole_vga) */
};

/* The legacy VGA window (stdvga, devices/display/stdvga.h) in region 0. */
#define GUEST_MEM_VGA_HOLE 0xa0000ull
#define GUEST_MEM_VGA_HOLE_END 0xc0000ull   /* a multiple of 64 pages: the logs' words line up */

struct kvm;
/* Take [GUEST_MEM_VGA_HOLE, GUEST_MEM_VGA_HOLE_END) out of region 0's KVM slot so the guest's
 * accesses there exit (MMIO for the VGA); region 0 becomes two KVM slots, 0 below and
 * LOW_TAIL_SLOT above, whose dirty logs are read and cleared as the region's one. Its host
 * memory stays (those 128 KiB are unused). Before the vCPUs run. 0 or -errno. */
int guest_mem_hole_vga(struct guest_mem *mem, struct kvm *kvm);

/* Whether a userfaultfd still fills guest memory (a lazy restore's pager or handler, a
 * post-copy migration's destination): a page dropped now would be filled again behind the
 * dropper's back, or leave its filler waiting on it, so the balloon and virtio-mem hold back.
 * Set when the memory is registered, cleared when it is unregistered (any thread). */
static inline bool guest_mem_filling(const struct guest_mem *m)
{
	return __atomic_load_n(&m->filling, __ATOMIC_ACQUIRE);
}

static inline void guest_mem_set_filling(struct guest_mem *m, bool on)
{
	__atomic_store_n(&m->filling, on, __ATOMIC_RELEASE);
}

struct kvm;

/* Allocate `size` bytes of RAM, split around the 32-bit MMIO hole [hole_start, 4 GiB),
 * and register it with KVM. */
int guest_mem_init(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start);
/* The same layout with every region's bytes mapped privately from fd (a snapshot's memory
 * file: region i at the sum of the sizes before it) or, with fd < 0, anonymous memory backed
 * as `backing` says (2M: not with a file); optionally with dirty logging on. */
int guest_mem_init_from(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start,
			int fd, bool dirty_log, enum guest_mem_backing backing);
/* Boot RAM as guest_mem_init_from without a file, but each region a shared mapping of a memfd
 * (regions[i].shm_fd) that a vhost-user back end maps too (docs/virtio-fs.md). */
int guest_mem_init_shared(struct guest_mem *mem, struct kvm *kvm, uint64_t size, uint64_t hole_start,
			  bool dirty_log, enum guest_mem_backing backing);
void guest_mem_free(struct guest_mem *mem);
/* Add virtio-mem's region [gpa, gpa+size) after RAM (a KVM slot of its own, dirty logging as
 * RAM's, its bytes at the end of a memory file fd, else anonymous MAP_NORESERVE memory on
 * transparent huge pages whatever RAM's backing): in snapshots and migration like RAM, but not
 * in the e820 map nor in guest_mem_ram_size. */
int guest_mem_add_hotplug(struct guest_mem *mem, struct kvm *kvm, uint64_t gpa, uint64_t size, int fd);
/* Bytes of boot RAM (every region but the hot-pluggable one). */
uint64_t guest_mem_ram_size(const struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) if the whole range is RAM inside one region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* Copy to/from guest RAM; -EFAULT if any byte is outside RAM. */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len);
/* Whether dirty logging is on (an acquire load: the bitmaps are in place when it is). Inline,
 * as are the two checks below: devices ask several times per request, and logging is rare. */
static inline bool guest_mem_logging(const struct guest_mem *mem)
{
	/* pairs with the release in guest_mem_dirty_log_start */
	return __atomic_load_n(&mem->dirty_log, __ATOMIC_ACQUIRE);
}
void guest_mem_mark_dirty_logged(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
void guest_mem_mark_dirty_hva_logged(const struct guest_mem *mem, const void *p, uint64_t len);
/* With dirty logging on: note that petrel (a device, the emulator) wrote [gpa, gpa+len), which
 * KVM's dirty log does not see. Safe from any thread; a no-op otherwise. */
static inline void guest_mem_mark_dirty(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (len && guest_mem_logging(mem))
		guest_mem_mark_dirty_logged(mem, gpa, len);
}
/* The same for a host pointer into guest RAM. */
static inline void guest_mem_mark_dirty_hva(const struct guest_mem *mem, const void *p, uint64_t len)
{
	if (guest_mem_logging(mem))
		guest_mem_mark_dirty_hva_logged(mem, p, len);
}
/* Every page written since the last call (KVM's dirty log of each region, ORed with petrel's
 * own), into bitmaps[r] (a bit per page, caller-allocated, zeroed here), and start over.
 * -EINVAL if dirty logging is off. */
int guest_mem_take_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps);
/* The same in two steps (live migration): fetch which pages are dirty, then, just before
 * copying each chunk of them, clear their bits in KVM's log and write-protect them again
 * (first: a multiple of 64 pages into region r; bitmap: those pages' bits, clear happens for
 * the set ones). Writes between the two still count: their pages are copied after the clear.
 * Without manual protection (old KVM) the fetch re-protected them and clearing does nothing. */
int guest_mem_fetch_dirty(struct guest_mem *mem, struct kvm *kvm, uint64_t **bitmaps);
int guest_mem_clear_dirty(struct guest_mem *mem, struct kvm *kvm, unsigned r, uint64_t first, uint64_t npages,
			  uint64_t *bitmap);
/* Turn dirty logging on for a running VM (live migration): KVM logs every slot's writes and
 * petrel its own from now on. A no-op when it is on already. */
int guest_mem_dirty_log_start(struct guest_mem *mem, struct kvm *kvm);
/* And off again (a migration failed on a VM that does not track dirty pages otherwise). */
int guest_mem_dirty_log_stop(struct guest_mem *mem, struct kvm *kvm);

/* mem_scan.c: which pages of a region were ever touched (a byte per page; present or swapped
 * out), or NULL where that says nothing (mapped from a file, filled lazily) or cannot be
 * read: then every page counts. Untouched pages read as zero. Free the map. */
uint8_t *guest_region_touched(const struct guest_region *g);
bool guest_page_is_zero(const void *page);

/* Bytes of guest RAM backed by host memory right now (pages the guest or petrel touched). */
uint64_t guest_mem_resident(const struct guest_mem *mem);
/* Highest RAM address below 4 GiB + 1. */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

#endif
