/* Unit tests for the 16550 UART (src/devices/legacy/serial.c) driven through its bus callbacks:
 * registers, output to a file descriptor (rate-limited, never blocking), the receive FIFO,
 * interrupts, break and loopback. No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/legacy/serial.h"
#include "util/outgate.h"
#include "util/log.h"
#include "unit.h"
#include "legacy_dev.h"

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

/* A full pipe, blocking, as a console may be. p[0] is the reading end. */
static void full_pipe(int p[2])
{
	REQUIRE_EQ(pipe(p), 0);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	char junk[4096];
	memset(junk, 'j', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	while (write(p[1], junk, 1) > 0)
		;
	fcntl(p[1], F_SETFL, 0);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Hardening item 3: output into a pipe nobody reads must not hold the vCPU. The UART waits
 * SERIAL_STALL_MS once, then drops (and counts) at once, and writes again once read. */
TEST(serial_output_never_blocks)
{
	int p[2];
	full_pipe(p);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10000; i++)
		sw(&s, THR, 'x');
	double secs = seconds_since(&t0);
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

/* Output held for replication is written by the replication thread when the standby has the
 * epoch; a console that takes nothing must not stop that thread for anything near the
 * standby's failure timeout (default 1 s), or the standby takes over a healthy primary. Four
 * epochs of held output into a stalled console cost one short wait, not four of a second. */
TEST(serial_released_output_never_stalls_replication)
{
	int p[2];
	full_pipe(p);
	struct serial s;
	serial_init(&s, p[1], NO_IRQ);
	struct outgate *g = outgate_new();
	REQUIRE(g != NULL);
	s.gate = g;
	for (int e = 0; e < 4; e++) {
		for (int i = 0; i < 300; i++) /* more than one held entry */
			sw(&s, THR, 'x');
		outgate_close_epoch(g);
	}
	CHECK_EQ(s.tx_dropped, 0); /* all held */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	outgate_release(g, 4);
	double secs = seconds_since(&t0);
	CHECK(secs < 0.5);
	CHECK_EQ(s.tx_dropped, 1200);
	CHECK(s.out_stalled);
	s.gate = NULL;
	outgate_free(g);
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

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
