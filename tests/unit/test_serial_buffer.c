/* The UART's output buffering (src/devices/legacy/serial_out.c) on a real I/O thread: guest
 * bytes leave in batches (a line, a full buffer, the flush timer, serial_flush), none lost or
 * reordered, a prompt without a line end still shows within milliseconds, and output held
 * for replication is released exactly as without buffering. The console is a SEQPACKET socket
 * pair: each write() the UART makes arrives as one message, so the tests count writes. No
 * KVM. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/legacy/serial.h"
#include "util/io_thread.h"
#include "util/log.h"
#include "util/outgate.h"
#include "unit.h"
#include "legacy_dev.h"

enum { THR = 0, LSR = 5 };

/* What Linux's 8250 console does per byte: wait for THR empty (an LSR read), write THR. */
static void guest_puts(struct serial *s, const char *str, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t lsr = 0, b = (uint8_t)str[i];
		serial_io_read(s, LSR, &lsr, 1);
		CHECK(lsr & 0x20);
		serial_io_write(s, THR, &b, 1);
	}
}

struct console {
	int fd[2]; /* [0] the reader's, [1] the UART's */
	struct io_thread io;
	struct serial s;
};

static void console_open(struct console *c, bool buffered)
{
	REQUIRE_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->fd), 0);
	int big = 1 << 20;
	setsockopt(c->fd[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(c->fd[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	REQUIRE_EQ(io_thread_init(&c->io), 0);
	REQUIRE_EQ(io_thread_start(&c->io, "test_io"), 0);
	serial_init(&c->s, c->fd[1], NO_IRQ);
	if (buffered)
		REQUIRE_EQ(serial_buffer_output(&c->s, &c->io), 0);
}

static void console_close(struct console *c)
{
	serial_destroy(&c->s);
	io_thread_destroy(&c->io);
	close(c->fd[0]);
	close(c->fd[1]);
}

/* Messages (writes) waiting within ms, appended to out (NUL-terminated); how many. */
static unsigned recv_writes(struct console *c, char *out, size_t cap, int ms)
{
	unsigned n = 0;
	size_t len = strlen(out);
	struct pollfd pf = { .fd = c->fd[0], .events = POLLIN };
	while (poll(&pf, 1, ms) == 1) {
		ssize_t r = recv(c->fd[0], out + len, cap - 1 - len, MSG_DONTWAIT);
		if (r <= 0)
			break;
		len += (size_t)r;
		n++;
		ms = 0;
	}
	out[len] = 0;
	return n;
}

/* Lines leave whole: one write per line instead of one per byte, as they end. */
TEST(serial_buffer_writes_a_line_at_once)
{
	struct console c;
	console_open(&c, true);
	char text[2048] = "";
	for (int i = 0; i < 20; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "[    0.%06d] line %d of the boot log\n", i * 1111, i);
		guest_puts(&c.s, line, (size_t)n);
		strcat(text, line);
	}
	char got[4096] = "";
	unsigned writes = recv_writes(&c, got, sizeof(got), 0); /* written already: no timer */
	CHECK_STR_EQ(got, text);
	CHECK_EQ(writes, 20);
	CHECK_EQ(c.s.tx_bytes, strlen(text));
	console_close(&c);

	/* unbuffered (no I/O thread given): a write per byte, as before */
	console_open(&c, false);
	guest_puts(&c.s, "abc\n", 4);
	got[0] = 0;
	CHECK_EQ(recv_writes(&c, got, sizeof(got), 0), 4);
	CHECK_STR_EQ(got, "abc\n");
	console_close(&c);
}

/* A prompt (no line end) shows within a few milliseconds, in one write. */
TEST(serial_buffer_prompt_shows_promptly)
{
	struct console c;
	console_open(&c, true);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	guest_puts(&c.s, "login: ", 7);
	char got[64] = "";
	CHECK_EQ(recv_writes(&c, got, sizeof(got), 2000), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_STR_EQ(got, "login: ");
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	CHECK(ms < 500); /* SERIAL_IDLE_NS is 2 ms; slack for a loaded CI host */
	console_close(&c);
}

/* A line whose bytes come slowly (0.2 ms apart: nested KVM's pace) still leaves whole: the
 * timer waits for the guest to stop writing, not a fixed time from the first byte (which cut
 * such a line into a write per millisecond). A pause of the writer near SERIAL_IDLE_NS (a
 * loaded host) may cut it there: those are counted. */
TEST(serial_buffer_slow_line_leaves_whole)
{
	struct console c;
	console_open(&c, true);
	const char *line = "count=123456 written one byte at a time, slowly\n";
	unsigned long_gaps = 0; /* pauses the timer may end a batch at */
	struct timespec last, now;
	clock_gettime(CLOCK_MONOTONIC, &last);
	for (const char *p = line; *p; p++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long_gaps += (now.tv_sec - last.tv_sec) * 1000000000ll + now.tv_nsec - last.tv_nsec >=
			     SERIAL_IDLE_NS / 2;
		guest_puts(&c.s, p, 1);
		clock_gettime(CLOCK_MONOTONIC, &last);
		usleep(200);
	}
	char got[128] = "";
	unsigned writes = recv_writes(&c, got, sizeof(got), 100);
	CHECK_STR_EQ(got, line);
	CHECK(writes >= 1);
	CHECK(writes <= 1 + long_gaps);
	console_close(&c);
}

/* More than a buffer without a line end: full buffers go at once, the rest by the timer; every
 * byte, in order. serial_flush writes what waits at once (the VM's pause and exit). */
TEST(serial_buffer_long_output_in_order)
{
	struct console c;
	console_open(&c, true);
	size_t len = 3 * SERIAL_OUT_BUF + 123;
	char *text = malloc(len + 1), *got = malloc(len + 64);
	REQUIRE(text && got);
	for (size_t i = 0; i < len; i++)
		text[i] = (char)('a' + (i * 7) % 26);
	text[len] = 0;
	guest_puts(&c.s, text, len);
	got[0] = 0;
	unsigned writes = recv_writes(&c, got, len + 64, 0);
	CHECK_EQ(writes, 3);
	CHECK_EQ(strlen(got), 3 * SERIAL_OUT_BUF);
	writes += recv_writes(&c, got, len + 64, 2000);
	CHECK_EQ(writes, 4);
	CHECK_STR_EQ(got, text);

	/* serial_flush: no waiting for the timer */
	guest_puts(&c.s, "tail", 4);
	serial_flush(&c.s, false);
	got[0] = 0;
	CHECK_EQ(recv_writes(&c, got, len + 64, 0), 1);
	CHECK_STR_EQ(got, "tail");
	/* and what waits when the UART goes is written, not lost */
	guest_puts(&c.s, "bye", 3);
	serial_destroy(&c.s);
	got[0] = 0;
	CHECK_EQ(recv_writes(&c, got, len + 64, 0), 1);
	CHECK_STR_EQ(got, "bye");
	io_thread_destroy(&c.io);
	close(c.fd[0]);
	close(c.fd[1]);
	free(text);
	free(got);
}

/* Replicated: bytes go to the gate in the epoch the guest made them and are written only when
 * the gate releases that epoch (not earlier, not in another epoch's copy); bytes buffered
 * before the gate came are written before any held byte. */
TEST(serial_buffer_keeps_the_replication_gate)
{
	struct console c;
	console_open(&c, true);
	guest_puts(&c.s, "before ", 7); /* buffered, timer armed */
	struct outgate *g = outgate_new();
	REQUIRE(g != NULL);
	__atomic_store_n(&c.s.gate, g, __ATOMIC_RELEASE);
	guest_puts(&c.s, "epoch1\n", 7);
	char got[256] = "";
	recv_writes(&c, got, sizeof(got), 50); /* the timer had its chance */
	CHECK_STR_EQ(got, "before ");          /* the older bytes, and nothing held */
	CHECK_EQ(outgate_close_epoch(g), 1);
	guest_puts(&c.s, "epoch2", 6);
	uint8_t copy[64];
	size_t n = outgate_copy(g, 1, &c.s, copy, sizeof(copy));
	CHECK_EQ(n, 7);
	CHECK(n == 7 && memcmp(copy, "epoch1\n", 7) == 0); /* what a standby would write again */
	recv_writes(&c, got, sizeof(got), 50);
	CHECK_STR_EQ(got, "before ");
	outgate_release(g, 1);
	recv_writes(&c, got, sizeof(got), 0);
	CHECK_STR_EQ(got, "before epoch1\n");
	CHECK_EQ(outgate_close_epoch(g), 2);
	outgate_release(g, 2);
	recv_writes(&c, got, sizeof(got), 0);
	CHECK_STR_EQ(got, "before epoch1\nepoch2");
	__atomic_store_n(&c.s.gate, NULL, __ATOMIC_RELEASE);
	outgate_free(g);
	console_close(&c);
}

/* A console that takes nothing: the flush timer never waits on the I/O thread (the rest of
 * the device work goes on); after the stall time the bytes are dropped and counted, and
 * output flows again once it is read. */
TEST(serial_buffer_stalled_console)
{
	struct console c;
	console_open(&c, true);
	int small = 4096;
	setsockopt(c.fd[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	char junk[512];
	memset(junk, 'j', sizeof(junk));
	while (send(c.fd[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	guest_puts(&c.s, "lost", 4);
	/* The I/O thread is free meanwhile: a pause answers at once. */
	struct timespec t0, t1;
	usleep(20000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	REQUIRE_EQ(io_thread_pause(&c.io), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	io_thread_resume(&c.io);
	CHECK((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 0.5);
	for (int i = 0; i < 300 && !__atomic_load_n(&c.s.tx_dropped, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	CHECK_EQ(c.s.tx_dropped, 4);
	char buf[1 << 16];
	while (recv(c.fd[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	guest_puts(&c.s, "back\n", 5);
	buf[0] = 0;
	recv_writes(&c, buf, sizeof(buf), 100);
	CHECK_STR_EQ(buf, "back\n");
	CHECK_EQ(c.s.tx_dropped, 4);
	console_close(&c);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
