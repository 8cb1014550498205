/* Unit tests for the legacy devices (src/devices/legacy: serial, i8042, rtc, acpi_pm,
 * debug_port) driven through their bus callbacks, and for src/bus/bus.c. No KVM: an irq_line
 * with kvm == NULL does nothing, so the tests watch each device's st.irq_level instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_port.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "util/log.h"
#include "unit.h"

static const struct irq_line NO_IRQ = { .kvm = NULL, .gsi = 0 };

/* ---- a power_ctl that records requests ---- */

struct power_rec {
	int n;
	enum vm_stop_reason reason;
	int code;
	char why[128];
};

static void rec_request(void *opaque, enum vm_stop_reason reason, int code, const char *why)
{
	struct power_rec *p = opaque;
	p->n++;
	p->reason = reason;
	p->code = code;
	snprintf(p->why, sizeof(p->why), "%s", why ? why : "");
}

static struct power_ctl recorder(struct power_rec *p)
{
	memset(p, 0, sizeof(*p));
	return (struct power_ctl){ .request = rec_request, .opaque = p };
}

/* ---- serial ---- */

static uint8_t sr(struct serial *s, unsigned off)
{
	uint8_t v = 0xee;
	serial_io_read(s, off, &v, 1);
	return v;
}

static void sw(struct serial *s, unsigned off, uint8_t v)
{
	serial_io_write(s, off, &v, 1);
}

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* Read whatever is waiting in the pipe (non-blocking). */
static size_t drain(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);
	return n > 0 ? (size_t)n : 0;
}

TEST(serial_reset_state)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	CHECK_EQ_HEX(sr(&s, LSR), 0x60);         /* THRE | TEMT, no data */
	CHECK_EQ_HEX(sr(&s, IIR), 0x01);         /* no interrupt pending */
	CHECK_EQ_HEX(sr(&s, IER), 0x00);
	CHECK_EQ_HEX(sr(&s, LCR), 0x00);
	CHECK_EQ_HEX(sr(&s, MCR), 0x00);
	CHECK_EQ_HEX(sr(&s, MSR) & 0xb0, 0xb0);  /* CTS, DSR, DCD: a terminal is there */
	CHECK_EQ_HEX(sr(&s, THR), 0x00);         /* empty RBR reads 0 */
	CHECK_EQ(s.st.irq_level, 0);
	CHECK_EQ(serial_rx_space(&s), SERIAL_FIFO_LEN);
}

TEST(serial_transmit_to_fd)
{
	int p[2];
	REQUIRE_EQ(pipe2(p, O_NONBLOCK), 0);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	const char *msg = "hello\n";
	for (const char *c = msg; *c; c++) {
		CHECK(sr(&s, LSR) & 0x20); /* THR empty: the guest may write */
		sw(&s, THR, (uint8_t)*c);
	}
	char buf[64] = "";
	size_t n = drain(p[0], buf, sizeof(buf) - 1);
	buf[n] = 0;
	CHECK_STR_EQ(buf, msg);
	CHECK_EQ(s.tx_bytes, strlen(msg));
	CHECK_EQ_HEX(sr(&s, LSR) & 0x60, 0x60); /* transmission is instantaneous */
	/* other registers do not produce output */
	sw(&s, SCR, 'x');
	sw(&s, LCR, 0x03);
	sw(&s, MCR, 0x0b);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	close(p[1]);

	/* out_fd -1 discards */
	serial_init(&s, -1, NO_IRQ);
	sw(&s, THR, 'a');
	CHECK_EQ(s.tx_bytes, 1);
}

/* Firecracker's serial rate_limiter: a byte bucket; output past it is dropped and counted,
 * never waited for; the bucket refills with time; no limiter or size 0 means unlimited. */
TEST(serial_rate_limiter_drops_excess)
{
	int p[2];
	REQUIRE_EQ(pipe2(p, O_NONBLOCK), 0);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	struct token_bucket_config c = { .present = true, .size = 4, .refill_time = 3600 * 1000 };
	serial_set_rate_limiter(&s, &c);
	for (const char *m = "abcdefgh"; *m; m++)
		sw(&s, THR, (uint8_t)*m);
	char buf[64] = "";
	size_t n = drain(p[0], buf, sizeof(buf) - 1);
	buf[n] = 0;
	CHECK_STR_EQ(buf, "abcd");
	CHECK_EQ(s.tx_bytes, 8);
	CHECK_EQ(s.rl_dropped, 4);

	/* a one-time burst is spent first; a fast refill lets output through again */
	c = (struct token_bucket_config){ .present = true, .size = 2, .refill_time = 50,
					  .has_one_time_burst = true, .one_time_burst = 3 };
	serial_set_rate_limiter(&s, &c);
	for (const char *m = "12345678"; *m; m++)
		sw(&s, THR, (uint8_t)*m);
	n = drain(p[0], buf, sizeof(buf) - 1);
	buf[n] = 0;
	CHECK_STR_EQ(buf, "12345");
	usleep(60 * 1000); /* 2 bytes per 50 ms: full again */
	sw(&s, THR, 'x');
	sw(&s, THR, 'y');
	n = drain(p[0], buf, sizeof(buf) - 1);
	buf[n] = 0;
	CHECK_STR_EQ(buf, "xy");

	/* removed: unlimited again */
	serial_set_rate_limiter(&s, NULL);
	uint64_t dropped = s.rl_dropped;
	for (int i = 0; i < 100; i++)
		sw(&s, THR, 'z');
	CHECK_EQ(drain(p[0], buf, sizeof(buf)) + drain(p[0], buf, sizeof(buf)), 100);
	CHECK_EQ(s.rl_dropped, dropped);
	close(p[0]);
	close(p[1]);
}

/* Hardening item 3: output into a pipe nobody reads must not hold the vCPU. The UART waits
 * SERIAL_STALL_MS once, then drops (and counts) at once, and writes again once read. */
TEST(serial_output_never_blocks)
{
	int p[2];
	REQUIRE_EQ(pipe(p), 0); /* blocking, as a console may be */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	char junk[4096];
	memset(junk, 'j', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	while (write(p[1], junk, 1) > 0)
		;
	fcntl(p[1], F_SETFL, 0); /* full, and blocking again */
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10000; i++)
		sw(&s, THR, 'x');
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(secs < 3.0);            /* one stall of about a second, not 10000 of them */
	CHECK_EQ(s.tx_dropped, 10000);
	CHECK(s.out_stalled);
	/* Someone reads: output flows again. */
	char buf[65536];
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], buf, sizeof(buf)) > 0)
		;
	sw(&s, THR, 'y');
	CHECK(!s.out_stalled);
	CHECK_EQ(s.tx_dropped, 10000);
	CHECK_EQ(s.tx_bytes, 10001);
	close(p[0]);
	close(p[1]);
}

TEST(serial_dlab)
{
	int p[2];
	REQUIRE_EQ(pipe2(p, O_NONBLOCK), 0);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	sw(&s, IER, 0x05);
	sw(&s, LCR, 0x83);                /* DLAB | 8N1 */
	sw(&s, THR, 0x01);                /* DLL: 115200 baud */
	sw(&s, IER, 0x00);                /* DLM */
	CHECK_EQ_HEX(sr(&s, THR), 0x01);
	CHECK_EQ_HEX(sr(&s, IER), 0x00);
	sw(&s, IER, 0x12);
	CHECK_EQ_HEX(sr(&s, IER), 0x12);
	CHECK_EQ_HEX(s.st.dll, 0x01);
	CHECK_EQ_HEX(s.st.dlm, 0x12);
	char buf[8];
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0); /* divisor writes are not output */
	CHECK_EQ(s.tx_bytes, 0);
	/* with DLAB set, received data stays queued */
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"z", 1), 1);
	CHECK_EQ_HEX(sr(&s, THR), 0x01);
	CHECK(sr(&s, LSR) & 0x01);
	sw(&s, LCR, 0x03);
	CHECK_EQ_HEX(sr(&s, LCR), 0x03);
	CHECK_EQ_HEX(sr(&s, IER), 0x05); /* IER was not touched by the DLM writes */
	CHECK_EQ_HEX(sr(&s, THR), 'z');
	sw(&s, THR, 'q');
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'q');
	close(p[0]);
	close(p[1]);
}

TEST(serial_receive_fifo)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"abc", 3), 3);
	CHECK_EQ(s.rx_bytes, 3);
	CHECK_EQ(serial_rx_space(&s), SERIAL_FIFO_LEN - 3);
	CHECK_EQ_HEX(sr(&s, LSR) & 0x01, 0x01);
	CHECK_EQ(sr(&s, THR), 'a');
	CHECK_EQ(sr(&s, THR), 'b');
	CHECK_EQ_HEX(sr(&s, LSR) & 0x01, 0x01);
	CHECK_EQ(sr(&s, THR), 'c');
	CHECK_EQ_HEX(sr(&s, LSR) & 0x01, 0x00);
	CHECK_EQ(sr(&s, THR), 0);

	/* fill past the end: only SERIAL_FIFO_LEN bytes are taken, in order, with wrap-around */
	uint8_t buf[200];
	for (int i = 0; i < 200; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ(serial_receive(&s, buf, 200), SERIAL_FIFO_LEN);
	CHECK_EQ(serial_rx_space(&s), 0);
	CHECK_EQ(serial_receive(&s, buf, 1), 0);
	bool in_order = true;
	for (int i = 0; i < SERIAL_FIFO_LEN; i++)
		in_order &= sr(&s, THR) == (uint8_t)i;
	CHECK(in_order);
	CHECK_EQ_HEX(sr(&s, LSR) & 0x01, 0);
	CHECK_EQ(serial_rx_space(&s), SERIAL_FIFO_LEN);

	/* FCR bit 1 clears the receive FIFO */
	CHECK_EQ(serial_receive(&s, buf, 10), 10);
	sw(&s, FCR, 0x07);
	CHECK_EQ_HEX(sr(&s, LSR) & 0x01, 0);
	CHECK_EQ(serial_rx_space(&s), SERIAL_FIFO_LEN);
	CHECK_EQ_HEX(sr(&s, IIR) & 0xc0, 0xc0); /* FIFOs enabled */
	sw(&s, FCR, 0x00);
	CHECK_EQ_HEX(sr(&s, IIR) & 0xc0, 0x00);
}

TEST(serial_interrupts_and_priorities)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	sw(&s, MCR, 0x0b); /* DTR | RTS | OUT2: the IRQ reaches the PIC */

	/* Enabling THRI while THR is empty raises it at once. */
	sw(&s, IER, 0x02);
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x02);
	/* reading IIR acknowledged it */
	CHECK_EQ(s.st.irq_level, 0);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x01);
	/* writing THR makes THR empty again -> THRI again */
	sw(&s, THR, 'x');
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x02);
	CHECK_EQ(s.st.irq_level, 0);
	/* re-writing IER with THRI already set does not re-raise */
	sw(&s, IER, 0x02);
	CHECK_EQ(s.st.irq_level, 0);
	/* disabling and re-enabling does */
	sw(&s, IER, 0x00);
	sw(&s, IER, 0x02);
	CHECK_EQ(s.st.irq_level, 1);

	/* received data outranks THRI */
	sw(&s, IER, 0x03);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"ab", 2), 2);
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x04);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x04); /* RDA is not cleared by reading IIR */
	CHECK_EQ(sr(&s, THR), 'a');
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x04);
	CHECK_EQ(sr(&s, THR), 'b');
	/* with the FIFO drained, the pending THRI shows */
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x02);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x01);
	CHECK_EQ(s.st.irq_level, 0);

	/* RDI only */
	sw(&s, IER, 0x01);
	CHECK_EQ(s.st.irq_level, 0);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"c", 1), 1);
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ(sr(&s, THR), 'c');
	CHECK_EQ(s.st.irq_level, 0);

	/* disabled interrupts never raise the line */
	sw(&s, IER, 0x00);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"d", 1), 1);
	sw(&s, THR, 'y');
	CHECK_EQ(s.st.irq_level, 0);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x01);
}

TEST(serial_break)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	sw(&s, MCR, 0x0b);
	sw(&s, IER, 0x05); /* received data and line status, as Linux's 8250 driver enables */
	/* only into an empty FIFO, so it stays in order with what came before */
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"a", 1), 1);
	CHECK(!serial_send_break(&s));
	CHECK_EQ(sr(&s, THR), 'a');
	CHECK(serial_send_break(&s));
	CHECK(!serial_send_break(&s)); /* one at a time */
	/* the line-status interrupt outranks received data; LSR shows BI and data ready */
	CHECK_EQ(s.st.irq_level, 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x06);
	CHECK_EQ_HEX(sr(&s, LSR) & 0x11, 0x11);
	/* reading LSR cleared BI; the break's character is a zero */
	CHECK_EQ_HEX(sr(&s, LSR) & 0x11, 0x01);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x04);
	CHECK_EQ(sr(&s, THR), 0);
	CHECK_EQ(s.st.irq_level, 0);
	CHECK(serial_send_break(&s));
}

TEST(serial_irq_gated_by_out2)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	sw(&s, IER, 0x01);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"a", 1), 1);
	CHECK_EQ_HEX(sr(&s, IIR) & 0x0f, 0x04); /* pending inside the UART ... */
	CHECK_EQ(s.st.irq_level, 0);             /* ... but OUT2 is off */
	sw(&s, MCR, 0x08);
	CHECK_EQ(s.st.irq_level, 1);
	sw(&s, MCR, 0x03);
	CHECK_EQ(s.st.irq_level, 0);
	sw(&s, MCR, 0x0b);
	CHECK_EQ(s.st.irq_level, 1);
	sw(&s, MCR, 0x1b);                       /* loopback disconnects the line */
	CHECK_EQ(s.st.irq_level, 0);
	sw(&s, MCR, 0x0b);
	CHECK_EQ(s.st.irq_level, 1);
}

TEST(serial_loopback)
{
	int p[2];
	REQUIRE_EQ(pipe2(p, O_NONBLOCK), 0);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	/* Linux's 8250 probe: MCR = LOOP | OUT2 | RTS expects MSR & 0xf0 == 0x90 (DCD | CTS) */
	sw(&s, MCR, 0x1a);
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x90);
	sw(&s, MCR, 0x10);
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x00);
	sw(&s, MCR, 0x11);                       /* DTR -> DSR */
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x20);
	sw(&s, MCR, 0x12);                       /* RTS -> CTS */
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x10);
	sw(&s, MCR, 0x14);                       /* OUT1 -> RI */
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x40);
	sw(&s, MCR, 0x18);                       /* OUT2 -> DCD */
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0x80);
	sw(&s, MCR, 0x1f);
	CHECK_EQ_HEX(sr(&s, MSR) & 0xf0, 0xf0);
	CHECK_EQ_HEX(sr(&s, MCR), 0x1f);
	/* transmitted bytes come back as received ones, not to the output */
	sw(&s, THR, 0x5a);
	sw(&s, THR, 0xa5);
	CHECK(sr(&s, LSR) & 0x01);
	CHECK_EQ_HEX(sr(&s, THR), 0x5a);
	CHECK_EQ_HEX(sr(&s, THR), 0xa5);
	char buf[8];
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	/* out of loopback, MSR is the host side again */
	sw(&s, MCR, 0x03);
	CHECK_EQ_HEX(sr(&s, MSR) & 0xb0, 0xb0);
	close(p[0]);
	close(p[1]);
}

TEST(serial_scratch_and_readonly)
{
	struct serial s;
	serial_init(&s, -1, NO_IRQ);
	sw(&s, SCR, 0xa5);
	CHECK_EQ_HEX(sr(&s, SCR), 0xa5);
	sw(&s, SCR, 0x5a);
	CHECK_EQ_HEX(sr(&s, SCR), 0x5a);
	sw(&s, LSR, 0x00);
	CHECK_EQ_HEX(sr(&s, LSR), 0x60);
	sw(&s, IER, 0xff);
	CHECK_EQ_HEX(sr(&s, IER), 0x0f); /* upper bits are reserved */
	/* a 2-byte access covers two registers */
	sw(&s, LCR, 0x03);
	uint8_t two[2];
	serial_io_read(&s, LCR, two, 2);
	CHECK_EQ_HEX(two[0], 0x03);
	CHECK_EQ_HEX(two[1], 0x00);
}

/* ---- i8042 ---- */

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

/* ---- rtc ---- */

static uint8_t rtc_get(struct rtc *r, uint8_t idx)
{
	uint8_t v = 0xee;
	rtc_io_write(r, 0, &idx, 1);
	rtc_io_read(r, 1, &v, 1);
	return v;
}

static void rtc_set(struct rtc *r, uint8_t idx, uint8_t v)
{
	rtc_io_write(r, 0, &idx, 1);
	rtc_io_write(r, 1, &v, 1);
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10 + (v & 15); }

/* Read the guest's clock from the registers (any mode) as a time_t. */
static time_t rtc_time(struct rtc *r)
{
	uint8_t b = rtc_get(r, 0x0b);
	struct tm tm = { 0 };
#define D(v) ((b & 0x04) ? (unsigned)(v) : bcd(v))
	tm.tm_sec = (int)D(rtc_get(r, 0));
	tm.tm_min = (int)D(rtc_get(r, 2));
	uint8_t h = rtc_get(r, 4);
	if (b & 0x02)
		tm.tm_hour = (int)D(h);
	else
		tm.tm_hour = (int)(D(h & 0x7f) % 12) + ((h & 0x80) ? 12 : 0);
	tm.tm_mday = (int)D(rtc_get(r, 7));
	tm.tm_mon = (int)D(rtc_get(r, 8)) - 1;
	tm.tm_year = (int)(D(rtc_get(r, RTC_CENTURY_REG)) * 100 + D(rtc_get(r, 9))) - 1900;
#undef D
	return timegm(&tm);
}

static long long absdiff(time_t a, time_t b) { return a > b ? (long long)(a - b) : (long long)(b - a); }

TEST(rtc_bcd_time_matches_host)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x0b), 0x02); /* BCD, 24 h */
	time_t now = time(NULL);
	time_t t = rtc_time(&r);
	CHECK(absdiff(t, now) <= 2);
	/* registers are valid BCD and in range */
	uint8_t sec = rtc_get(&r, 0), min = rtc_get(&r, 2), hour = rtc_get(&r, 4);
	CHECK((sec & 0x0f) <= 9 && bcd(sec) < 60);
	CHECK((min & 0x0f) <= 9 && bcd(min) < 60);
	CHECK((hour & 0x0f) <= 9 && bcd(hour) < 24);
	struct tm tm, tm1, tm2;
	gmtime_r(&now, &tm);
	/* day of week: 1 = Sunday */
	time_t t1 = rtc_time(&r);
	uint8_t wday = rtc_get(&r, 6);
	time_t t2 = rtc_time(&r);
	gmtime_r(&t1, &tm1);
	gmtime_r(&t2, &tm2);
	CHECK(bcd(wday) >= 1 && bcd(wday) <= 7);
	if (tm1.tm_wday == tm2.tm_wday) /* not racing midnight */
		CHECK_EQ(bcd(wday), tm1.tm_wday + 1);
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), ((tm.tm_year + 1900) / 100 / 10) << 4 |
						   ((tm.tm_year + 1900) / 100 % 10));
}

TEST(rtc_binary_and_12h_modes)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 0x0b, 0x06); /* binary, 24 h */
	time_t now = time(NULL);
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	struct tm tm;
	gmtime_r(&now, &tm);
	CHECK_EQ(rtc_get(&r, 9), tm.tm_year % 100);
	CHECK_EQ(rtc_get(&r, RTC_CENTURY_REG), (tm.tm_year + 1900) / 100);

	rtc_set(&r, 0x0b, 0x04); /* binary, 12 h */
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	uint8_t h = rtc_get(&r, 4);
	CHECK((h & 0x7f) >= 1 && (h & 0x7f) <= 12);
	rtc_set(&r, 0x0b, 0x00); /* BCD, 12 h */
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	h = rtc_get(&r, 4);
	CHECK(bcd(h & 0x7f) >= 1 && bcd(h & 0x7f) <= 12);

	/* 12 h encodings: set hours in 12 h mode and read back in 24 h mode */
	static const struct { uint8_t reg12; int hour24; } cases[] = {
		{ 0x12, 0 }, { 0x01, 1 }, { 0x11, 11 }, { 0x92, 12 }, { 0x81, 13 }, { 0x91, 23 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rtc_set(&r, 0x0b, 0x00);
		rtc_set(&r, 4, cases[i].reg12);
		CHECK_EQ_HEX(rtc_get(&r, 4), cases[i].reg12);
		rtc_set(&r, 0x0b, 0x02);
		CHECK_EQ(bcd(rtc_get(&r, 4)), cases[i].hour24);
	}
}

TEST(rtc_set_time_shifts_offset)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 9, 0x99); /* year 2099 (BCD, century stays 20) */
	CHECK_EQ_HEX(rtc_get(&r, 9), 0x99);
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), 0x20);
	CHECK(r.st.offset_sec > 50ll * 365 * 86400);
	rtc_set(&r, RTC_CENTURY_REG, 0x19); /* 1999 */
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), 0x19);
	CHECK_EQ_HEX(rtc_get(&r, 9), 0x99);
	CHECK(r.st.offset_sec < 0);
	rtc_set(&r, 2, 0x42);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x42);
	rtc_set(&r, 4, 0x23);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x23);
	/* the clock keeps running from there: the offset is what persists */
	time_t want = time(NULL) + r.st.offset_sec;
	CHECK(absdiff(rtc_time(&r), want) <= 2);
	/* the weekday register cannot be set */
	uint8_t wd = rtc_get(&r, 6);
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 6, (uint8_t)(wd == 1 ? 2 : 1));
	CHECK_EQ(r.st.offset_sec, off);
}

/* Set the guest clock to a date the way Linux's mc146818_set_time does: SET on, then year,
 * month, day, hours, minutes, seconds, century, then SET off. */
static void linux_set_time(struct rtc *r, int year, int mon, int mday, int h, int m, int s)
{
	uint8_t b = rtc_get(r, 0x0b);
	rtc_set(r, 0x0b, b | 0x80);
#define E(v) ((b & 0x04) ? (uint8_t)(v) : (uint8_t)(((v) / 10) << 4 | ((v) % 10)))
	rtc_set(r, 9, E(year % 100));
	rtc_set(r, 8, E(mon));
	rtc_set(r, 7, E(mday));
	rtc_set(r, 4, E(h));
	rtc_set(r, 2, E(m));
	rtc_set(r, 0, E(s));
	rtc_set(r, RTC_CENTURY_REG, E(year / 100));
#undef E
	rtc_set(r, 0x0b, b);
}

static time_t utc(int year, int mon, int mday, int h, int m, int s)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = mday,
			 .tm_hour = h, .tm_min = m, .tm_sec = s };
	return timegm(&tm);
}

TEST(rtc_set_time_like_linux)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	linux_set_time(&r, 2031, 1, 31, 10, 20, 30);
	CHECK(absdiff(rtc_time(&r), utc(2031, 1, 31, 10, 20, 30)) <= 2);
	/* Jan 31 -> Feb 15: a one-register-at-a-time clock would pass through "Feb 31" = Mar 3 */
	linux_set_time(&r, 2031, 2, 15, 8, 0, 0);
	CHECK_EQ_HEX(rtc_get(&r, 8), 0x02);
	CHECK_EQ_HEX(rtc_get(&r, 7), 0x15);
	CHECK(absdiff(rtc_time(&r), utc(2031, 2, 15, 8, 0, 0)) <= 2);
	/* Mar 31 -> Apr 30 and a leap day */
	linux_set_time(&r, 2032, 3, 31, 0, 0, 0);
	linux_set_time(&r, 2032, 4, 30, 23, 59, 58);
	CHECK(absdiff(rtc_time(&r), utc(2032, 4, 30, 23, 59, 58)) <= 2);
	linux_set_time(&r, 2032, 2, 29, 12, 0, 0);
	CHECK(absdiff(rtc_time(&r), utc(2032, 2, 29, 12, 0, 0)) <= 2);
	/* binary mode and another century */
	rtc_set(&r, 0x0b, 0x06);
	linux_set_time(&r, 2104, 7, 4, 1, 2, 3);
	CHECK(absdiff(rtc_time(&r), utc(2104, 7, 4, 1, 2, 3)) <= 2);
	CHECK_EQ(rtc_get(&r, RTC_CENTURY_REG), 21);
}

TEST(rtc_set_bit_freezes_registers)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 0x0b, 0x82);
	CHECK_EQ_HEX(rtc_get(&r, 0x0b), 0x82);
	rtc_set(&r, 0, 0x00);
	rtc_set(&r, 2, 0x37);
	rtc_set(&r, 4, 0x21);
	/* reads return what was written while SET holds the clock */
	CHECK_EQ_HEX(rtc_get(&r, 0), 0x00);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x21);
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 0x0b, 0x02); /* the clock starts from 21:37:00 */
	CHECK(r.st.offset_sec != off || rtc_get(&r, 2) == 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x21);
	CHECK(bcd(rtc_get(&r, 0)) <= 2);
}

TEST(rtc_index_and_control_registers)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	/* bit 7 of the index is the NMI mask: ignored */
	CHECK_EQ_HEX(rtc_get(&r, 0x80 | 0x0b), 0x02);
	CHECK_EQ_HEX(r.st.index, 0x0b);
	rtc_set(&r, 0x80 | 0x40, 0x5a);
	CHECK_EQ_HEX(rtc_get(&r, 0x40), 0x5a);
	CHECK_EQ_HEX(rtc_get(&r, 0xc0), 0x5a);
	rtc_set(&r, 0x7f, 0x77);
	CHECK_EQ_HEX(rtc_get(&r, 0x7f), 0x77);
	/* register A never says "update in progress" */
	rtc_set(&r, 0x0a, 0xa6);
	CHECK_EQ_HEX(rtc_get(&r, 0x0a), 0x26);
	/* register D: valid RAM and time, read-only */
	CHECK_EQ_HEX(rtc_get(&r, 0x0d), 0x80);
	rtc_set(&r, 0x0d, 0x00);
	CHECK_EQ_HEX(rtc_get(&r, 0x0d), 0x80);
	/* register C: flags clear on read, read-only */
	r.st.cmos[0x0c] = 0x90;
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x90);
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x00);
	rtc_set(&r, 0x0c, 0xff);
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x00);
	/* alarm registers are plain storage */
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 1, 0x30);
	rtc_set(&r, 3, 0x31);
	rtc_set(&r, 5, 0x12);
	CHECK_EQ_HEX(rtc_get(&r, 1), 0x30);
	CHECK_EQ_HEX(rtc_get(&r, 3), 0x31);
	CHECK_EQ_HEX(rtc_get(&r, 5), 0x12);
	CHECK_EQ(r.st.offset_sec, off);
	/* the index port reads 0xff; a 2-byte access at 0x70 sets the index then reads data */
	uint8_t v;
	rtc_io_read(&r, 0, &v, 1);
	CHECK_EQ_HEX(v, 0xff);
	uint8_t two[2] = { 0x40, 0x00 };
	rtc_io_write(&r, 0, two, 1);
	rtc_io_read(&r, 0, two, 2);
	CHECK_EQ_HEX(two[0], 0xff);
	CHECK_EQ_HEX(two[1], 0x5a);
}

TEST(rtc_memory_size_nvram)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	/* KiB above 1 MiB (clamped to 0xffff), 64 KiB blocks above 16 MiB */
	CHECK_EQ_HEX(rtc_get(&r, 0x30) | rtc_get(&r, 0x31) << 8, 0xffff);
	CHECK_EQ_HEX(rtc_get(&r, 0x17) | rtc_get(&r, 0x18) << 8, 0xffff);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, (128 - 16) * 16);
	CHECK_EQ_HEX(rtc_get(&r, 0x5b) | rtc_get(&r, 0x5c) << 8 | rtc_get(&r, 0x5d) << 16, 0);
	rtc_init(&r, 32 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, 16 * 16);
	rtc_init(&r, 16 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x30) | rtc_get(&r, 0x31) << 8, 15 * 1024);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, 0);
	/* 8 GiB guest: 3 GiB below the MMIO hole, 5 GiB above 4 GiB */
	rtc_init(&r, 3ull << 30, 5ull << 30);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, ((3ull << 30) - (16 << 20)) >> 16);
	CHECK_EQ_HEX(rtc_get(&r, 0x5b) | rtc_get(&r, 0x5c) << 8 | rtc_get(&r, 0x5d) << 16,
		     (5ull << 30) >> 16);
}

/* ---- ACPI PM ---- */

static void pm_w16(struct acpi_pm *pm, unsigned off, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	acpi_pm_write(pm, off, b, 2);
}

static uint16_t pm_r16(struct acpi_pm *pm, unsigned off)
{
	uint8_t b[2];
	acpi_pm_read(pm, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

#define SLP_EN 0x2000
#define SLP_TYP(t) ((t) << 10)

TEST(acpi_pm_s5_powers_off)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF) & 1, 1); /* SCI_EN: ACPI mode */
	pm_w16(&pm, ACPI_PM1_CNT_OFF, SLP_TYP(5) | SLP_EN | 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_POWEROFF);
	/* SLP_EN is write-only: reads back as 0 */
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF) & SLP_EN, 0);

	/* byte by byte, low then high, as a 16-bit write split in two */
	acpi_pm_init(&pm, recorder(&pr));
	uint8_t lo = 0x01, hi = (SLP_TYP(5) | SLP_EN) >> 8;
	acpi_pm_write(&pm, ACPI_PM1_CNT_OFF, &lo, 1);
	CHECK_EQ(pr.n, 0);
	acpi_pm_write(&pm, ACPI_PM1_CNT_OFF + 1, &hi, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_POWEROFF);
}

TEST(acpi_pm_other_sleep_types_ignored)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	for (unsigned t = 0; t < 8; t++) {
		if (t == ACPI_S5_TYP)
			continue;
		pm_w16(&pm, ACPI_PM1_CNT_OFF, (uint16_t)(SLP_TYP(t) | SLP_EN | 1));
	}
	CHECK_EQ(pr.n, 0);
	/* S5 without SLP_EN does nothing */
	pm_w16(&pm, ACPI_PM1_CNT_OFF, SLP_TYP(5) | 1);
	CHECK_EQ(pr.n, 0);
	CHECK_EQ_HEX(pm_r16(&pm, ACPI_PM1_CNT_OFF), SLP_TYP(5) | 1);
	/* other registers with the same bits do nothing */
	pm_w16(&pm, 0, SLP_TYP(5) | SLP_EN);
	pm_w16(&pm, 2, SLP_TYP(5) | SLP_EN);
	CHECK_EQ(pr.n, 0);
}

TEST(acpi_pm_reset_register)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	uint8_t v = 0;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	v = 2;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(pr.n, 0);
	v = ACPI_RESET_VALUE;
	acpi_pm_write(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_RESET);
	acpi_pm_read(&pm, ACPI_RESET_OFF, &v, 1);
	CHECK_EQ(v, 0);
}

TEST(acpi_pm_event_registers)
{
	struct power_rec pr;
	struct acpi_pm pm;
	acpi_pm_init(&pm, recorder(&pr));
	pm_w16(&pm, 2, 0x0120);
	CHECK_EQ_HEX(pm_r16(&pm, 2), 0x0120);
	pm.st.pm1_sts = 0x8101;
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8101);
	pm_w16(&pm, 0, 0x0100); /* write 1 to clear */
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8001);
	pm_w16(&pm, 0, 0x0000);
	CHECK_EQ_HEX(pm_r16(&pm, 0), 0x8001);
	/* a 4-byte access to the event block covers STS and EN */
	uint8_t four[4];
	acpi_pm_read(&pm, 0, four, 4);
	CHECK_EQ_HEX(four[0] | four[1] << 8 | four[2] << 16 | (uint32_t)four[3] << 24, 0x01208001);
	CHECK_EQ(pr.n, 0);
}

/* ---- debug port ---- */

TEST(debug_port_exit_and_null)
{
	struct power_rec pr;
	struct debug_port d = { .power = recorder(&pr) };
	uint8_t v = 42;
	debug_port_write(&d, 0, &v, 1);
	CHECK_EQ(pr.n, 1);
	CHECK_EQ(pr.reason, VM_STOP_DEBUG_EXIT);
	CHECK_EQ(pr.code, 42);
	CHECK_CONTAINS(pr.why, "42");
	/* a 4-byte write: the low byte is the code */
	uint8_t w[4] = { 0x07, 0x01, 0x02, 0x03 };
	debug_port_write(&d, 0, w, 4);
	CHECK_EQ(pr.n, 2);
	CHECK_EQ(pr.code, 7);
	/* the null port swallows writes and reads zeros */
	debug_port_write(&d, DEBUG_NULL_PORT - DEBUG_EXIT_PORT, &v, 1);
	CHECK_EQ(pr.n, 2);
	uint8_t r[4] = { 1, 2, 3, 4 };
	debug_port_read(&d, 1, r, 4);
	CHECK(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0);
}

/* ---- bus ---- */

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

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* bus overlap errors are expected here */
	return unit_main(argc, argv);
}
