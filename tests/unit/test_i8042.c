/* Unit tests for the i8042 keyboard controller (src/devices/legacy/i8042.c) driven through its
 * bus callbacks: self test, the command byte, keyboard commands, the reset and Ctrl-Alt-Del
 * requests, and its bounded output queue. No KVM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/dev_state.h"
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

	/* queue limits: the output buffer and the 64-byte queue hold ten sequences, the eleventh
	 * does not fit and adds nothing */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(i8042_send_ctrl_alt_del(&k), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&k), -ENOSPC);
	uint8_t many[128];
	CHECK_EQ(kdrain(&k, many, 128), 60);

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
	CHECK_EQ(k.st.kbd.q.count, PS2_QUEUE_LEN);
	uint8_t out[128];
	CHECK_EQ(kdrain(&k, out, 128), PS2_QUEUE_LEN + 1); /* and the output buffer's */
}

/* Keys reach the guest in set 2, translated into set 1 while the controller's translation is on
 * (as firmwares and Linux leave it), untranslated when the guest turns it off, and in set 1
 * when it selects that set. */
TEST(i8042_keys_translated_and_not)
{
	struct power_rec pr;
	struct i8042 k;
	uint8_t out[32];
	i8042_init(&k, NO_IRQ, recorder(&pr));
	i8042_key(&k, 0x1e, true);            /* A */
	i8042_key(&k, 0x1e, false);
	i8042_key(&k, 0xe048, true);          /* Up */
	i8042_key(&k, 0xe048, false);
	REQUIRE_EQ(kdrain(&k, out, 32), 6);
	static const uint8_t xlated[] = { 0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8 };
	CHECK(memcmp(out, xlated, 6) == 0);
	CHECK_EQ(k.st.irq_level, 0);

	kw(&k, I8042_CMD_PORT, 0x60);         /* translation off */
	kw(&k, I8042_DATA_PORT, 0x05);
	i8042_key(&k, 0x1e, true);
	CHECK_EQ(k.st.irq_level, 1);
	i8042_key(&k, 0x1e, false);
	i8042_key(&k, 0xe048, false);
	i8042_key(&k, 0x41, true);            /* F7: set 2's one code above 0x7f */
	REQUIRE_EQ(kdrain(&k, out, 32), 7);
	static const uint8_t set2[] = { 0x1c, 0xf0, 0x1c, 0xe0, 0xf0, 0x75, 0x83 };
	CHECK(memcmp(out, set2, 7) == 0);

	kw(&k, I8042_DATA_PORT, 0xf2);        /* identify, untranslated */
	REQUIRE_EQ(kdrain(&k, out, 32), 3);
	CHECK_EQ_HEX(out[2], 0x83);

	kw(&k, I8042_DATA_PORT, 0xf0);        /* scan code set 1 */
	kw(&k, I8042_DATA_PORT, 0x01);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	i8042_key(&k, 0x1e, false);
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	CHECK_EQ_HEX(out[0], 0x9e);
	kw(&k, I8042_DATA_PORT, 0xf0);        /* set 4 does not exist: resend */
	kw(&k, I8042_DATA_PORT, 0x04);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	CHECK_EQ_HEX(out[1], 0xfe);

	/* Pause: one sequence on press, nothing on release; unknown codes add nothing */
	kw(&k, I8042_DATA_PORT, 0xff);
	REQUIRE_EQ(kdrain(&k, out, 32), 2);
	i8042_key(&k, 0xe046, true);
	i8042_key(&k, 0xe046, false);
	i8042_key(&k, 0x7f, true);
	i8042_key(&k, 0x9e, true);
	i8042_key(&k, 0xe11d, true);
	REQUIRE_EQ(kdrain(&k, out, 32), 8);
	static const uint8_t pause2[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
	CHECK(memcmp(out, pause2, 8) == 0);
	CHECK_EQ(k.keys_dropped, 3);

	/* scanning off (0xf5), or the keyboard disabled in the CTR: keys are dropped */
	kw(&k, I8042_DATA_PORT, 0xf5);
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	i8042_key(&k, 0x1e, true);
	CHECK_EQ(kdrain(&k, out, 32), 0);
	kw(&k, I8042_DATA_PORT, 0xf4);
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	kw(&k, I8042_CMD_PORT, 0xad);
	i8042_key(&k, 0x1e, true);
	CHECK_EQ(kdrain(&k, out, 32), 0);
	kw(&k, I8042_CMD_PORT, 0xae);
	i8042_key(&k, 0x1e, true);
	CHECK_EQ(kdrain(&k, out, 32), 1);
	CHECK_EQ(k.keys_dropped, 5);
	CHECK_EQ(pr.n, 0);
}

/* Without a display there is no aux port, as before; with one, the mouse answers through the
 * aux output buffer (AUX_OBF, IRQ 12) and sends packets once the driver enables it. */
TEST(i8042_mouse)
{
	struct power_rec pr;
	struct i8042 k;
	uint8_t out[32];
	i8042_init(&k, NO_IRQ, recorder(&pr));
	kw(&k, I8042_CMD_PORT, 0xa9);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0xff);
	i8042_mouse(&k, 5, 5, 0, 1);
	CHECK_EQ(kdrain(&k, out, 32), 0);

	i8042_init(&k, NO_IRQ, recorder(&pr));
	i8042_add_mouse(&k, NO_IRQ);
	kw(&k, I8042_CMD_PORT, 0xa9);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x00);
	kw(&k, I8042_CMD_PORT, 0xd3);         /* Linux's aux loop test */
	kw(&k, I8042_DATA_PORT, 0x5a);
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & 0x21, 0x21);
	CHECK_EQ_HEX(kr(&k, I8042_DATA_PORT), 0x5a);
	kw(&k, I8042_CMD_PORT, 0x60);         /* aux port on, its interrupt on */
	kw(&k, I8042_DATA_PORT, 0x47);
	kw(&k, I8042_CMD_PORT, 0xd4);
	kw(&k, I8042_DATA_PORT, 0xff);        /* reset */
	CHECK_EQ(k.st.aux_irq_level, 1);
	REQUIRE_EQ(kdrain(&k, out, 32), 3);
	CHECK(out[0] == 0xfa && out[1] == 0xaa && out[2] == 0x00);
	i8042_mouse(&k, 5, 5, 0, 1);          /* not reporting yet */
	CHECK_EQ(kdrain(&k, out, 32), 0);
	kw(&k, I8042_CMD_PORT, 0xd4);
	kw(&k, I8042_DATA_PORT, 0xf4);
	REQUIRE_EQ(kdrain(&k, out, 32), 1);
	i8042_mouse(&k, 3, -2, 0, 1);         /* right 3, up 2, left button */
	CHECK_EQ_HEX(kr(&k, I8042_CMD_PORT) & 0x21, 0x21);
	REQUIRE_EQ(kdrain(&k, out, 32), 3);
	CHECK_EQ_HEX(out[0], 0x09);
	CHECK_EQ(out[1], 3);
	CHECK_EQ(out[2], 2);
	i8042_mouse(&k, -300, 4, 0, 0);       /* past a packet's reach: two packets */
	REQUIRE_EQ(kdrain(&k, out, 32), 6);
	CHECK_EQ_HEX(out[0], 0x38);
	CHECK_EQ((int8_t)out[1], 0);          /* -256 */
	CHECK_EQ((int8_t)out[2], -4);
	CHECK_EQ_HEX(out[3], 0x18);           /* the rest of x, no y left */
	CHECK_EQ((int8_t)out[4], -44);

	/* the wheel's knock: 200, 100, 80 make it id 3 with a fourth byte */
	static const uint8_t knock[] = { 0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf2 };
	for (unsigned i = 0; i < sizeof(knock); i++) {
		kw(&k, I8042_CMD_PORT, 0xd4);
		kw(&k, I8042_DATA_PORT, knock[i]);
	}
	REQUIRE_EQ(kdrain(&k, out, 32), 8);
	CHECK_EQ(out[7], 3);
	i8042_mouse(&k, 0, 0, -1, 0);         /* wheel up one notch */
	REQUIRE_EQ(kdrain(&k, out, 32), 4);
	CHECK_EQ((int8_t)out[3], -1);

	/* status request: stream mode, reporting, resolution 2, rate 80 */
	kw(&k, I8042_CMD_PORT, 0xd4);
	kw(&k, I8042_DATA_PORT, 0xe9);
	REQUIRE_EQ(kdrain(&k, out, 32), 4);
	CHECK(out[1] == 0x20 && out[2] == 2 && out[3] == 80);

	/* a flood is bounded: the queue fills, the rest of the motion is kept and comes later */
	for (int i = 0; i < 1000; i++)
		i8042_mouse(&k, 1000, 0, 0, 0);
	CHECK(k.st.mouse.q.count <= PS2_QUEUE_LEN);
	CHECK(k.st.mouse.dx <= 65536);
	int total = kdrain(&k, out, 32);
	CHECK_EQ(total, 32);
	CHECK_EQ(pr.n, 0);
}

/* The saved state: version 2 round-trips, version 1 (the queue of the controller before the
 * PS/2 devices) still loads, hostile values are refused and leave the controller as it was. */
TEST(i8042_state)
{
	struct power_rec pr;
	struct i8042 a, b;
	char err[256];
	i8042_init(&a, NO_IRQ, recorder(&pr));
	i8042_add_mouse(&a, NO_IRQ);
	i8042_key(&a, 0x1e, true);
	i8042_key(&a, 0x30, true);
	struct enc e;
	enc_init(&e);
	i8042_state_ops.save(&a, &e);
	REQUIRE_EQ(e.err, 0);
	i8042_init(&b, NO_IRQ, recorder(&pr));
	struct dec d;
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(i8042_state_ops.load(&b, &d, 2, err, sizeof(err)), -EINVAL); /* no mouse here */
	CHECK(strstr(err, "mouse") != NULL);
	i8042_add_mouse(&b, NO_IRQ);
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(i8042_state_ops.load(&b, &d, 2, err, sizeof(err)), 0);
	uint8_t out[8];
	REQUIRE_EQ(kdrain(&b, out, 8), 2);
	CHECK(out[0] == 0x1e && out[1] == 0x30);
	/* a queue count past its length */
	size_t count_at = 6 + PS2_QUEUE_LEN + 1;
	e.buf[count_at] = PS2_QUEUE_LEN + 1;
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(i8042_state_ops.load(&b, &d, 2, err, sizeof(err)), -EINVAL);
	enc_free(&e);

	/* version 1: ctr, status, pending, kbd pending, 16 bytes, head, count, irq */
	uint8_t v1[23] = { 0x45, 0x15, 0, 0 };
	v1[4 + 15] = 0xaa;
	v1[4 + 0] = 0xbb;
	v1[20] = 15;  /* head */
	v1[21] = 2;   /* count */
	i8042_init(&b, NO_IRQ, recorder(&pr));
	dec_init(&d, v1, sizeof(v1));
	REQUIRE_EQ(i8042_state_ops.load(&b, &d, 1, err, sizeof(err)), 0);
	REQUIRE_EQ(kdrain(&b, out, 8), 2);
	CHECK(out[0] == 0xaa && out[1] == 0xbb);
	v1[20] = 16;
	dec_init(&d, v1, sizeof(v1));
	CHECK_EQ(i8042_state_ops.load(&b, &d, 1, err, sizeof(err)), -EINVAL);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
