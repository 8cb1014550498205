/* Unit tests for how guest RAM is backed (src/memory/backing.c): Firecracker's huge_pages
 * None, Transparent and 2M. The 2M test reserves two huge pages in the host's pool for a
 * moment when it may (root) and gives them back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/backing.h"
#include "memory/devmem.h"
#include "unit.h"

#define NR_HUGEPAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

TEST(backing_names)
{
	static const char *const names[] = { "None", "Transparent", "2M" };
	for (int i = 0; i < 3; i++) {
		enum guest_mem_backing b;
		REQUIRE_EQ(guest_mem_backing_from_name(names[i], &b), 0);
		CHECK_EQ(b, i);
		CHECK_STR_EQ(guest_mem_backing_name(b), names[i]);
	}
	enum guest_mem_backing b;
	CHECK_EQ(guest_mem_backing_from_name("none", &b), -EINVAL);   /* Firecracker's exact names */
	CHECK_EQ(guest_mem_backing_from_name("1G", &b), -EINVAL);
	CHECK_EQ(guest_mem_backing_from_name("", &b), -EINVAL);
}

/* The line of /proc/self/smaps for the mapping that starts at p, field `key` ("THPeligible"). */
static long smaps_field(const void *p, const char *key)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[512], start[32];
	snprintf(start, sizeof(start), "%lx-", (unsigned long)(uintptr_t)p);
	bool in = false;
	long v = -1;
	while (fgets(line, sizeof(line), f)) {
		/* a mapping's header starts with its address in lower-case hex; fields with a
		 * capital letter ("Size:", "THPeligible:") */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
			in = !strncmp(line, start, strlen(start));
		else if (in && !strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			v = strtol(line + strlen(key) + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

TEST(backing_small_pages)
{
	uint8_t *p = guest_mem_backing_map(GUEST_MEM_PAGES_4K, 8 << 20);
	REQUIRE(p != NULL);
	p[0] = 1;
	p[(8 << 20) - 1] = 2;
	guest_mem_backing_unmap(p, 8 << 20);
	char err[256] = "";
	CHECK_EQ(guest_mem_backing_check(GUEST_MEM_PAGES_4K, 3 << 20, err, sizeof(err)), 0);
}

TEST(backing_transparent_huge_pages)
{
	char err[256] = "";
	if (guest_mem_backing_check(GUEST_MEM_PAGES_THP, 8 << 20, err, sizeof(err)) < 0) {
		CHECK_CONTAINS(err, "huge_pages Transparent");   /* THP off on this host: said so */
		return;
	}
	uint64_t size = 8 << 20;
	uint8_t *p = guest_mem_backing_map(GUEST_MEM_PAGES_THP, size);
	REQUIRE(p != NULL);
	CHECK_EQ((uintptr_t)p % GUEST_MEM_HUGE_PAGE, 0);   /* huge pages need aligned memory */
	memset(p, 0x5a, size);
	CHECK_EQ(p[size - 1], 0x5a);
	CHECK_EQ(smaps_field(p, "THPeligible"), 1);        /* madvise(MADV_HUGEPAGE) took */
	guest_mem_backing_unmap(p, size);
	/* an odd size is fine for THP: the tail is ordinary pages */
	p = guest_mem_backing_map(GUEST_MEM_PAGES_THP, (3 << 20) + 4096);
	REQUIRE(p != NULL);
	guest_mem_backing_unmap(p, (3 << 20) + 4096);
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int write_long(const char *path, long v)
{
	char buf[64];
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	int n = snprintf(buf, sizeof(buf), "%ld\n", v);
	int r = write(fd, buf, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return r;
}

TEST(backing_2m_pages)
{
	char err[320] = "";
	/* sizes 2 MiB pages do not divide, and a pool too small, are refused with what to do */
	CHECK_EQ(guest_mem_backing_check(GUEST_MEM_PAGES_2M, (3 << 20), err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "multiple of 2 MiB");
	errno = 0;
	CHECK(guest_mem_backing_map(GUEST_MEM_PAGES_2M, 3 << 20) == NULL);
	CHECK_EQ(errno, EINVAL);
	long total = read_long(NR_HUGEPAGES);
	if (total < 0)
		return;   /* no 2 MiB pool on this kernel */
	CHECK_EQ(guest_mem_backing_check(GUEST_MEM_PAGES_2M, 1ull << 40, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "needs 524288 free 2 MiB huge pages");
	CHECK_CONTAINS(err, "/proc/sys/vm/nr_hugepages");

	/* With two pages reserved (root only), a 4 MiB mapping takes them at once. */
	if (write_long(NR_HUGEPAGES, total + 2) < 0)
		return;
	long free_pages = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	if (free_pages >= 2) {
		CHECK_EQ(guest_mem_backing_check(GUEST_MEM_PAGES_2M, 4 << 20, err, sizeof(err)), 0);
		uint8_t *p = guest_mem_backing_map(GUEST_MEM_PAGES_2M, 4 << 20);
		CHECK(p != NULL);
		if (p) {
			CHECK_EQ(smaps_field(p, "KernelPageSize"), 2048);
			/* reserved up front: the pool's free count already dropped */
			CHECK_EQ(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages") >= 2, 1);
			memset(p, 1, 4 << 20);
			guest_mem_backing_unmap(p, 4 << 20);
		}
	}
	CHECK_EQ(write_long(NR_HUGEPAGES, total), 0);
}

/* Device memory above RAM (src/memory/devmem.c): the window starts on a GiB at or above 4 GiB
 * and the end of RAM, ranges are aligned and never overlap, slots follow RAM's, and running out
 * of space or slots is an error, not a wrap. */
TEST(devmem_layout)
{
	struct devmem d;
	devmem_init(&d, 256ull << 20);                 /* 256 MiB of RAM: window at 4 GiB */
	CHECK_EQ(d.base, 4ull << 30);
	devmem_init(&d, (5ull << 30) + 4096);          /* RAM ends past 5 GiB: next GiB */
	CHECK_EQ(d.base, 6ull << 30);

	uint64_t gpa, gpa2;
	uint32_t slot, slot2;
	REQUIRE_EQ(devmem_alloc(&d, 2ull << 20, 0, &gpa, &slot), 0);
	CHECK_EQ(gpa, 6ull << 30);
	CHECK_EQ(slot, DEVMEM_SLOT_FIRST);
	REQUIRE_EQ(devmem_alloc(&d, 128ull << 20, 128ull << 20, &gpa2, &slot2), 0);
	CHECK_EQ(gpa2, (6ull << 30) + (128ull << 20)); /* aligned up past the first range */
	CHECK_EQ(slot2, DEVMEM_SLOT_FIRST + 1);

	CHECK_EQ(devmem_alloc(&d, 0, 0, &gpa, &slot), -EINVAL);
	CHECK_EQ(devmem_alloc(&d, 4095, 0, &gpa, &slot), -EINVAL);
	CHECK_EQ(devmem_alloc(&d, 4096, 3 << 12, &gpa, &slot), -EINVAL);
	CHECK_EQ(devmem_alloc(&d, DEVMEM_LIMIT, 0, &gpa, &slot), -ENOSPC);
	CHECK_EQ(devmem_alloc(&d, UINT64_MAX & ~4095ull, 0, &gpa, &slot), -ENOSPC);
	while (d.next_slot < DEVMEM_SLOT_FIRST + DEVMEM_MAX_SLOTS)
		REQUIRE_EQ(devmem_alloc(&d, 4096, 0, &gpa, &slot), 0);
	CHECK_EQ(devmem_alloc(&d, 4096, 0, &gpa, &slot), -ENOSPC);
}

/* Shared guest memory (virtio-fs): what petrel writes, another mapping of the memfd (a
 * vhost-user back end's) sees, and the other way round. */
TEST(shared_memory_is_seen_through_its_memfd)
{
	int fd = -1;
	uint8_t *p = guest_mem_backing_map_shared(GUEST_MEM_PAGES_4K, 8 << 20, &fd);
	REQUIRE(p != NULL);
	REQUIRE(fd >= 0);
	uint8_t *q = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(q != MAP_FAILED);
	p[4096 * 3 + 7] = 0x5a;
	CHECK_EQ(q[4096 * 3 + 7], 0x5a);
	q[(8 << 20) - 1] = 0xa5;
	CHECK_EQ(p[(8 << 20) - 1], 0xa5);
	CHECK(guest_mem_backing_map_shared(GUEST_MEM_PAGES_2M, 3 << 20, &fd) == NULL); /* not whole 2 MiB pages */
	munmap(q, 8 << 20);
	guest_mem_backing_unmap(p, 8 << 20);
	close(fd);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
