/* Unit tests for src/bus/bus.c: registration (overlaps, limits), dispatch to devices and
 * unclaimed accesses, and the serial port and RTC behind a port bus as the VM wires them. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bus/bus.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "util/log.h"
#include "unit.h"
#include "legacy_dev.h"

struct rec_dev {
	int reads, writes;
	uint64_t off;
	uint32_t len;
	uint8_t last[8];
	uint8_t fill;
};

static void dev_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rec_dev *d = opaque;
	d->reads++;
	d->off = off;
	d->len = len;
	memset(data, d->fill, len);
}

static void dev_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rec_dev *d = opaque;
	d->writes++;
	d->off = off;
	d->len = len;
	memcpy(d->last, data, len);
}

TEST(bus_register_rejects_overlaps)
{
	struct bus b;
	bus_init(&b, "pio");
	struct rec_dev d = { 0 };
	CHECK_EQ(bus_register(&b, 0x100, 0x10, "a", dev_read, dev_write, &d), 0);
	CHECK_EQ(bus_register(&b, 0x100, 0x10, "same", dev_read, dev_write, &d), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x104, 0x2, "inside", dev_read, dev_write, &d), -EEXIST);
	CHECK_EQ(bus_register(&b, 0xf0, 0x11, "left", dev_read, dev_write, &d), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x10f, 0x10, "right", dev_read, dev_write, &d), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x0, 0x1000, "around", dev_read, dev_write, &d), -EEXIST);
	CHECK_EQ(bus_register(&b, 0xf0, 0x10, "adjacent-left", dev_read, dev_write, &d), 0);
	CHECK_EQ(bus_register(&b, 0x110, 0x1, "adjacent-right", dev_read, dev_write, &d), 0);
	CHECK_EQ(bus_register(&b, 0x200, 0, "empty", dev_read, dev_write, &d), -EINVAL);
	CHECK_EQ(bus_register(&b, ~0ull - 1, 4, "wraps", dev_read, dev_write, &d), -EINVAL);
	CHECK_EQ(b.n, 3);
	/* full */
	bus_init(&b, "mmio");
	int err = 0;
	for (unsigned i = 0; i < BUS_MAX_RANGES && !err; i++)
		err = bus_register(&b, 0x1000ull * i, 0x1000, "r", dev_read, dev_write, &d);
	CHECK_EQ(err, 0);
	CHECK_EQ(bus_register(&b, 0x1000ull * BUS_MAX_RANGES, 1, "one-too-many", dev_read,
			      dev_write, &d), -ENOSPC);
}

TEST(bus_dispatch)
{
	struct bus b;
	bus_init(&b, "pio");
	struct rec_dev a = { .fill = 0xa1 }, c = { .fill = 0xc3 };
	REQUIRE_EQ(bus_register(&b, 0x3f8, 8, "a", dev_read, dev_write, &a), 0);
	REQUIRE_EQ(bus_register(&b, 0x60, 1, "c", dev_read, dev_write, &c), 0);
	REQUIRE_EQ(bus_register(&b, 0x80, 4, "ro", dev_read, NULL, &c), 0);
	REQUIRE_EQ(bus_register(&b, 0x90, 4, "wo", NULL, dev_write, &c), 0);

	uint8_t data[4] = { 1, 2, 3, 4 };
	CHECK(bus_access(&b, 0x3fd, data, 2, true));
	CHECK_EQ(a.writes, 1);
	CHECK_EQ(a.off, 5);
	CHECK_EQ(a.len, 2);
	CHECK(a.last[0] == 1 && a.last[1] == 2);
	CHECK(bus_access(&b, 0x3f8, data, 1, false));
	CHECK_EQ(a.reads, 1);
	CHECK_EQ(a.off, 0);
	CHECK_EQ_HEX(data[0], 0xa1);
	CHECK(bus_access(&b, 0x60, data, 4, false));
	CHECK_EQ(c.reads, 1);
	CHECK_EQ_HEX(data[3], 0xc3);
	CHECK_EQ(a.reads, 1);

	/* unclaimed: reads see all ones, writes vanish */
	memset(data, 0, sizeof(data));
	CHECK(!bus_access(&b, 0x3f7, data, 4, false));
	CHECK(data[0] == 0xff && data[1] == 0xff && data[2] == 0xff && data[3] == 0xff);
	CHECK(!bus_access(&b, 0x400, data, 1, true));
	CHECK(!bus_access(&b, 0x61, data, 1, false));
	CHECK_EQ(a.reads + a.writes + c.reads + c.writes, 3);

	/* a range without a read callback reads all ones; without a write one drops writes */
	memset(data, 0, sizeof(data));
	CHECK(bus_access(&b, 0x92, data, 2, false));
	CHECK(data[0] == 0xff && data[1] == 0xff && data[2] == 0);
	CHECK(bus_access(&b, 0x81, data, 1, true));
	CHECK_EQ(c.writes, 0);
	CHECK(bus_access(&b, 0x93, data, 1, true));
	CHECK_EQ(c.writes, 1);
	CHECK_EQ(c.off, 3);
}

TEST(bus_with_real_devices)
{
	/* the serial port and the RTC behind a port bus, as the VM wires them */
	struct bus b;
	bus_init(&b, "pio");
	struct serial s;
	struct rtc r;
	serial_init(&s, -1, NO_IRQ);
	rtc_init(&r, 64 << 20, 0);
	REQUIRE_EQ(bus_register(&b, SERIAL_COM1_BASE, 8, "com1", serial_io_read, serial_io_write, &s), 0);
	REQUIRE_EQ(bus_register(&b, RTC_INDEX_PORT, 2, "rtc", rtc_io_read, rtc_io_write, &r), 0);
	uint8_t v = 0x5a;
	bus_access(&b, SERIAL_COM1_BASE + 7, &v, 1, true);
	v = 0;
	bus_access(&b, SERIAL_COM1_BASE + 7, &v, 1, false);
	CHECK_EQ_HEX(v, 0x5a);
	bus_access(&b, SERIAL_COM1_BASE + 5, &v, 1, false);
	CHECK_EQ_HEX(v, 0x60);
	v = 0x0d;
	bus_access(&b, RTC_INDEX_PORT, &v, 1, true);
	bus_access(&b, RTC_INDEX_PORT + 1, &v, 1, false);
	CHECK_EQ_HEX(v, 0x80);
}

TEST(bus_move_places_and_switches_off)
{
	struct bus b;
	bus_init(&b, "pio");
	struct rec_dev a = { .fill = 0xa1 }, c = { .fill = 0xc3 };
	REQUIRE_EQ(bus_register(&b, 0x600, 12, "pm", dev_read, dev_write, &a), 0);
	REQUIRE_EQ(bus_register(&b, 0xc000, 0x4000, "window", dev_read, dev_write, &c), 0);
	uint8_t v = 0;
	CHECK_EQ(bus_move(&b, dev_read, &a, 0xb000, true), 0);
	CHECK(!bus_access(&b, 0x604, &v, 1, false));
	CHECK(bus_access(&b, 0xb004, &v, 1, false));
	CHECK_EQ(a.off, 4);
	/* off: nothing answers, and its ports may be taken by another */
	CHECK_EQ(bus_move(&b, dev_read, &a, 0xb000, false), 0);
	CHECK(!bus_access(&b, 0xb004, &v, 1, false));
	CHECK_EQ(bus_register(&b, 0xb000, 4, "other", dev_read, NULL, &c), 0);
	/* onto a decoding range: refused, and it stays off */
	CHECK_EQ(bus_move(&b, dev_read, &a, 0xb000, true), -EEXIST);
	CHECK_EQ(bus_move(&b, dev_read, &a, 0xbff8, true), -EEXIST);   /* across the window's start */
	CHECK_EQ(bus_move(&b, dev_read, &a, 0xfffffffffffffffcull, true), -EINVAL);
	CHECK(!bus_access(&b, 0xbff8, &v, 1, false));
	CHECK_EQ(bus_move(&b, dev_read, &a, 0x600, true), 0);
	CHECK(bus_access(&b, 0x60b, &v, 1, false));
	/* a range that was never registered */
	CHECK_EQ(bus_move(&b, dev_read, &v, 0x700, true), -ENOENT);
}

/* A vCPU's accesses while another thread moves the range around and switches it off and on:
 * each access reaches the device with the offset its port has in the range, or nothing; never
 * a torn view of base and state. */
struct mover {
	struct bus *b;
	void *opaque;
	volatile int stop;
	unsigned moves;
};

static void off_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	unsigned *bad = opaque;
	if (off >= 12)
		__atomic_fetch_add(bad, 1, __ATOMIC_RELAXED);
	memset(data, (int)off, len);
}

static void *move_loop(void *arg)
{
	struct mover *m = arg;
	while (!m->stop) {
		unsigned i = __atomic_fetch_add(&m->moves, 1, __ATOMIC_RELAXED);
		bus_move(m->b, off_read, m->opaque, i % 3 == 0 ? 0x600 : i % 3 == 1 ? 0xb000 : 0x700, i % 5 != 4);
	}
	return NULL;
}

TEST(bus_move_while_accessing)
{
	static struct bus b;
	static unsigned bad;
	struct rec_dev next = { .fill = 0x77 };
	bus_init(&b, "pio");
	REQUIRE_EQ(bus_register(&b, 0x600, 12, "pm", off_read, NULL, &bad), 0);
	REQUIRE_EQ(bus_register(&b, 0x70c, 4, "next", dev_read, NULL, &next), 0);
	struct mover m = { .b = &b, .opaque = &bad };
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, move_loop, &m), 0);
	unsigned hits = 0, wrong = 0;
	for (unsigned i = 0; i < 300000 || __atomic_load_n(&m.moves, __ATOMIC_RELAXED) < 20000; i++) {
		uint8_t v = 0xee;
		uint64_t port = (i % 3 == 0 ? 0x600 : i % 3 == 1 ? 0xb000 : 0x700) + (i % 12);
		if (bus_access(&b, port, &v, 1, false)) {
			hits++;
			wrong += v != i % 12;
		} else {
			wrong += v != 0xff;
		}
	}
	m.stop = 1;
	pthread_join(t, NULL);
	CHECK_EQ(bad, 0);
	CHECK_EQ(wrong, 0);
	CHECK(hits > 0);
	CHECK(m.moves >= 20000);
	CHECK_EQ(next.reads, 0);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* bus overlap errors are expected here */
	return unit_main(argc, argv);
}
