/* Guest RAM backing: 4 KiB pages, THP or hugetlbfs 2 MiB pages. See backing.h. */
#include "memory/backing.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)   /* log2(2 MiB) << MAP_HUGE_SHIFT */
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21u << 26)  /* the same for memfd_create */
#endif

static const char *const names[] = {
	[GUEST_MEM_PAGES_4K] = "None",
	[GUEST_MEM_PAGES_THP] = "Transparent",
	[GUEST_MEM_PAGES_2M] = "2M",
};

const char *guest_mem_backing_name(enum guest_mem_backing b)
{
	return (unsigned)b < sizeof(names) / sizeof(names[0]) ? names[b] : "?";
}

int guest_mem_backing_from_name(const char *name, enum guest_mem_backing *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum guest_mem_backing)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A small sysfs file's first line; NULL-terminated into buf. 0 or -errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return e;
}

int guest_mem_backing_check(enum guest_mem_backing b, uint64_t size, char *err, size_t errlen)
{
	char line[256];
	if (b == GUEST_MEM_PAGES_THP) {
		/* "always [madvise] never": THP works unless "never" is the one chosen */
		if (read_line("/sys/kernel/mm/transparent_hugepage/enabled", line, sizeof(line)) < 0)
			return error_set(err, errlen, -EINVAL,
					 "huge_pages Transparent: this host kernel has no "
					 "transparent huge pages");
		if (strstr(line, "[never]"))
			return error_set(err, errlen, -EINVAL,
					 "huge_pages Transparent: transparent huge pages are "
					 "disabled on this host (/sys/kernel/mm/transparent_hugepage/enabled "
					 "is never)");
		return 0;
	}
	if (b != GUEST_MEM_PAGES_2M)
		return 0;
	if (size % GUEST_MEM_HUGE_PAGE)
		return error_set(err, errlen, -EINVAL,
				 "huge_pages 2M: the memory size must be a multiple of 2 MiB");
	uint64_t need = size / GUEST_MEM_HUGE_PAGE;
	if (read_line("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", line, sizeof(line)) < 0)
		return error_set(err, errlen, -EINVAL,
				 "huge_pages 2M: this host has no 2 MiB huge pages "
				 "(/sys/kernel/mm/hugepages/hugepages-2048kB is missing)");
	unsigned long long free_pages = strtoull(line, NULL, 10), total = 0;
	if (free_pages >= need)
		return 0;
	if (read_line("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", line, sizeof(line)) == 0)
		total = strtoull(line, NULL, 10);
	return error_set(err, errlen, -EINVAL,
			 "huge_pages 2M: the VM needs %llu free 2 MiB huge pages and "
			 "the host has %llu free; reserve more (e.g. echo %llu > "
			 "/proc/sys/vm/nr_hugepages) or use huge_pages None or Transparent",
			 (unsigned long long)need, free_pages, total + (need - free_pages));
}

void *guest_mem_backing_map(enum guest_mem_backing b, uint64_t size)
{
	if (b == GUEST_MEM_PAGES_2M) {
		if (size % GUEST_MEM_HUGE_PAGE) {
			errno = EINVAL;
			return NULL;
		}
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (b != GUEST_MEM_PAGES_THP) {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE | MAP_ANONYMOUS,
			       -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	/* THP: huge pages only fill 2 MiB-aligned ranges, so reserve 2 MiB more, keep the aligned
	 * part and give the ends back. */
	uint64_t span = size + GUEST_MEM_HUGE_PAGE;
	uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE | MAP_ANONYMOUS,
			    -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + GUEST_MEM_HUGE_PAGE - 1) & ~(uintptr_t)(GUEST_MEM_HUGE_PAGE - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	uint8_t *end = p + size, *raw_end = raw + span;
	if (raw_end > end)
		munmap(end, (size_t)(raw_end - end));
	if (madvise(p, size, MADV_HUGEPAGE) < 0) {
		int e = errno;
		munmap(p, size);
		errno = e;
		return NULL;
	}
	return p;
}

void *guest_mem_backing_map_shared(enum guest_mem_backing b, uint64_t size, int *fd)
{
	unsigned flags = MFD_CLOEXEC;
	if (b == GUEST_MEM_PAGES_2M) {
		if (size % GUEST_MEM_HUGE_PAGE) {
			errno = EINVAL;
			return NULL;
		}
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	}
	int f = memfd_create("petrel-guest-ram", flags);
	if (f < 0)
		return NULL;
	void *p = MAP_FAILED;
	if (ftruncate(f, (off_t)size) == 0)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (b == GUEST_MEM_PAGES_2M ? MAP_POPULATE : 0),
			 f, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(f);
		errno = e;
		return NULL;
	}
	/* shmem's huge pages follow /sys/kernel/mm/transparent_hugepage/shmem_enabled: a hint */
	if (b == GUEST_MEM_PAGES_THP)
		madvise(p, size, MADV_HUGEPAGE);
	*fd = f;
	return p;
}

void guest_mem_backing_unmap(void *p, uint64_t size)
{
	if (p)
		munmap(p, size);
}
