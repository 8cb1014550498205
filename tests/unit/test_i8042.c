/* Unit tests for the i8042 keyboard controller (src/devices/legacy/i8042.c) driven through its
 * bus callbacks: self test, the command byte, keyboard commands, the reset and Ctrl-Alt-Del
 * requests, and its bounded output queue. No KVM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/legacy/i8042.h"
#include "util/log.h"
#include "unit.h"
#include "legacy_dev.h"

static uint8_t kr(struct i8042 *k, uint16_t port)
{
	uint8_t v = 0xee;
	if (port == I8042_DATA_PORT)
		i8042_data_read(k, 0, &v, 1);
	else
		i8042_cmd_read(k, 0, &v, 1);
	return v;
}

static void kw(struct i8042 *k, uint16_t port, uint8_t v)
{
	if (port == I8042_DATA_PORT)
		i8042_data_write(k, 0, &v, 1);
	else
		i8042_cmd_write(k, 0, &v, 1);
}

#define STS_OBF 0x01

/* Read the whole output queue into out; returns how many bytes. */
static int kdrain(struct i8042 *k, uint8_t *out, int max)
{
	int n = 0;
	while (n < max && (kr(k, I8042_CMD_PORT) & STS_OBF))
		out[n++] = kr(k, I8042_DATA_PORT);
	return n;
}

TEST(i8042_self_test_and_ctr)
{
	struct power_rec pr;
	struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&pr));
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & STS_OBF, 0);
	CHECK(kr(&k, I8042_CMD_PORT) & 0x04); /* system flag */

	kw(&k, I8042_CMD_PORT, 0xaa);
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & (STS_OBF | 0x08), STS_OBF | 0x08);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x55);
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & STS_OBF, 0);

	kw(&k, I8042_CMD_PORT, 0xab); /* keyboard interface test */
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x00);

	kw(&k, I8042_CMD_PORT, 0x20);
	uint8_t ctr = kr(&k, I8042_DATA_PORT);
	CHECK_EQ_HEX(ctr & 0x01, 0x01);       /* keyboard interrupt on */
	CHECK_EQ_HEX(ctr & 0x40, 0x40);       /* translation on */
	kw(&k, I8042_CMD_PORT, 0x60);
	kw(&k, I8042_DATA_PORT, 0x47);
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & 0x08, 0); /* last write was data */
	kw(&k, I8042_CMD_PORT, 0x20);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x47);
	/* 0xad / 0xae toggle the keyboard-disable bit, 0xa7 / 0xa8 the aux one */
	kw(&k, I8042_CMD_PORT, 0xad);
	kw(&k, I8042_CMD_PORT, 0x20);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x57);
	kw(&k, I8042_CMD_PORT, 0xae);
	kw(&k, I8042_CMD_PORT, 0xa8);
	kw(&k, I8042_CMD_PORT, 0x20);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x47);
	kw(&k, I8042_CMD_PORT, 0xa7);
	kw(&k, I8042_CMD_PORT, 0x20);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x67);
	CHECK_EQ(pr.n, 0);
}

TEST(i8042_keyboard_commands)
{
	struct power_rec pr;
	struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&pr));
	uint8_t out[32];

	kw(&k, I8042_DATA_PORT, 0xff); /* reset */
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	CHECK_EQ_HEX(out[0], 0xfa);
	CHECK_EQ_HEX(out[1], 0xaa);

	kw(&k, I8042_DATA_PORT, 0xf2); /* identify */
	REQUIRE_EQ(kdrain(&k, out, 32), 3);
	CHECK_EQ_HEX(out[0], 0xfa);
	CHECK_EQ_HEX(out[1], 0xab);
	CHECK_EQ_HEX(out[2], 0x41);

	kw(&k, I8042_DATA_PORT, 0xee); /* echo */
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	CHECK_EQ_HEX(out[0], 0xee);

	kw(&k, I8042_DATA_PORT, 0xed); /* set LEDs + argument */
	kw(&k, I8042_DATA_PORT, 0x07);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	CHECK_EQ_HEX(out[0], 0xfa);
	CHECK_EQ_HEX(out[1], 0xfa);
	/* the argument 0xff was not taken as a reset */
	kw(&k, I8042_DATA_PORT, 0xf3);
	kw(&k, I8042_DATA_PORT, 0xff);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	CHECK_EQ_HEX(out[1], 0xfa);

	kw(&k, I8042_DATA_PORT, 0xf0); /* get scancode set */
	kw(&k, I8042_DATA_PORT, 0x00);
	REQUIRE_EQ(kdrain(&k, out, 32), 3);
	CHECK_EQ_HEX(out[2], 0x02);

	kw(&k, I8042_DATA_PORT, 0xf4); /* enable: ack */
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	CHECK_EQ_HEX(out[0], 0xfa);

	/* reset flushes what was queued before */
	kw(&k, I8042_CMD_PORT, 0xd2);
	kw(&k, I8042_DATA_PORT, 0x33);
	kw(&k, I8042_DATA_PORT, 0xff);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	CHECK_EQ_HEX(out[0], 0xfa);

	/* 0xd2: write the keyboard output buffer */
	kw(&k, I8042_CMD_PORT, 0xd2);
	kw(&k, I8042_DATA_PORT, 0x99);
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	CHECK_EQ_HEX(out[0], 0x99);

	/* empty queue reads 0 */
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0);
	CHECK_EQ(pr.n, 0);
}

TEST(i8042_reset_requests)
{
	struct power_rec pr;
	struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&pr));
	kw(&k, I8042_CMD_PORT, 0xfe);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_RESET);

	/* output port write: bit 0 low resets, high does not */
	i8042_init(&k, NO_IRQ, recorder(&pr));
	kw(&k, I8042_CMD_PORT, 0xd1);
	kw(&k, I8042_DATA_PORT, 0xdf);
	CHECK_EQ(pr.n, 0);
	kw(&k, I8042_CMD_PORT, 0xd1);
	kw(&k, I8042_DATA_PORT, 0xde);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_RESET);

	/* a 0xfe *data* byte is a keyboard resend, not a reset */
	i8042_init(&k, NO_IRQ, recorder(&pr));
	kw(&k, I8042_DATA_PORT, 0xfe);
	CHECK_EQ(pr.n, 0);
	/* no power_ctl callback: nothing crashes */
	i8042_init(&k, NO_IRQ, (struct power_ctl){ 0 });
	kw(&k, I8042_CMD_PORT, 0xfe);
}

TEST(i8042_ctrl_alt_del_and_irq)
{
	struct power_rec pr;
	struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&pr));
	CHECK_EQ(k.st.irq_level, 0);
	REQUIRE_EQ(i8042_send_ctrl_alt_del(&k), 0);
	CHECK_EQ(k.st.irq_level, 1);
	uint8_t out[32];
	int n = 0;
	while (kr(&k, I8042_CMD_PORT) & STS_OBF) {
		out[n++] = kr(&k, I8042_DATA_PORT);
		/* the line stays up while bytes remain */
		CHECK_EQ(k.st.irq_level, (kr(&k, I8042_CMD_PORT) & STS_OBF) ? 1 : 0);
	}
	static const uint8_t want[] = { 0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d };
	REQUIRE_EQ(n, 6);
	CHECK(memcmp(out, want, 6) == 0);
	CHECK_EQ(k.st.irq_level, 0);

	/* queue limits: 16 bytes hold two sequences, the third does not fit and adds nothing */
	CHECK_EQ(i8042_send_ctrl_alt_del(&k), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&k), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&k), -ENOSPC);
	CHECK_EQ(kdrain(&k, out, 32), 12);

	/* with the keyboard interrupt disabled in the CTR, the line stays low */
	kw(&k, I8042_CMD_PORT, 0x60);
	kw(&k, I8042_DATA_PORT, 0x44);
	CHECK_EQ(i8042_send_ctrl_alt_del(&k), 0);
	CHECK_EQ(k.st.irq_level, 0);
	CHECK(kr(&k, I8042_CMD_PORT) & STS_OBF);
	/* and rises when it is enabled */
	kw(&k, I8042_CMD_PORT, 0x60);
	kw(&k, I8042_DATA_PORT, 0x45);
	CHECK_EQ(k.st.irq_level, 1);
	CHECK_EQ(pr.n, 0);
}

TEST(i8042_queue_overflow_is_bounded)
{
	struct power_rec pr;
	struct i8042 k;
	i8042_init(&k, NO_IRQ, recorder(&pr));
	for (int i = 0; i < 100; i++)
		kw(&k, I8042_DATA_PORT, 0xf2); /* 3 bytes each */
	CHECK_EQ(k.st.out_count, I8042_QUEUE_LEN);
	uint8_t out[64];
	CHECK_EQ(kdrain(&k, out, 64), I8042_QUEUE_LEN);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
