/* virtio-mem without KVM: RAM from fake_ring.h holds the rings and requests, the device's
 * region is a separate anonymous MAP_NORESERVE mapping registered as the hot-pluggable region
 * at 4 GiB, and the test sends PLUG / UNPLUG / UNPLUG_ALL / STATE as a driver would. Checks the
 * answers (ACK, NACK, BUSY, ERROR), plugged_size and the configuration space, that unplugged
 * blocks read as zero and leave the host at once (mincore), hostile requests, the snapshot
 * state round trip and corrupt states, and the JSON objects. */
#include "unit.h"

#include "fake_ring.h"
#include "sc_steps.h"

#include "arch/x86/e820.h"
#include "config/hotplug_memory_config.h"
#include "config/vm_config.h"
#include "devices/virtio/virtio_mem.h"
#include "memory/pager.h"
#include "memory/uffd.h"
#include "util/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define REGION_GPA (4ull << 30)
#define REGION_SIZE (256 * MIB)
#define BLOCK (2 * MIB)
#define SLOT (128 * MIB)
#define REQ 0x20000        /* request buffer in RAM */
#define RESP 0x20100       /* response buffer */

static uint8_t *region;

/* RAM and the hot-pluggable region (fresh: every block unplugged and unpopulated). */
static void mem_with_region(int fd)
{
	mem_setup();
	if (region)
		munmap(region, REGION_SIZE);
	region = fd < 0 ? mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
			: mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (region == MAP_FAILED)
		abort();
	mem.regions[1] = (struct guest_region){ .gpa = REGION_GPA, .size = REGION_SIZE, .hva = region,
						.from_file = fd >= 0, .hotplug = true };
	mem.nregions = 2;
	mem.lazy = NULL;
}

static int setup_fd(struct virtio_mem *m, int fd)
{
	mem_with_region(fd);
	struct virtio_mem_params p = { REGION_GPA, REGION_SIZE, BLOCK, SLOT };
	int err = virtio_mem_create(m, &p, &mem, NULL);
	if (err == 0)
		start(&m->vdev, m->vdev.host_features, 1);
	return err;
}

static int setup(struct virtio_mem *m)
{
	return setup_fd(m, -1);
}

static unsigned sent;

/* One request through the queue (readable 24 bytes, writable 10); the response type, or -1
 * if the device used the chain without one. */
static int request_len(struct virtio_mem *m, uint16_t type, uint64_t addr, uint16_t nb, uint32_t req_len,
		       uint32_t resp_len, uint16_t *state)
{
	uint8_t req[VIRTIO_MEM_REQ_LEN] = { 0 };
	uint16_t t = htole16(type), n = htole16(nb);
	uint64_t a = htole64(addr);
	memcpy(req, &t, 2);
	memcpy(req + 8, &a, 8);
	memcpy(req + 16, &n, 2);
	memcpy(ram + REQ, req, sizeof(req));
	memset(ram + RESP, 0xee, VIRTIO_MEM_RESP_LEN);
	unsigned d = (sent * 2) % QS;
	set_desc(0, d, REQ, req_len, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	set_desc(0, d + 1, RESP, resp_len, VIRTQ_DESC_F_WRITE, 0);
	publish(0, (uint16_t)d);
	notify(&m->vdev, 0);
	sent++;
	if (used_idx(0) != (uint16_t)sent)
		return -2;
	struct virtq_used_elem e = used_elem(0, sent - 1);
	if (e.len == 0)
		return -1;
	uint16_t rt, st;
	memcpy(&rt, ram + RESP, 2);
	memcpy(&st, ram + RESP + 8, 2);
	if (state)
		*state = le16toh(st);
	return le16toh(rt);
}

static int request(struct virtio_mem *m, uint16_t type, uint64_t addr, uint16_t nb)
{
	return request_len(m, type, addr, nb, VIRTIO_MEM_REQ_LEN, VIRTIO_MEM_RESP_LEN, NULL);
}

static uint64_t cfg64(struct virtio_mem *m, uint32_t off)
{
	uint64_t v;
	pthread_mutex_lock(&m->vdev.lock);
	virtio_config_access(&m->vdev, off, (uint8_t *)&v, 8, false);
	pthread_mutex_unlock(&m->vdev.lock);
	return le64toh(v);
}

/* Bytes of [p, p+len) the host backs right now. */
static uint64_t resident(const uint8_t *p, uint64_t len)
{
	size_t pages = len / 4096;
	unsigned char *vec = malloc(pages);
	uint64_t n = 0;
	if (!vec || mincore((void *)p, len, vec) < 0)
		abort();
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * 4096;
}

static void teardown(struct virtio_mem *m)
{
	virtio_dev_destroy(&m->vdev);
	sent = 0;
}

TEST(config_space_and_requested_size)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	CHECK_EQ(m.vdev.device_id, 24);
	CHECK_EQ(cfg64(&m, 0), BLOCK);
	CHECK_EQ(cfg64(&m, 16), REGION_GPA);
	CHECK_EQ(cfg64(&m, 24), REGION_SIZE);
	CHECK_EQ(cfg64(&m, 32), 0);                     /* usable */
	CHECK_EQ(cfg64(&m, 40), 0);                     /* plugged */
	CHECK_EQ(cfg64(&m, 48), 0);                     /* requested */
	CHECK_EQ(virtio_mem_set_requested(&m, 6 * MIB), 0);
	CHECK_EQ(cfg64(&m, 48), 6 * MIB);
	CHECK_EQ(cfg64(&m, 32), SLOT);                  /* grows by slots */
	CHECK_EQ(virtio_mem_set_requested(&m, 130 * MIB), 0);
	CHECK_EQ(cfg64(&m, 32), REGION_SIZE);
	CHECK_EQ(virtio_mem_set_requested(&m, 0), 0);
	CHECK_EQ(cfg64(&m, 32), REGION_SIZE);           /* never shrinks but on UNPLUG_ALL */
	CHECK_EQ(virtio_mem_set_requested(&m, 3 * MIB), -EINVAL);
	CHECK_EQ(virtio_mem_set_requested(&m, REGION_SIZE + BLOCK), -EINVAL);
	/* the driver cannot write the configuration */
	uint64_t bogus = 1;
	pthread_mutex_lock(&m.vdev.lock);
	virtio_config_access(&m.vdev, 48, (uint8_t *)&bogus, 8, true);
	pthread_mutex_unlock(&m.vdev.lock);
	CHECK_EQ(cfg64(&m, 48), 0);
	teardown(&m);
}

TEST(plug_write_unplug_reads_zero_and_frees)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);
	uint64_t at = REGION_GPA + 4 * BLOCK;
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, at, 2), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(cfg64(&m, 40), 4 * MIB);
	uint8_t *p = region + 4 * BLOCK;
	memset(p, 0x5a, 2 * BLOCK);
	CHECK_EQ(resident(p, 2 * BLOCK), 2 * BLOCK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, at + BLOCK, 1), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(cfg64(&m, 40), 2 * MIB);
	CHECK_EQ(resident(p + BLOCK, BLOCK), 0);        /* back to the host at once */
	CHECK_EQ(p[BLOCK], 0);
	CHECK_EQ(p[2 * BLOCK - 1], 0);
	CHECK_EQ(p[BLOCK - 1], 0x5a);                   /* the plugged one is untouched */
	CHECK_EQ(m.ctr.plug_count, 1);
	CHECK_EQ(m.ctr.plug_bytes, 4 * MIB);
	CHECK_EQ(m.ctr.unplug_bytes, 2 * MIB);
	teardown(&m);
}

TEST(state_request)
{
	struct virtio_mem m;
	uint16_t st = 99;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA, 2), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(request_len(&m, VIRTIO_MEM_REQ_STATE, REGION_GPA, 2, 24, 10, &st), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(st, VIRTIO_MEM_STATE_PLUGGED);
	CHECK_EQ(request_len(&m, VIRTIO_MEM_REQ_STATE, REGION_GPA + BLOCK, 2, 24, 10, &st), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(st, VIRTIO_MEM_STATE_MIXED);
	CHECK_EQ(request_len(&m, VIRTIO_MEM_REQ_STATE, REGION_GPA + 2 * BLOCK, 30, 24, 10, &st), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(st, VIRTIO_MEM_STATE_UNPLUGGED);
	/* outside the usable region (128 MiB): an error, not a state */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_STATE, REGION_GPA + SLOT, 1), VIRTIO_MEM_RESP_ERROR);
	CHECK_EQ(m.ctr.state_fails, 1);
	teardown(&m);
}

TEST(unplug_all_frees_everything_and_shrinks_usable)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, REGION_SIZE), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA, 3), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + 100 * BLOCK, 5), VIRTIO_MEM_RESP_ACK);
	memset(region, 1, 3 * BLOCK);
	memset(region + 100 * BLOCK, 2, 5 * BLOCK);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 4 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(cfg64(&m, 40), 0);
	CHECK_EQ(cfg64(&m, 32), SLOT);                  /* requested 4 MiB, rounded up to a slot */
	CHECK_EQ(resident(region, REGION_SIZE), 0);
	CHECK_EQ(region[0], 0);
	CHECK_EQ(region[100 * BLOCK + 7], 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_STATE, REGION_GPA, 64), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(m.ctr.unplug_all_count, 1);
	/* blocks past the usable region cannot be plugged any more */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + 100 * BLOCK, 1), VIRTIO_MEM_RESP_ERROR);
	teardown(&m);
}

TEST(hostile_requests)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);   /* usable: 128 MiB */
	const uint64_t B = REGION_GPA;
	/* ranges */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + 4096, 1), VIRTIO_MEM_RESP_ERROR);      /* unaligned */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B, 0), VIRTIO_MEM_RESP_ERROR);             /* no blocks */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B - BLOCK, 1), VIRTIO_MEM_RESP_ERROR);     /* below */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, 0, 1), VIRTIO_MEM_RESP_ERROR);             /* RAM */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + SLOT, 1), VIRTIO_MEM_RESP_ERROR);      /* not usable */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + SLOT - BLOCK, 2), VIRTIO_MEM_RESP_ERROR); /* straddles */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B, 65535), VIRTIO_MEM_RESP_ERROR);         /* too many */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, UINT64_MAX & ~(BLOCK - 1), 65535), VIRTIO_MEM_RESP_ERROR);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, B + REGION_SIZE, 1), VIRTIO_MEM_RESP_ERROR);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_STATE, (B + 1) | (1ull << 63), 1), VIRTIO_MEM_RESP_ERROR);
	/* states */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, B, 1), VIRTIO_MEM_RESP_ERROR);           /* not plugged */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B, 2), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + BLOCK, 1), VIRTIO_MEM_RESP_ERROR);     /* plugged */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, B + BLOCK, 2), VIRTIO_MEM_RESP_ERROR);   /* mixed */
	/* beyond requested_size (8 MiB, 4 MiB plugged): NACK, as the spec says */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + 10 * BLOCK, 3), VIRTIO_MEM_RESP_NACK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + 10 * BLOCK, 2), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, B + 20 * BLOCK, 1), VIRTIO_MEM_RESP_NACK);
	CHECK_EQ(m.ctr.nack_count, 2);
	/* unknown type, short request, no room for the answer */
	CHECK_EQ(request(&m, 77, B, 1), VIRTIO_MEM_RESP_ERROR);
	CHECK_EQ(request_len(&m, VIRTIO_MEM_REQ_STATE, B, 1, 8, 10, NULL), VIRTIO_MEM_RESP_ERROR);
	CHECK_EQ(request_len(&m, VIRTIO_MEM_REQ_UNPLUG, B, 1, 24, 4, NULL), -1);
	CHECK_EQ(cfg64(&m, 40), 8 * MIB);               /* that unplug did not happen */
	CHECK(m.ctr.bad_requests >= 3);
	CHECK(virtio_is_running(&m.vdev));
	teardown(&m);
}

TEST(range_check_is_overflow_safe)
{
	struct virtio_mem_state st = { .addr = 1ull << 32, .block_size = BLOCK, .usable_region_size = SLOT };
	CHECK_EQ(virtio_mem_check_range(&st, st.addr, 64), 0);
	CHECK_EQ(virtio_mem_check_range(&st, st.addr + SLOT - BLOCK, 1), 0);
	CHECK_EQ(virtio_mem_check_range(&st, st.addr, 65), -ERANGE);
	CHECK_EQ(virtio_mem_check_range(&st, UINT64_MAX - BLOCK + 1, 1), -ERANGE);
	CHECK_EQ(virtio_mem_check_range(&st, st.addr, UINT64_MAX), -ERANGE);
	st.block_size = 0;
	CHECK_EQ(virtio_mem_check_range(&st, st.addr, 1), -ERANGE);
	struct virtio_mem_req r;
	uint8_t buf[24] = { 3, 0, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0 };
	CHECK_EQ(virtio_mem_parse_req(buf, 23, &r), -EINVAL);
	REQUIRE_EQ(virtio_mem_parse_req(buf, 24, &r), 0);
	CHECK_EQ(r.type, 3);
	CHECK_EQ(r.addr, 1ull << 32);
	CHECK_EQ(r.nb_blocks, 5);
}

/* Lazy restore in progress: unplugging waits, the driver is told BUSY. */
TEST(busy_while_lazy_restore)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA, 1), VIRTIO_MEM_RESP_ACK);
	mem.regions[1].lazy = true;
	guest_mem_set_filling(&mem, true);    /* in progress */
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA, 1), VIRTIO_MEM_RESP_BUSY);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0), VIRTIO_MEM_RESP_BUSY);
	guest_mem_set_filling(&mem, false);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA, 1), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(m.ctr.busy_count, 2);
	mem.regions[1].lazy = false;
	teardown(&m);
}

/* A real lazy restore whose pager finished (its memory complete and unregistered): unplugging
 * works again. It stayed BUSY for the VM's life: the restore counted as in progress until
 * the memory was freed. */
TEST(unplug_works_once_a_lazy_restore_is_complete)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA, 1), VIRTIO_MEM_RESP_ACK);
	char path[] = "/tmp/petrel-vmem-lazy-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	mem.regions[1].file_off = mem.regions[0].size;
	mem.total = mem.regions[0].size + REGION_SIZE;
	REQUIRE_EQ(ftruncate(fd, (off_t)mem.total), 0); /* all holes: nothing to fetch */
	char err[256] = "";
	if (uffd_lazy_pager(&mem, fd, err, sizeof(err)) < 0) {
		printf("  (no userfaultfd here: %s)\n", err);
	} else {
		CHECK_EQ(pager_wait_complete(uffd_lazy_pager_of(&mem), 10000), 0);
		CHECK(!guest_mem_filling(&mem));
		CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA, 1), VIRTIO_MEM_RESP_ACK);
		CHECK_EQ(m.ctr.busy_count, 0);
	}
	uffd_lazy_end(&mem);
	close(fd);
	mem.regions[0].lazy = mem.regions[1].lazy = false;
	mem.regions[1].file_off = 0;
	mem.total = mem.regions[0].size;
	teardown(&m);
}

/* A region mapped privately from a memory file (a restored snapshot): an unplugged block must
 * read as zero, not as the file's bytes. */
TEST(unplug_from_file_reads_zero)
{
	char path[] = "/tmp/petrel-vmem-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	REQUIRE_EQ(ftruncate(fd, REGION_SIZE), 0);
	uint8_t junk[4096];
	memset(junk, 0x77, sizeof(junk));
	REQUIRE_EQ(pwrite(fd, junk, sizeof(junk), BLOCK), (ssize_t)sizeof(junk));
	struct virtio_mem m;
	REQUIRE_EQ(setup_fd(&m, fd), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 8 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + BLOCK, 1), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(region[BLOCK], 0x77);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA + BLOCK, 1), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(region[BLOCK], 0);
	CHECK_EQ(region[BLOCK + 4095], 0);
	CHECK_EQ(m.ctr.unplug_discard_fails, 0);
	teardown(&m);
	close(fd);
	munmap(region, REGION_SIZE);
	region = NULL;
}

/* Plug and unplug on the I/O thread and the new size from the API thread, under the filters
 * petrel installs (sc_steps.h): over anonymous memory (madvise) and over a snapshot's memory
 * file (fresh memory mapped over the block). A call missing from a list fails here. */
static struct virtio_mem sc_m;

static void sc_request_size(void) /* the API thread: PATCH /hotplug/memory */
{
	if (virtio_mem_set_requested(&sc_m, 8 * MIB) < 0)
		fail(60);
}

static void sc_plug_unplug(void) /* the I/O thread: the driver's requests */
{
	if (request(&sc_m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + BLOCK, 2) != VIRTIO_MEM_RESP_ACK)
		fail(61);
	region[BLOCK] = 1;
	if (request(&sc_m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA + BLOCK, 2) != VIRTIO_MEM_RESP_ACK)
		fail(62);
	if (region[BLOCK] != 0 || sc_m.ctr.unplug_discard_fails)
		fail(63);
	if (request(&sc_m, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0) != VIRTIO_MEM_RESP_ACK)
		fail(64);
}

TEST(plug_and_unplug_under_the_filters)
{
	const struct step steps[] = {
		{ SC_API, "fc_api", sc_request_size },
		{ SC_IO, "fc_io", sc_plug_unplug },
	};
	for (int from_file = 0; from_file < 2; from_file++) {
		int fd = -1;
		if (from_file) {
			char path[] = "/tmp/petrel-vmem-XXXXXX";
			fd = mkstemp(path);
			REQUIRE(fd >= 0);
			unlink(path);
			REQUIRE_EQ(ftruncate(fd, REGION_SIZE), 0);
		}
		sent = 0;
		REQUIRE_EQ(setup_fd(&sc_m, fd), 0);
		CHECK_STEPS_CLEAN(steps);
		teardown(&sc_m);
		if (fd >= 0)
			close(fd);
		munmap(region, REGION_SIZE);
		region = NULL;
	}
}

/* 128 MiB plugged and written, then unplugged: the process's resident memory drops by it. */
TEST(host_memory_released_after_unplug)
{
	struct virtio_mem m;
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, SLOT), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA, SLOT / BLOCK), VIRTIO_MEM_RESP_ACK);
	for (uint64_t off = 0; off < SLOT; off += 4096)
		region[off] = 1;
	CHECK_EQ(resident(region, SLOT), SLOT);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_UNPLUG, REGION_GPA, SLOT / BLOCK), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(resident(region, REGION_SIZE), 0);
	teardown(&m);
}

static void *save(struct virtio_mem *m, size_t *len)
{
	pthread_mutex_lock(&m->vdev.lock);
	void *b = virtio_mem_save_locked(m, len);
	pthread_mutex_unlock(&m->vdev.lock);
	return b;
}

static void le64_set(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

TEST(state_round_trip_and_corrupt_states)
{
	struct virtio_mem m, n;
	char err[256] = "";
	REQUIRE_EQ(setup(&m), 0);
	REQUIRE_EQ(virtio_mem_set_requested(&m, 20 * MIB), 0);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + 2 * BLOCK, 3), VIRTIO_MEM_RESP_ACK);
	CHECK_EQ(request(&m, VIRTIO_MEM_REQ_PLUG, REGION_GPA + 60 * BLOCK, 2), VIRTIO_MEM_RESP_ACK);
	size_t len = 0;
	uint8_t *blob = save(&m, &len);
	REQUIRE(blob);
	CHECK_EQ(len, 7 * 8 + 4 + 2 * 8);   /* seven le64 and nblocks, then 128 blocks: two words */

	struct virtio_mem_params p = { REGION_GPA, REGION_SIZE, BLOCK, SLOT };
	REQUIRE_EQ(virtio_mem_create(&n, &p, &mem, NULL), 0);
	CHECK_EQ(virtio_mem_load_state(&n, blob, len, err, sizeof(err)), 0);
	CHECK_EQ(n.st.plugged_size, 10 * MIB);
	CHECK_EQ(n.st.requested_size, 20 * MIB);
	CHECK_EQ(n.st.usable_region_size, SLOT);
	CHECK_EQ(memcmp(n.plugged, m.plugged, 16), 0);

	uint8_t *bad = malloc(len);
	REQUIRE(bad);
	/* the fields' places in the section (docs/snapshots.md, VMEM) */
	enum { ADDR = 0, BLOCK_SIZE = 16, USABLE = 32, PLUGGED = 40, REQUESTED = 48, NBLOCKS = 56, MAP = 60 };
#define SET64(off, v) le64_set(bad + (off), (v))
#define GET64(off) le64_get(blob + (off))
	CHECK_EQ(virtio_mem_load_state(&n, blob, len - 1, err, sizeof(err)), -EINVAL);
	CHECK_EQ(virtio_mem_load_state(&n, blob, 7, err, sizeof(err)), -EINVAL);
#define CORRUPT(stmt, what)                                                        \
	do {                                                                       \
		memcpy(bad, blob, len);                                            \
		stmt;                                                              \
		err[0] = 0;                                                        \
		CHECK_EQ(virtio_mem_load_state(&n, bad, len, err, sizeof(err)), -EINVAL); \
		CHECK_CONTAINS(err, what);                                         \
	} while (0)
	CORRUPT(SET64(BLOCK_SIZE, 4 * MIB), "differ");
	CORRUPT(SET64(ADDR, GET64(ADDR) + BLOCK), "differ");
	CORRUPT((bad[NBLOCKS] = 1000 & 0xff, bad[NBLOCKS + 1] = 1000 >> 8), "differ");
	CORRUPT(SET64(PLUGGED, GET64(PLUGGED) + BLOCK), "inconsistent");
	CORRUPT(SET64(USABLE, REGION_SIZE + SLOT), "inconsistent");
	CORRUPT(SET64(USABLE, 10 * MIB), "inconsistent");   /* below requested */
	CORRUPT(SET64(REQUESTED, 3 * MIB), "inconsistent");        /* not block-aligned */
	CORRUPT((bad[MAP + 8] |= 0x80, SET64(PLUGGED, GET64(PLUGGED) + BLOCK)), "inconsistent"); /* block 71: past usable */
	free(bad);
#undef SET64
#undef GET64
	/* the device is as loaded before the bad attempts */
	CHECK_EQ(n.st.plugged_size, 10 * MIB);
	CHECK_EQ(memcmp(n.plugged, m.plugged, 16), 0);
	free(blob);
	virtio_dev_destroy(&n.vdev);
	teardown(&m);
}

/* The guest boots without the region: not in the e820 map (nor the PVH map built from it),
 * not in the RAM size; the memory file's size (total) has it. */
TEST(region_not_in_boot_memory_map)
{
	mem_with_region(-1);
	mem.total = MEM_SIZE + REGION_SIZE;
	struct e820_entry map[E820_MAX];
	int n = e820_build(&mem, map);
	REQUIRE(n > 0);
	for (int i = 0; i < n; i++)
		CHECK(map[i].addr + map[i].size <= REGION_GPA || map[i].addr >= REGION_GPA + REGION_SIZE);
	CHECK_EQ(guest_mem_ram_size(&mem), MEM_SIZE);
	mem.regions[1].hotplug = false;            /* the same region as RAM would be listed */
	CHECK_EQ(e820_build(&mem, map), n + 1);
	mem.regions[1].hotplug = true;
	mem.total = MEM_SIZE;
}

TEST(config_objects)
{
	struct hotplug_memory_config c;
	char err[256] = "";
	json_t *o = json_loads("{\"total_size_mib\": 1024}", 0, NULL);
	REQUIRE_EQ(hotplug_memory_config_from_json(o, NULL, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.total_size_mib, 1024);
	CHECK_EQ(c.slot_size_mib, 128);                 /* Firecracker's defaults */
	CHECK_EQ(c.block_size_mib, 2);
	json_decref(o);
	o = json_loads("{\"total_size_mib\": 1024, \"slot_size_mib\": null, \"block_size_mib\": null}", 0, NULL);
	REQUIRE_EQ(hotplug_memory_config_from_json(o, NULL, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.slot_size_mib, 128);
	json_decref(o);
	static const struct { const char *json, *why; } bad[] = {
		{ "{}", "total_size_mib: missing required field" },
		{ "{\"total_size_mib\": null}", "total_size_mib: missing required field" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 1}", "Block size must not be lower than 2 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 6}", "power of 2" },
		{ "{\"total_size_mib\": 1024, \"slot_size_mib\": 64}", "Slot size must not be lower than 128 MiB" },
		{ "{\"total_size_mib\": 1040, \"slot_size_mib\": 130, \"block_size_mib\": 4}", "multiple of block size" },
		{ "{\"total_size_mib\": 64}", "must not be lower than slot size" },
		{ "{\"total_size_mib\": 1000}", "must be a multiple of slot size" },
		{ "{\"total_size_mib\": 4294967168}", "below 1 TiB" },
		{ "{\"total_size_mib\": 4294967296}", "total_size_mib: must be between" },
		{ "{\"total_size_mib\": -128}", "total_size_mib: must be between" },
		{ "{\"total_size_mib\": \"1024\"}", "expected an integer" },
		{ "{\"total_size_mib\": 1024, \"requested_size_mib\": 0}", "requested_size_mib: unknown field" },
		{ "[]", "expected an object" },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		o = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
		err[0] = 0;
		CHECK_EQ(hotplug_memory_config_from_json(o, NULL, &c, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, bad[i].why);
		json_decref(o);
	}
	uint32_t want = 7;
	o = json_loads("{\"requested_size_mib\": 256}", 0, NULL);
	CHECK_EQ(hotplug_memory_update_from_json(o, &want, err, sizeof(err)), 0);
	CHECK_EQ(want, 256);
	json_decref(o);
	o = json_loads("{\"requested_size_mib\": null}", 0, NULL);
	CHECK_EQ(hotplug_memory_update_from_json(o, &want, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "missing required field");
	json_decref(o);
	o = json_loads("{\"requested_size_mib\": 1, \"total_size_mib\": 2}", 0, NULL);
	CHECK_EQ(hotplug_memory_update_from_json(o, &want, err, sizeof(err)), -EINVAL);
	json_decref(o);
}

TEST(config_file_section)
{
	struct vm_config c;
	char err[256] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{\"memory-hotplug\": {\"total_size_mib\": 512, \"block_size_mib\": 4}}", &c, err,
					sizeof(err)), 0);
	CHECK(c.has_memory_hotplug);
	CHECK_EQ(c.memory_hotplug.total_size_mib, 512);
	CHECK_EQ(c.memory_hotplug.block_size_mib, 4);
	CHECK_EQ(vm_config_parse_json("{\"memory-hotplug\": {\"total_size_mib\": 500}}", &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "memory-hotplug.total_size_mib");
	CHECK_EQ(c.memory_hotplug.total_size_mib, 512);  /* unchanged on error */
	vm_config_free(&c);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
