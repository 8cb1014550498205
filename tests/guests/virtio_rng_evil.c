/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_rng_evil: a hostile virtio-rng driver (issue 9). Malformed chains (buffers outside RAM
 * or in the MMIO hole, huge lengths, loops, bad indices, bad indirect tables) must put the
 * device in NEEDS_RESET; chains that are odd but well-formed must complete with the device
 * writing only where it may: nothing into device-readable buffers, nothing past the 64 KiB it
 * serves per request, nothing for zero-length buffers. A buffer laid over the ring itself and
 * a burst of kicks must leave petrel running. After every case a reset makes the device work.
 * Command line: transport=pci|mmio.  Prints "virtio-rng-evil cases=N" and "ok virtio_rng_evil".
 */
#include "evil.h"

DEFINE_GUEST("virtio_rng_evil");

#define QSIZE 16
#define CAP 65536                   /* the most the device serves per request */
#define BIG (1u << 20)              /* a request much larger than CAP */
#define SENTINEL 0xa5

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t small[2][64];
static uint8_t alive[64];
static uint8_t big[BIG] __attribute__((aligned(4096)));
static struct vring_desc table[256] __attribute__((aligned(16)));
static struct vring_desc table2[4] __attribute__((aligned(16)));

static void reinit(void)
{
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1 | VF_INDIRECT, &f), "FEATURES_OK refused");
	check(f & VF_INDIRECT, "no indirect descriptors");
	check(vq_setup(&dev, &vq, 0, &ring, QSIZE, 0xffff), "queue setup failed");
	vdev_driver_ok(&dev);
	check((vdev_status(&dev) & (VS_DRIVER_OK | VS_NEEDS_RESET)) == VS_DRIVER_OK,
	      "device not running after init (0x%x)", vdev_status(&dev));
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* A good 64-byte request must come back full of something that is not the sentinel. */
static void check_alive(const char *after)
{
	memset(alive, SENTINEL, 64);
	struct vbuf b = { alive, 64, true };
	vq_add(&vq, &b, 1);
	vq_kick(&vq);
	uint32_t len;
	check(vq_wait(&vq, NULL, &len, 10), "after %s: good request got no completion", after);
	check(len == 64, "after %s: good request returned %u bytes", after, len);
	check(!all(alive, 64, SENTINEL), "after %s: good request left the buffer as it was", after);
}

static struct evil ev = { "virtio-rng-evil", &dev, &vq, reinit, check_alive, 0 };

static void set(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	evil_set(&ev, i, addr, len, flags, next);
}

/* The published chain must complete with exactly `want` bytes and leave the device running. */
static void expect_len(const char *name, uint32_t want)
{
	vq_kick(&vq);
	uint32_t len;
	check(vq_wait(&vq, NULL, &len, 5), "%s: no completion", name);
	check(!vdev_broken(&dev), "%s: device broke over a well-formed chain", name);
	check(len == want, "%s: device reports %u bytes, expected %u", name, len, want);
	printf("virtio-rng-evil: %s -> %u bytes\n", name, len);
	ev.cases++;
	check_alive(name);
}

static void odd_but_wellformed(void)
{
	/* Only device-readable: nothing to fill, and nothing may be written. */
	memset(small[0], SENTINEL, 64);
	set(0, (uintptr_t)small[0], 64, 0, 0);
	vq_publish(&vq, 0);
	expect_len("device-readable buffer", 0);
	check(all(small[0], 64, SENTINEL), "the device wrote into a device-readable buffer");

	/* Readable then writable: only the writable part is filled. */
	memset(small, SENTINEL, sizeof(small));
	set(0, (uintptr_t)small[0], 64, VD_NEXT, 1);
	set(1, (uintptr_t)small[1], 64, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_len("readable then writable", 64);
	check(all(small[0], 64, SENTINEL), "the device wrote into the readable half");
	check(!all(small[1], 64, SENTINEL), "the writable half was not filled");

	/* Zero-length writable buffers. */
	set(0, (uintptr_t)small[0], 0, VD_NEXT | VD_WRITE, 1);
	set(1, (uintptr_t)small[1], 0, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_len("zero-length buffers", 0);

	/* 1 MiB in one indirect chain of 256 x 4 KiB: the device serves its cap, no more. */
	memset(big, SENTINEL, BIG);
	for (unsigned i = 0; i < 256; i++)
		table[i] = (struct vring_desc){ (uintptr_t)big + i * 4096ull, 4096, (uint16_t)(VD_WRITE | (i < 255 ? VD_NEXT : 0)),
						(uint16_t)(i + 1) };
	set(0, (uintptr_t)table, 256 * 16, VD_INDIRECT, 0);
	vq_publish(&vq, 0);
	expect_len("1 MiB indirect chain", CAP);
	check(all(big + CAP, BIG - CAP, SENTINEL), "the device wrote past the %u bytes it reported", CAP);

	/* One 1 MiB descriptor: the same cap. */
	memset(big, SENTINEL, BIG);
	set(0, (uintptr_t)big, BIG, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_len("one 1 MiB buffer", CAP);
	check(all(big + CAP, BIG - CAP, SENTINEL), "the device wrote past the %u bytes it reported", CAP);
}

/* A full ring of requests and a storm of kicks: every request completes once. */
static void burst(void)
{
	static uint8_t bufs[QSIZE][64];
	for (unsigned i = 0; i < QSIZE; i++) {
		struct vbuf b = { bufs[i], 64, true };
		vq_add(&vq, &b, 1);
	}
	for (int k = 0; k < 1000; k++)
		vq_kick(&vq);
	for (unsigned i = 0; i < QSIZE; i++) {
		uint32_t len;
		check(vq_wait(&vq, NULL, &len, 5), "burst: request %u never completed", i);
		check(len == 64, "burst: request %u returned %u bytes", i, len);
	}
	check(!vq_poll(&vq, NULL, NULL), "burst: more completions than requests");
	printf("virtio-rng-evil: %u requests and 1000 kicks -> all served once\n", QSIZE);
	ev.cases++;
	check_alive("burst");
}

/* A writable buffer laid over the ring: the device fills its own descriptor table and avail
 * ring with random bytes. Whatever the device makes of the ruined ring next (serve garbage
 * chains, or NEEDS_RESET), it must not write outside guest RAM or crash, and a reset heals it. */
static void buffer_over_the_ring(void)
{
	set(0, (uintptr_t)ring.desc, sizeof(ring.desc) + sizeof(ring.avail), VD_WRITE, 0);
	vq_publish(&vq, 0);
	vq_kick(&vq);
	struct deadline dl;
	deadline_start(&dl, 1);
	while (!deadline_expired(&dl))
		vq_kick(&vq); /* ask the device to walk the ruined ring */
	printf("virtio-rng-evil: buffer over the ring -> status 0x%x\n", vdev_status(&dev));
	ev.cases++;
	reinit();
	check_alive("buffer over the ring");
}

static long body(long arg)
{
	(void)arg;
	reinit();
	check_alive("init");
	evil_malformed_chains(&ev, small[0], table, table2);
	odd_but_wellformed();
	burst();
	buffer_over_the_ring();
	return 0;
}

void test_main(void)
{
	vdev_find_on_cmdline_transport(VIRTIO_ID_RNG, &dev);
	user_call(body, 0, USER_IF);
	printf("virtio-rng-evil cases=%u\n", ev.cases);
	pass();
}
